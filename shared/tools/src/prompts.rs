//! Prompt templates as data (`shared/templates/*.json`, compiled in): a system prompt with
//! `{{variables}}`, the integrations and tools it needs, and the context keys it requires.
//!
//! A render interpolates the variables from a session's context or a given one (missing ones are
//! an error naming them), lists only the tools the agent's granted integrations make available
//! (its discovery), and names the required integrations that are not connected. Renders are
//! cached per (template id and version, integration state digest, context digest) in the warm
//! process: a new grant changes the integration state and so the key.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use switchyard_core::identity::Principal;

use crate::sessions::{self, ApiReply};
use crate::{ToolInfo, Tools};

/// The template files, compiled in.
const SOURCES: &[(&str, &str)] = &[
    (
        "support_triage.json",
        include_str!("../../templates/support_triage.json"),
    ),
    (
        "daily_digest.json",
        include_str!("../../templates/daily_digest.json"),
    ),
];

/// How many renders one warm process keeps.
pub const CACHE_ENTRIES: usize = 256;

/// A prompt template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptTemplate {
    pub id: String,
    pub version: u32,
    pub description: String,
    pub system_prompt: String,
    /// Integrations the workflow needs connected.
    pub integrations: Vec<String>,
    /// The tools it uses (`integration.method`); empty means every tool of its integrations.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Context keys that must be present (besides the prompt's own variables).
    #[serde(default)]
    pub context: Vec<String>,
}

impl PromptTemplate {
    /// The `{{name}}` variables of the system prompt, in order of first use.
    pub fn variables(&self) -> Vec<String> {
        let mut seen = Vec::new();
        let mut rest = self.system_prompt.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim().to_owned();
            if !seen.contains(&name) {
                seen.push(name);
            }
            rest = &after[end + 2..];
        }
        seen
    }

    /// Every key the render needs: the declared context and the prompt's variables.
    pub fn required(&self) -> Vec<String> {
        let mut keys = self.context.clone();
        for v in self.variables() {
            if !keys.contains(&v) {
                keys.push(v);
            }
        }
        keys
    }

    /// The prompt with each variable replaced by its context value (strings as they are, other
    /// JSON as JSON text); `Err` names the missing keys.
    pub fn interpolate(
        &self,
        context: &serde_json::Map<String, Value>,
    ) -> Result<String, Vec<String>> {
        let missing: Vec<String> = self
            .required()
            .into_iter()
            .filter(|k| context.get(k).is_none_or(Value::is_null))
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let mut out = String::with_capacity(self.system_prompt.len());
        let mut rest = self.system_prompt.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            out.push_str(&rest[..start]);
            match &context[after[..end].trim()] {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Whether the template wants `tool`.
    fn wants(&self, tool: &str) -> bool {
        if self.tools.is_empty() {
            self.integrations.iter().any(|i| integration_of(tool) == i)
        } else {
            self.tools.iter().any(|t| t == tool)
        }
    }
}

fn integration_of(tool: &str) -> &str {
    tool.split_once('.').map_or(tool, |(i, _)| i)
}

/// Why the templates could not be loaded (a build defect: a unit test loads them).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{file}: {detail}")]
    Invalid { file: &'static str, detail: String },
    #[error("template id {0} is defined twice")]
    Duplicate(String),
}

/// Every compiled-in template, checked.
pub fn load() -> Result<Vec<PromptTemplate>, TemplateError> {
    let mut templates: Vec<PromptTemplate> = Vec::new();
    for (file, source) in SOURCES {
        let invalid = |detail: String| TemplateError::Invalid { file, detail };
        let t: PromptTemplate = serde_json::from_str(source).map_err(|e| invalid(e.to_string()))?;
        if t.id.is_empty() || t.system_prompt.is_empty() || t.integrations.is_empty() {
            return Err(invalid(
                "id, system_prompt and integrations are required".into(),
            ));
        }
        if let Some(tool) = t
            .tools
            .iter()
            .find(|tool| !t.integrations.iter().any(|i| i == integration_of(tool)))
        {
            return Err(invalid(format!(
                "tool {tool} is not of a listed integration"
            )));
        }
        if templates.iter().any(|o| o.id == t.id) {
            return Err(TemplateError::Duplicate(t.id));
        }
        templates.push(t);
    }
    Ok(templates)
}

/// The templates, loaded once per process.
pub fn templates() -> &'static [PromptTemplate] {
    static TEMPLATES: std::sync::OnceLock<Vec<PromptTemplate>> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(|| {
        load().unwrap_or_else(|e| {
            // The unit test `every_template_loads` keeps this from shipping.
            tracing::error!(error = %e, "prompt templates failed to load");
            Vec::new()
        })
    })
}

/// One template by id.
pub fn template(id: &str) -> Option<&'static PromptTemplate> {
    templates().iter().find(|t| t.id == id)
}

/// The renders of this warm process. A process-wide cache rather than a field of [`Tools`]:
/// every context (tools, poller, sync worker) embeds a `Tools`, and the renders are the same
/// whichever serves them.
pub fn renders() -> &'static RenderCache {
    static RENDERS: std::sync::OnceLock<RenderCache> = std::sync::OnceLock::new();
    RENDERS.get_or_init(RenderCache::default)
}

/// Renders, bounded to [`CACHE_ENTRIES`] (oldest out first).
#[derive(Debug, Default)]
pub struct RenderCache(Mutex<(HashMap<String, Rendered>, VecDeque<String>)>);

impl RenderCache {
    fn get(&self, key: &str) -> Option<Rendered> {
        let guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0.get(key).cloned()
    }

    fn put(&self, key: String, value: Rendered) {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, order) = &mut *guard;
        if map.insert(key.clone(), value).is_none() {
            order.push_back(key);
        }
        while order.len() > CACHE_ENTRIES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// How many renders are held.
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A rendered template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub template: String,
    pub version: u32,
    pub prompt: String,
    /// The template's tools the agent has, as discovery lists them.
    pub tools: Vec<ToolInfo>,
    /// Required integrations with no available tool for this agent.
    pub missing_integrations: Vec<String>,
    /// The digest of the integration state this render was made for.
    pub integration_state: String,
}

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template {0}")]
    UnknownTemplate(String),
    #[error("missing variables: {}", .0.join(", "))]
    MissingVariables(Vec<String>),
    #[error("context must be a JSON object")]
    BadContext,
    #[error("discovery unavailable")]
    Discovery,
}

impl RenderError {
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownTemplate(_) => 404,
            Self::MissingVariables(_) | Self::BadContext => 400,
            Self::Discovery => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownTemplate(_) => "not_found",
            Self::MissingVariables(_) => "missing_variables",
            Self::BadContext => "invalid_request",
            Self::Discovery => "unavailable",
        }
    }

    fn reply(&self) -> ApiReply {
        let mut error = json!({"code": self.code(), "message": self.to_string()});
        if let Self::MissingVariables(names) = self {
            error["missing"] = json!(names);
        }
        ApiReply {
            status: self.status(),
            body: json!({ "error": error }),
        }
    }
}

fn digest(parts: impl IntoIterator<Item = String>) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..16])
}

/// Renders `template` for `principal` with `context`, from the cache when the template version,
/// the agent's integration state and the context are unchanged. Returns the render and whether
/// it came from the cache.
pub async fn render(
    app: &Tools,
    principal: &Principal,
    template: &PromptTemplate,
    context: &serde_json::Map<String, Value>,
) -> Result<(Rendered, bool), RenderError> {
    let discovered = crate::discover_as(app, principal).await.map_err(|e| {
        tracing::warn!(error = ?e, "render: discovery failed");
        RenderError::Discovery
    })?;
    let wanted: Vec<ToolInfo> = discovered
        .into_iter()
        .filter(|t| template.wants(&t.tool))
        .collect();
    let state = digest(
        wanted
            .iter()
            .map(|t| format!("{}@{}", t.tool, t.instance_id))
            .collect::<BTreeSet<_>>(),
    );
    let context_digest = digest([Value::Object(context.clone()).to_string()]);
    let key = format!(
        "{}@{}/{}/{}/{}",
        template.id, template.version, principal.workspace, state, context_digest
    );
    if let Some(hit) = renders().get(&key) {
        return Ok((hit, true));
    }
    let prompt = template
        .interpolate(context)
        .map_err(RenderError::MissingVariables)?;
    let connected: BTreeSet<&str> = wanted.iter().map(|t| integration_of(&t.tool)).collect();
    let rendered = Rendered {
        template: template.id.clone(),
        version: template.version,
        prompt,
        missing_integrations: template
            .integrations
            .iter()
            .filter(|i| !connected.contains(i.as_str()))
            .cloned()
            .collect(),
        tools: wanted,
        integration_state: state,
    };
    renders().put(key, rendered.clone());
    Ok((rendered, false))
}

/// `GET /templates`: every template (id, version, description, variables, needs).
pub fn list() -> ApiReply {
    let list: Vec<Value> = templates()
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "version": t.version,
                "description": t.description,
                "variables": t.required(),
                "integrations": t.integrations,
                "tools": t.tools,
            })
        })
        .collect();
    ApiReply {
        status: 200,
        body: json!({ "templates": list }),
    }
}

/// The body of `POST /templates/{id}/render`: a session whose context to use, or a context.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderBody {
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    context: Option<Value>,
}

/// `POST /templates/{id}/render`.
pub async fn render_route(app: &Tools, principal: &Principal, id: &str, body: &[u8]) -> ApiReply {
    let body: RenderBody = if body.iter().all(u8::is_ascii_whitespace) {
        RenderBody::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => return sessions::ApiError::Invalid(e.to_string()).reply(),
        }
    };
    let Some(template) = template(id) else {
        return RenderError::UnknownTemplate(id.to_owned()).reply();
    };
    let context = match (&body.session_id, body.context) {
        (Some(_), Some(_)) => {
            return sessions::ApiError::Invalid("give session_id or context, not both".into())
                .reply()
        }
        (Some(session), None) => match sessions::owned(app, principal, session).await {
            Ok(s) => s.context,
            Err(e) => return e.reply(),
        },
        (None, Some(context)) => context,
        (None, None) => json!({}),
    };
    let Value::Object(context) = context else {
        return RenderError::BadContext.reply();
    };
    match render(app, principal, template, &context).await {
        Ok((rendered, cached)) => {
            let mut body = json!(rendered);
            body["cached"] = json!(cached);
            ApiReply { status: 200, body }
        }
        Err(e) => e.reply(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_loads_and_names_only_catalog_tools() {
        let templates = load().expect("templates");
        assert_eq!(templates.len(), SOURCES.len());
        let catalog = crate::definitions::Catalog::load().expect("catalog");
        for t in &templates {
            for tool in &t.tools {
                assert!(catalog.method(tool).is_some(), "{}: no tool {tool}", t.id);
            }
            assert!(!t.variables().is_empty(), "{} has no variables", t.id);
        }
    }

    fn triage() -> PromptTemplate {
        PromptTemplate {
            id: "t".into(),
            version: 1,
            description: String::new(),
            system_prompt: "Hi {{ name }}, see {{n}} and {{name}}.".into(),
            integrations: vec!["slack".into()],
            tools: Vec::new(),
            context: vec!["extra".into()],
        }
    }

    #[test]
    fn interpolation_fills_every_variable_and_names_the_missing_ones() {
        let t = triage();
        assert_eq!(t.variables(), ["name", "n"]);
        let context = json!({"name": "Ada", "n": 3, "extra": true});
        let prompt = t
            .interpolate(context.as_object().expect("object"))
            .expect("every variable given");
        assert_eq!(prompt, "Hi Ada, see 3 and Ada.");
        let missing = t
            .interpolate(json!({"name": "Ada"}).as_object().expect("object"))
            .expect_err("n and extra are missing");
        assert_eq!(missing, ["extra", "n"]);
    }

    #[test]
    fn the_cache_is_bounded_oldest_out() {
        let cache = RenderCache::default();
        let rendered = Rendered {
            template: "t".into(),
            version: 1,
            prompt: String::new(),
            tools: Vec::new(),
            missing_integrations: Vec::new(),
            integration_state: String::new(),
        };
        for i in 0..CACHE_ENTRIES + 5 {
            cache.put(i.to_string(), rendered.clone());
        }
        assert_eq!(cache.len(), CACHE_ENTRIES);
        assert!(cache.get("0").is_none());
        assert!(cache.get(&(CACHE_ENTRIES + 4).to_string()).is_some());
    }
}
