//! Integration definitions: the data that describes every tool method.
//!
//! One JSON file per integration under `shared/integrations/`, in the format of the
//! integration-definitions spec (`integrationId`, `methods[]` with `inputSchema` and
//! `outputSchema`, `configSchema`, `authType`, `oauth2Config`, `aiConfig`), plus Switchyard's
//! execution mapping under `x-switchyard`. Every definition and every schema is checked and
//! compiled once per cold start by [`Catalog::load`]; a broken definition fails the unit tests,
//! never a user's call.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

/// The definitions shipped with this build, by file name.
const BUILTIN: &[(&str, &str)] = &[
    ("slack.json", include_str!("../../integrations/slack.json")),
    (
        "discord.json",
        include_str!("../../integrations/discord.json"),
    ),
    (
        "notion.json",
        include_str!("../../integrations/notion.json"),
    ),
    ("http.json", include_str!("../../integrations/http.json")),
    (
        "google_sync.json",
        include_str!("../../integrations/google_sync.json"),
    ),
    ("gmail.json", include_str!("../../integrations/gmail.json")),
    (
        "calendar.json",
        include_str!("../../integrations/calendar.json"),
    ),
    ("drive.json", include_str!("../../integrations/drive.json")),
    ("docs.json", include_str!("../../integrations/docs.json")),
    ("llm.json", include_str!("../../integrations/llm.json")),
    ("media.json", include_str!("../../integrations/media.json")),
    (
        "vector.json",
        include_str!("../../integrations/vector.json"),
    ),
    ("kb.json", include_str!("../../integrations/kb.json")),
    ("email.json", include_str!("../../integrations/email.json")),
    (
        "whatsapp.json",
        include_str!("../../integrations/whatsapp.json"),
    ),
    (
        "tiktok.json",
        include_str!("../../integrations/tiktok.json"),
    ),
    (
        "shopify.json",
        include_str!("../../integrations/shopify.json"),
    ),
    (
        "shopify_sync.json",
        include_str!("../../integrations/shopify_sync.json"),
    ),
];

/// Custom code for what the mapping cannot express, run by the executor itself; the Google
/// handlers are listed by their module ([`crate::google::HANDLED`]).
pub const HANDLERS: &[&str] = &[
    "discord_followup",
    "notion_append_blocks",
    "secure_http",
    "llm_generate_text",
    "llm_embed",
    "llm_analyze_image",
    "media_generate_image",
    "media_synthesize_speech",
    "media_transcribe_audio",
    "vector_upsert",
    "vector_query",
    "vector_delete",
    "kb_ingest",
    "kb_search",
    "kb_delete",
    "email_send",
    "email_send_batch",
    "whatsapp_send_template",
    "whatsapp_send_message",
    "whatsapp_templates_list",
    "whatsapp_templates_create",
    "whatsapp_templates_status",
    "whatsapp_media_upload",
    "tiktok_user_info",
    "tiktok_video_list",
    "tiktok_research_video_query",
    "tiktok_research_hashtag_query",
];

/// Whether `name` is a handler this build runs.
pub fn is_handler(name: &str) -> bool {
    HANDLERS.contains(&name) || crate::google::handles(name) || crate::shopify::handles(name)
}

/// Why a definition was rejected.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct DefinitionError {
    pub file: String,
    pub problem: String,
}

/// One integration definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub integration_id: String,
    pub name: String,
    pub description: String,
    pub version: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub methods: Vec<MethodDef>,
    #[serde(default)]
    pub config_schema: Value,
    pub auth_type: String,
    #[serde(default)]
    pub oauth2_config: Option<Value>,
    #[serde(default)]
    pub ai_config: Option<Value>,
    #[serde(rename = "x-switchyard")]
    pub exec: IntegrationExec,
}

/// How the integration's methods reach the provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationExec {
    /// The instance provider these tools run on.
    pub provider: String,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub credential: Option<CredentialDef>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON pointer that must be `true` in a 200 response (Slack's `ok`).
    #[serde(default)]
    pub ok_field: Option<String>,
    /// `"internal": true`: methods only the gateway's own workers call (`call_for_worker`), e.g.
    /// the Google sync worker's history and channel calls. Hidden from discovery, refused to
    /// agents, and given no tool function in the template.
    #[serde(default)]
    pub internal: bool,
    /// Answers other than 429 that mean "slow down" (Google's 403 `rateLimitExceeded`):
    /// retried with backoff like a 429.
    #[serde(default)]
    pub rate_limit_errors: Option<crate::outbound::RateLimitErrors>,
}

/// Where the credential comes from and how it is sent.
#[derive(Debug, Clone, Deserialize)]
pub struct CredentialDef {
    /// The instance's sensitive config key holding a static token.
    pub secret: String,
    /// The `Authorization` scheme (`Bearer`, `Bot`).
    #[serde(default = "bearer")]
    pub scheme: String,
}

fn bearer() -> String {
    "Bearer".into()
}

/// One method as written in the definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodDef {
    pub id: String,
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
    #[serde(rename = "x-switchyard")]
    pub exec: MethodExec,
}

/// How one method maps onto the provider's API. Unknown fields are refused, so a misspelt flag
/// (`retry_safe` for `retrySafe`) fails the load instead of silently meaning "not set".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MethodExec {
    #[serde(default)]
    pub http: Option<HttpDef>,
    /// `{"field": "/pointer"}`, or `"$"` for the whole response.
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub pagination: Option<PaginationDef>,
    #[serde(default)]
    pub handler: Option<String>,
    /// Input pointers the instance's allow/deny lists apply to.
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// How a guarded pointer's values compare (`notion_id`, `slack_channel`, ...); unlisted
    /// pointers compare exactly. See [`crate::guardrails::FieldKind`].
    #[serde(default)]
    pub guardrail_kinds: BTreeMap<String, crate::guardrails::FieldKind>,
    /// What one successful call costs, where the provider prices per call (receipts carry it).
    #[serde(default)]
    pub cost_per_call: Option<f64>,
    /// Whether a request that may already have reached the provider (a 5xx, a timeout or a
    /// transport error after sending) may be sent again. Absent: only for HTTP methods that are
    /// idempotent by definition (GET, HEAD, PUT, DELETE, OPTIONS). `true` marks a POST or PATCH
    /// whose repetition is harmless (a query, setting the same properties again); `false` keeps
    /// even an idempotent HTTP method from being repeated.
    #[serde(default)]
    pub retry_safe: Option<bool>,
    /// Input fields that are credentials when they appear in the request path (Discord's
    /// interaction token): receipts record the path with their values redacted.
    #[serde(default)]
    pub secret_params: Vec<String>,
    /// OAuth scopes of which the connection must hold at least one (any-of, as the provider's
    /// discovery document lists them for the API method, narrowest first). Checked before any
    /// provider call: a connection without one fails with `insufficient_scope`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the method only reads (MCP's `readOnlyHint`). Absent: GET and HEAD read.
    #[serde(default)]
    pub read_only: Option<bool>,
    /// Whether a call may overwrite or delete what exists rather than only add to it (MCP's
    /// `destructiveHint`; the approval gate's default candidates). Absent: DELETE and PUT are,
    /// other HTTP methods are not, and a handler without an HTTP method is (the safe guess).
    #[serde(default)]
    pub destructive: Option<bool>,
    /// The method may run as a background job (`"mode": "background"` in its input, or over
    /// the instance's size threshold). See [`crate::jobs`].
    #[serde(default)]
    pub background: Option<crate::jobs::BackgroundDef>,
    /// A GraphQL method's expected calculated query cost: what it takes from the provider's
    /// cost budget until an answer reports the real one (see [`crate::shopify::budget`]).
    #[serde(default)]
    pub query_cost: Option<u64>,
}

/// The HTTP request of a method.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpDef {
    pub method: String,
    pub path: String,
    #[serde(default = "json_body")]
    pub body: String,
    #[serde(default = "yes")]
    pub auth: bool,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
}

fn json_body() -> String {
    "json".into()
}

fn yes() -> bool {
    true
}

/// Cursor pagination.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationDef {
    pub cursor_param: String,
    pub next_cursor: String,
    pub items: String,
    #[serde(default)]
    pub max_pages_field: Option<String>,
    /// `query` (default) or `body`.
    #[serde(default)]
    pub cursor_in: Option<String>,
}

/// A method ready to run: its definition, its integration and its compiled schemas.
#[derive(Debug, Clone)]
pub struct Method {
    /// `<integration>.<method>`, e.g. `slack.post_message`.
    pub tool_id: String,
    pub integration: Arc<Integration>,
    pub def: MethodDef,
    pub input: Arc<jsonschema::Validator>,
    pub output: Arc<jsonschema::Validator>,
}

/// Every method of every definition, keyed by tool id.
#[derive(Debug, Clone)]
pub struct Catalog {
    methods: BTreeMap<String, Method>,
    integrations: BTreeMap<String, Arc<Integration>>,
}

/// A failing JSON Schema path and why (what `invalid_input` reports).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct SchemaViolation {
    /// JSON pointer into the input, `""` for the root.
    pub path: String,
    pub message: String,
}

impl Method {
    /// Whether a request with HTTP method `verb` may be repeated after it may have reached the
    /// provider (see [`MethodExec::retry_safe`]).
    pub fn retry_safe(&self, verb: &str) -> bool {
        self.def.exec.retry_safe.unwrap_or_else(|| {
            ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]
                .contains(&verb.to_ascii_uppercase().as_str())
        })
    }

    /// Whether the method only reads (see [`MethodExec::read_only`]).
    pub fn read_only(&self) -> bool {
        self.def.exec.read_only.unwrap_or_else(|| {
            self.def
                .exec
                .http
                .as_ref()
                .is_some_and(|h| matches!(h.method.to_ascii_uppercase().as_str(), "GET" | "HEAD"))
        })
    }

    /// Whether a call may overwrite or delete (see [`MethodExec::destructive`]); never for a
    /// method that only reads.
    pub fn destructive(&self) -> bool {
        if self.read_only() {
            return false;
        }
        self.def.exec.destructive.unwrap_or_else(|| {
            self.def
                .exec
                .http
                .as_ref()
                .is_none_or(|h| matches!(h.method.to_ascii_uppercase().as_str(), "DELETE" | "PUT"))
        })
    }

    /// [`Method::retry_safe`] for the definition's own HTTP method; a handler without one is
    /// safe only where the definition says so.
    pub fn repeat_is_safe(&self) -> bool {
        match &self.def.exec.http {
            Some(http) => self.retry_safe(&http.method),
            None => self.def.exec.retry_safe.unwrap_or(false),
        }
    }

    /// The values of this method's secret path parameters in `input`.
    pub fn secret_values(&self, input: &Value) -> Vec<String> {
        self.def
            .exec
            .secret_params
            .iter()
            .filter_map(|name| input.get(name).and_then(Value::as_str))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Checks `input`; every violation with its path.
    pub fn check_input(&self, input: &Value) -> Result<(), Vec<SchemaViolation>> {
        violations(&self.input, input)
    }

    /// Checks a produced output.
    pub fn check_output(&self, output: &Value) -> Result<(), Vec<SchemaViolation>> {
        violations(&self.output, output)
    }
}

fn violations(
    validator: &jsonschema::Validator,
    value: &Value,
) -> Result<(), Vec<SchemaViolation>> {
    let found: Vec<SchemaViolation> = validator
        .iter_errors(value)
        .map(|e| SchemaViolation {
            path: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(found)
    }
}

impl Catalog {
    /// Parses, checks and compiles the built-in definitions.
    pub fn load() -> Result<Self, DefinitionError> {
        Self::from_sources(BUILTIN.iter().copied())
    }

    /// Parses, checks and compiles definitions given as `(file name, JSON text)`.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, DefinitionError> {
        let mut methods = BTreeMap::new();
        let mut integrations = BTreeMap::new();
        for (file, text) in sources {
            let err = |problem: String| DefinitionError {
                file: file.to_owned(),
                problem,
            };
            let integration: Integration = serde_json::from_str(text)
                .map_err(|e| err(format!("not a valid definition: {e}")))?;
            check(&integration).map_err(err)?;
            let integration = Arc::new(integration);
            for def in &integration.methods {
                let compile = |which: &str, schema: &Value| {
                    jsonschema::validator_for(schema)
                        .map(Arc::new)
                        .map_err(|e| {
                            err(format!(
                                "{}: {which} is not a valid JSON Schema: {e}",
                                def.id
                            ))
                        })
                };
                let tool_id = format!("{}.{}", integration.integration_id, def.id);
                let method = Method {
                    tool_id: tool_id.clone(),
                    integration: integration.clone(),
                    input: compile("inputSchema", &def.input_schema)?,
                    output: compile("outputSchema", &def.output_schema)?,
                    def: def.clone(),
                };
                if methods.insert(tool_id.clone(), method).is_some() {
                    return Err(err(format!("{tool_id} defined twice")));
                }
            }
            if integrations
                .insert(integration.integration_id.clone(), integration.clone())
                .is_some()
            {
                return Err(err(format!(
                    "integration {} defined twice",
                    integration.integration_id
                )));
            }
        }
        Ok(Self {
            methods,
            integrations,
        })
    }

    /// The method `tool_id` (`slack.post_message`).
    pub fn method(&self, tool_id: &str) -> Option<&Method> {
        self.methods.get(tool_id)
    }

    /// Every method, by tool id.
    pub fn methods(&self) -> impl Iterator<Item = &Method> {
        self.methods.values()
    }

    /// The integrations whose tools run on instances of `provider`.
    pub fn for_provider<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = &'a Method> {
        self.methods
            .values()
            .filter(move |m| m.integration.exec.provider == provider)
    }

    /// The integration `id`.
    pub fn integration(&self, id: &str) -> Option<&Arc<Integration>> {
        self.integrations.get(id)
    }

    /// Every integration, by id.
    pub fn integrations(&self) -> impl Iterator<Item = &Arc<Integration>> {
        self.integrations.values()
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check(i: &Integration) -> Result<(), String> {
    if i.integration_id.is_empty() || i.name.is_empty() || i.description.is_empty() {
        return Err("integrationId, name and description are required".into());
    }
    if !is_semver(&i.version) {
        return Err(format!("version {:?} is not semver", i.version));
    }
    if !["integration", "ai", "documents", "database"].contains(&i.kind.as_str()) {
        return Err(format!(
            "type {:?} is not integration | ai | documents | database",
            i.kind
        ));
    }
    if !["oauth2", "apikey", "custom"].contains(&i.auth_type.as_str()) {
        return Err(format!(
            "authType {:?} is not oauth2 | apikey | custom",
            i.auth_type
        ));
    }
    if i.auth_type == "oauth2" && i.oauth2_config.is_none() {
        return Err("authType oauth2 needs oauth2Config".into());
    }
    if i.kind == "ai" {
        let ai = i.ai_config.as_ref().ok_or("type ai needs aiConfig")?;
        for key in ["provider", "availableModels", "defaultModel"] {
            if ai.get(key).is_none() {
                return Err(format!("aiConfig needs {key}"));
            }
        }
    }
    if i.methods.is_empty() {
        return Err("no methods".into());
    }
    for m in &i.methods {
        for (which, schema) in [
            ("inputSchema", &m.input_schema),
            ("outputSchema", &m.output_schema),
        ] {
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(format!("{}: {which} must be an object schema", m.id));
            }
        }
        if !m.exec.scopes.is_empty() && i.auth_type != "oauth2" {
            return Err(format!(
                "{}: scopes need an oauth2 integration (a static token has no scopes to check)",
                m.id
            ));
        }
        if m.exec.retry_safe.is_some() && m.exec.handler.as_deref() == Some("secure_http") {
            return Err(format!(
                "{}: retrySafe cannot be set on secure_http: the HTTP method comes from the input \
                 and an arbitrary API's retry safety is unknown",
                m.id
            ));
        }
        for name in &m.exec.secret_params {
            if m.input_schema
                .pointer(&format!("/properties/{name}"))
                .is_none()
            {
                return Err(format!(
                    "{}: secret param {name} is not an input field",
                    m.id
                ));
            }
        }
        if let Some(handler) = &m.exec.handler {
            if !is_handler(handler) {
                return Err(format!("{}: unknown handler {handler:?}", m.id));
            }
        } else if m.exec.http.is_none() {
            return Err(format!("{}: needs x-switchyard.http or a handler", m.id));
        }
        let required: Vec<&str> = m
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(http) = &m.exec.http {
            for name in crate::providers::placeholders(&http.path) {
                if !required.contains(&name) {
                    return Err(format!(
                        "{}: path placeholder {{{name}}} must be a required input field",
                        m.id
                    ));
                }
            }
        }
        if let Some(pointer) = m
            .exec
            .guardrail_kinds
            .keys()
            .find(|p| !m.exec.guardrails.contains(p))
        {
            return Err(format!("{}: guardrail kind for unguarded {pointer}", m.id));
        }
        for pointer in &m.exec.guardrails {
            let first = pointer
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default();
            if m.input_schema
                .pointer(&format!("/properties/{first}"))
                .is_none()
            {
                return Err(format!(
                    "{}: guardrail {pointer} is not an input field",
                    m.id
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MCP hints and the approval gate's candidates: read from the HTTP method where the
    /// definition says nothing, the definition's flag where it does.
    #[test]
    fn methods_say_whether_they_only_read_or_may_destroy() {
        let catalog = Catalog::load().expect("definitions are valid");
        let hints = |id: &str| {
            let m = catalog.method(id).unwrap_or_else(|| panic!("{id}"));
            (m.read_only(), m.destructive())
        };
        // (read only, destructive)
        for (id, expected) in [
            ("slack.conversations_history", (true, false)),
            ("slack.post_message", (false, false)),
            ("calendar.delete_event", (false, true)),
            // Flags where the HTTP method misleads: a POST query, a PATCH that overwrites, a
            // handler without an HTTP method.
            ("calendar.freebusy", (true, false)),
            ("notion.query_data_source", (true, false)),
            ("notion.update_page", (false, true)),
            ("docs.replace_text", (false, true)),
            ("llm.generate_text", (true, false)),
            ("media.generate_image", (false, false)),
            ("http.secure_http_request", (false, true)),
        ] {
            assert_eq!(hints(id), expected, "{id}");
        }
    }

    #[test]
    fn builtin_definitions_load_and_compile() {
        let catalog = Catalog::load().expect("definitions are valid");
        let ids: Vec<&str> = catalog.methods().map(|m| m.tool_id.as_str()).collect();
        for id in [
            "slack.post_message",
            "slack.schedule_message",
            "slack.conversations_history",
            "discord.interaction_followup",
            "discord.send_channel_message",
            "notion.create_page",
            "notion.update_page",
            "notion.query_data_source",
            "notion.append_blocks",
            "notion.retrieve_page",
            "http.secure_http_request",
            "gmail.send_message",
            "gmail.create_draft",
            "gmail.list_messages",
            "gmail.get_message",
            "calendar.list_events",
            "calendar.create_event",
            "calendar.update_event",
            "calendar.delete_event",
            "calendar.freebusy",
            "drive.list_files",
            "drive.get_file",
            "drive.export_file",
            "drive.upload_file",
            "docs.get_document",
            "docs.create_document",
            "docs.append_text",
            "docs.replace_text",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
    }

    #[test]
    fn internal_integrations_are_marked_and_the_rest_are_not() {
        let catalog = Catalog::load().expect("definitions");
        let internal = |id: &str| catalog.method(id).expect(id).integration.exec.internal;
        assert!(internal("google_sync.gmail_history_list"));
        assert!(internal("google_sync.drive_changes_watch"));
        assert!(!internal("slack.post_message"));
        assert!(!internal("notion.query_data_source"));
        // The integration-level flag: set on http.json, it loads and marks its methods.
        let http = include_str!("../../integrations/http.json");
        let level = "\"x-switchyard\": {\n    \"provider\": \"http\"";
        let marked = http.replacen(level, &level.replace('{', "{\"internal\": true,"), 1);
        assert_ne!(marked, http);
        let catalog = Catalog::from_sources([("h.json", marked.as_str())]).expect("loads");
        assert!(catalog.methods().all(|m| m.integration.exec.internal));
        let not_bool = http.replacen(level, &level.replace('{', "{\"internal\": \"yes\","), 1);
        assert!(Catalog::from_sources([("h.json", not_bool.as_str())]).is_err());
    }

    #[test]
    fn every_google_method_declares_its_scopes_and_rate_limit_answers() {
        let catalog = Catalog::load().expect("definitions");
        let google: Vec<&Method> = catalog.for_provider("google").collect();
        // The 17 agent tools and the sync worker's internal calls (google_sync) alike.
        assert_eq!(
            google
                .iter()
                .filter(|m| !m.integration.exec.internal)
                .count(),
            17
        );
        for method in google {
            let scopes = &method.def.exec.scopes;
            assert!(!scopes.is_empty(), "{} declares no scopes", method.tool_id);
            assert!(
                scopes.iter().all(|s| s.starts_with("https://")),
                "{}: full scope URLs, as Google grants them: {scopes:?}",
                method.tool_id
            );
            assert!(method.integration.exec.rate_limit_errors.is_some());
        }
        let scoped = |text: &str| {
            text.replacen(
                "\"x-switchyard\": {",
                "\"x-switchyard\": {\"scopes\": [\"https://example.com/scope\"],",
                1,
            )
        };
        let http = scoped(include_str!("../../integrations/http.json"));
        assert!(
            Catalog::from_sources([("h.json", http.as_str())]).is_err(),
            "a custom-auth integration has no OAuth scopes to check"
        );
        let slack = scoped(include_str!("../../integrations/slack.json"));
        assert!(Catalog::from_sources([("s.json", slack.as_str())]).is_ok());
    }

    #[test]
    fn schema_failures_name_the_failing_path() {
        let catalog = Catalog::load().expect("definitions");
        let post = catalog.method("slack.post_message").expect("method");
        let errors = post
            .check_input(&serde_json::json!({"channel": 42, "text": "hi"}))
            .expect_err("channel must be a string");
        assert!(errors.iter().any(|e| e.path == "/channel"), "{errors:?}");
        assert!(post
            .check_input(&serde_json::json!({"channel": "C1", "text": "hi"}))
            .is_ok());
    }

    #[test]
    fn broken_definitions_are_rejected() {
        let slack = include_str!("../../integrations/slack.json");
        let bad_version = slack.replacen("\"version\": \"1.0.0\"", "\"version\": \"one\"", 1);
        assert!(Catalog::from_sources([("s.json", bad_version.as_str())]).is_err());
        let bad_schema = slack.replacen("\"type\": \"object\"", "\"type\": \"objekt\"", 1);
        assert!(Catalog::from_sources([("s.json", bad_schema.as_str())]).is_err());
        assert!(Catalog::from_sources([("a.json", slack), ("b.json", slack)]).is_err());
        assert!(is_semver("1.2.3") && is_semver("1.0.0-beta.1") && !is_semver("1.2"));
    }

    #[test]
    fn retry_safety_is_declared_or_follows_the_http_method() {
        let catalog = Catalog::load().expect("definitions");
        let method = |id: &str| catalog.method(id).expect(id);
        assert!(!method("slack.post_message").retry_safe("POST"));
        assert!(method("slack.conversations_history").retry_safe("GET"));
        assert!(method("notion.query_data_source").retry_safe("POST"));
        assert!(!method("notion.append_blocks").retry_safe("PATCH"));
        assert!(!method("discord.interaction_followup").retry_safe("POST"));
        assert!(!method("http.secure_http_request").retry_safe("POST"));
    }

    #[test]
    fn retry_safe_is_validated() {
        let slack = include_str!("../../integrations/slack.json");
        let misspelt = slack.replacen(
            "\"x-switchyard\": {",
            "\"x-switchyard\": {\"retry_safe\": true,",
            1,
        );
        assert!(Catalog::from_sources([("s.json", misspelt.as_str())]).is_err());
        let not_bool = slack.replacen(
            "\"x-switchyard\": {",
            "\"x-switchyard\": {\"retrySafe\": \"yes\",",
            1,
        );
        assert!(Catalog::from_sources([("s.json", not_bool.as_str())]).is_err());
        let ok = slack.replacen(
            "\"x-switchyard\": {",
            "\"x-switchyard\": {\"retrySafe\": true,",
            1,
        );
        assert!(Catalog::from_sources([("s.json", ok.as_str())]).is_ok());
        let http = include_str!("../../integrations/http.json");
        let on_secure_http = http.replacen(
            "\"handler\": \"secure_http\",",
            "\"handler\": \"secure_http\", \"retrySafe\": true,",
            1,
        );
        assert!(Catalog::from_sources([("h.json", on_secure_http.as_str())]).is_err());
    }

    #[test]
    fn secret_params_must_be_input_fields() {
        let catalog = Catalog::load().expect("definitions");
        let followup = catalog
            .method("discord.interaction_followup")
            .expect("method");
        assert_eq!(
            followup.secret_values(
                &serde_json::json!({"interaction_token": "tok", "application_id": "1"})
            ),
            ["tok"]
        );
        let discord = include_str!("../../integrations/discord.json");
        let bad = discord.replacen(
            "\"secretParams\": [\"interaction_token\"]",
            "\"secretParams\": [\"nope\"]",
            1,
        );
        assert_ne!(bad, discord);
        assert!(Catalog::from_sources([("d.json", bad.as_str())]).is_err());
    }
}
