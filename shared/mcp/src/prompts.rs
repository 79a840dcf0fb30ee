//! Prompt templates over MCP: `prompts/list` and `prompts/get` serve the compiled-in templates
//! (`switchyard_tools::prompts`), rendered for the authenticated agent with the request's
//! arguments as the variables, through the same render (and cache) as
//! `POST /templates/{id}/render`.

use serde_json::{json, Map, Value};
use switchyard_core::identity::Principal;
use switchyard_tools::prompts::{self, RenderError};
use switchyard_tools::Tools;

use crate::jsonrpc::{ErrorCode, RpcError};

/// `prompts/list`: every template, its variables as required arguments.
pub fn list() -> Value {
    let prompts: Vec<Value> = prompts::templates()
        .iter()
        .map(|t| {
            let arguments: Vec<Value> = t
                .required()
                .into_iter()
                .map(|name| json!({"name": name, "required": true}))
                .collect();
            json!({
                "name": t.id,
                "title": format!("{} (v{})", t.id, t.version),
                "description": t.description,
                "arguments": arguments,
            })
        })
        .collect();
    json!({ "prompts": prompts })
}

/// `prompts/get` {name, arguments}: the rendered system prompt as one user message; the tools it
/// may use and the integrations not connected are in `_meta`.
pub async fn get(tools: &Tools, principal: &Principal, params: &Value) -> Result<Value, RpcError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::new(ErrorCode::InvalidParams, "prompts/get needs a name"))?;
    let template = prompts::template(name).ok_or_else(|| {
        RpcError::new(ErrorCode::InvalidParams, format!("unknown prompt: {name}"))
    })?;
    let arguments: Map<String, Value> = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(RpcError::new(
                ErrorCode::InvalidParams,
                "arguments must be an object",
            ))
        }
    };
    let (rendered, _) = prompts::render(tools, principal, template, &arguments)
        .await
        .map_err(|e| match e {
            RenderError::Discovery => RpcError::new(ErrorCode::Internal, e.to_string()),
            _ => RpcError::new(ErrorCode::InvalidParams, e.to_string()),
        })?;
    let tool_names: Vec<String> = rendered
        .tools
        .iter()
        .map(|t| crate::tools::mcp_name(&t.tool, &t.instance_id))
        .collect();
    Ok(json!({
        "description": template.description,
        "messages": [{
            "role": "user",
            "content": {"type": "text", "text": rendered.prompt},
        }],
        "_meta": {
            "switchyard/template_version": rendered.version,
            "switchyard/tools": tool_names,
            "switchyard/missing_integrations": rendered.missing_integrations,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_listed_with_its_variables_as_required_arguments() {
        let listed = list();
        let prompts = listed["prompts"].as_array().expect("prompts");
        assert_eq!(prompts.len(), prompts::templates().len());
        let digest = prompts
            .iter()
            .find(|p| p["name"] == "daily-digest")
            .expect("daily-digest");
        let names: Vec<&str> = digest["arguments"]
            .as_array()
            .expect("arguments")
            .iter()
            .filter_map(|a| a["name"].as_str())
            .collect();
        assert_eq!(names, ["channel", "team", "max_bullets"]);
    }
}
