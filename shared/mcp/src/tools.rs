//! The agent's tools as MCP tools: `tools/list` from the agent's discovery, and `tools/call`
//! through the same pipeline as every tool call ([`switchyard_tools::invoke_as`]).
//!
//! A tool's MCP name is `<integration>_<method>__<instance>` (`slack_post_message__demo-slack`):
//! one MCP tool per method per instance the agent is granted, in the character set and length
//! clients accept (`[A-Za-z0-9_-]`, at most 64). Where an instance id does not fit, the name is
//! cut and ends in a short hash of the tool and instance. A name is mapped back by looking it up
//! in the caller's own discovery, so a call can only name a tool its agent was offered.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use switchyard_core::identity::Principal;
use switchyard_tools::{ToolInfo, ToolRequest, ToolResponse, Tools};
use tokio::time::Instant;

use crate::jsonrpc::{ErrorCode, RpcError};

/// The longest name many MCP clients accept.
pub const MAX_NAME_LEN: usize = 64;

/// The `_meta` key under which a client may pass the call's idempotency key.
pub const IDEMPOTENCY_META: &str = "switchyard/idempotency_key";

/// The MCP name of `tool` (`slack.post_message`) on `instance`.
pub fn mcp_name(tool: &str, instance: &str) -> String {
    let plain = format!("{}__{instance}", tool.replace('.', "_"));
    let fits = plain.len() <= MAX_NAME_LEN
        && plain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if fits {
        return plain;
    }
    let digest = Sha256::digest(format!("{tool}\n{instance}").as_bytes());
    let suffix = hex::encode(&digest[..4]);
    let mut name: String = plain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN - suffix.len() - 1)
        .collect();
    name.push('_');
    name.push_str(&suffix);
    name
}

/// The agent's tools, each with its MCP name.
async fn discovered(tools: &Tools, principal: &Principal) -> Result<Vec<ToolInfo>, RpcError> {
    switchyard_tools::discover_as(tools, principal)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e.message, "discovery failed");
            RpcError::new(ErrorCode::Internal, "the tool catalog is unavailable")
        })
}

/// `tools/list`: every tool the agent may call, with its schemas and hints.
pub async fn list(tools: &Tools, principal: &Principal) -> Result<Value, RpcError> {
    let catalog = tools
        .catalog()
        .map_err(|_| RpcError::new(ErrorCode::Internal, "the tool catalog is unavailable"))?;
    let listed: Vec<Value> = discovered(tools, principal)
        .await?
        .iter()
        .map(|info| {
            let method = catalog.method(&info.tool);
            let mut tool = json!({
                "name": mcp_name(&info.tool, &info.instance_id),
                "title": format!("{} ({})", info.name, info.instance_id),
                "description": info.description,
                "inputSchema": info.input_schema,
                "annotations": {
                    "title": info.name,
                    "readOnlyHint": method.is_some_and(|m| m.read_only()),
                    "destructiveHint": method.is_none_or(|m| m.destructive()),
                    "idempotentHint": method.is_some_and(|m| m.repeat_is_safe()),
                    "openWorldHint": true,
                },
            });
            // MCP wants object results; a definition whose output is not one gets no schema.
            if info.output_schema.get("type") == Some(&json!("object")) {
                tool["outputSchema"] = info.output_schema.clone();
            }
            tool
        })
        .collect();
    Ok(json!({ "tools": listed }))
}

/// `tools/call`: runs the named tool for the principal's agent. A tool's failure is a result
/// with `isError` and the error's code; only a call that names no tool is a protocol error.
pub async fn call(
    tools: &Tools,
    principal: &Principal,
    params: &Value,
    deadline: Instant,
) -> Result<Value, RpcError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::new(ErrorCode::InvalidParams, "params.name is required"))?;
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(args @ Value::Object(_)) => args.clone(),
        Some(_) => {
            return Err(RpcError::new(
                ErrorCode::InvalidParams,
                "params.arguments must be an object",
            ))
        }
    };
    let info = discovered(tools, principal)
        .await?
        .into_iter()
        .find(|t| mcp_name(&t.tool, &t.instance_id) == name)
        .ok_or_else(|| RpcError::new(ErrorCode::InvalidParams, format!("unknown tool: {name}")))?;
    let meta = params.get("_meta");
    let request = ToolRequest {
        instance_id: info.instance_id.clone(),
        // invoke_as sets the principal's agent.
        agent_id: String::new(),
        input: arguments,
        idempotency_key: meta
            .and_then(|m| m.get(IDEMPOTENCY_META))
            .and_then(Value::as_str)
            .map(str::to_owned),
        trace_id: meta
            .and_then(|m| m.get("traceparent"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        // invoke_as sets the person from the principal.
        on_behalf_of: None,
    };
    let response =
        switchyard_tools::invoke_as(tools, principal, &info.tool, request, deadline).await;
    Ok(result_of(&response))
}

/// An MCP tool result: the output as `structuredContent` plus the same JSON as text, or the
/// error (code, message, retryable, ids) as text with `isError`.
pub fn result_of(response: &ToolResponse) -> Value {
    match response {
        ToolResponse::Ok {
            output, receipt_id, ..
        } => {
            let mut result = json!({
                "content": [{"type": "text", "text": output.to_string()}],
                "isError": false,
                "_meta": {"switchyard/receipt_id": receipt_id},
            });
            if output.is_object() {
                result["structuredContent"] = output.clone();
            }
            result
        }
        ToolResponse::Err {
            error, receipt_id, ..
        } => {
            let mut text = json!({ "error": error });
            if let Some(id) = receipt_id {
                text["receipt_id"] = json!(id);
            }
            json!({
                "content": [
                    {"type": "text", "text": format!("{}: {}", error.code, error.message)},
                    {"type": "text", "text": text.to_string()},
                ],
                "isError": true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_tools::{ErrorCode as ToolCode, ToolError};

    #[test]
    fn names_fit_the_clients_rules_and_differ_per_tool_and_instance() {
        assert_eq!(
            mcp_name("slack.post_message", "demo-slack"),
            "slack_post_message__demo-slack"
        );
        let odd = mcp_name("slack.post_message", "team:one/два");
        let long = mcp_name("google_sync.calendar_channels_stop", &"x".repeat(80));
        for name in [&odd, &long] {
            assert!(name.len() <= MAX_NAME_LEN, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name}"
            );
        }
        assert_ne!(odd, mcp_name("slack.post_message", "team:one/дв"));
        assert_ne!(
            long,
            mcp_name("google_sync.calendar_channels_stop", &"x".repeat(81))
        );
    }

    #[test]
    fn a_result_carries_the_output_as_structured_content_and_text() {
        let ok = ToolResponse::Ok {
            ok: true,
            output: json!({"ts": "1.2"}),
            receipt_id: "rcpt_1".into(),
        };
        let r = result_of(&ok);
        assert_eq!(r["isError"], json!(false));
        assert_eq!(r["structuredContent"], json!({"ts": "1.2"}));
        let text: Value =
            serde_json::from_str(r["content"][0]["text"].as_str().expect("text")).expect("json");
        assert_eq!(text, json!({"ts": "1.2"}));
    }

    #[test]
    fn a_tool_failure_is_an_error_result_with_its_code_and_no_structured_content() {
        let err = ToolResponse::Err {
            ok: false,
            error: ToolError::new(ToolCode::Forbidden, "not granted", false),
            receipt_id: None,
        };
        let r = result_of(&err);
        assert_eq!(r["isError"], json!(true));
        assert!(r.get("structuredContent").is_none());
        let head = r["content"][0]["text"].as_str().expect("text");
        assert!(head.starts_with("forbidden: "), "{head}");
        let detail: Value =
            serde_json::from_str(r["content"][1]["text"].as_str().expect("text")).expect("json");
        assert_eq!(detail["error"]["code"], json!("forbidden"));
    }
}
