//! Tools over MCP: a stateless Model Context Protocol server on Streamable HTTP (`POST /mcp`,
//! JSON answers, no session), and the OAuth 2.1 resource server in front of it.
//!
//! Every request is authenticated on its own ([`auth`]): an OIDC access token bound to this
//! resource or an agent token; without one the answer is 401 with a `WWW-Authenticate`
//! challenge naming the protected resource metadata ([`metadata`]), from which a client finds
//! the authorization server. The principal then lists and calls tools ([`tools`]) through the
//! same pipeline as every other route.
//!
//! The JSON-RPC layer is written here with serde; no Rust MCP SDK is linked (the README's MCP
//! section says why `rmcp` was not adopted). Identity is established before any message is
//! read, and the methods served (`initialize`, `ping`, `tools/list`, `tools/call`,
//! `prompts/list`, `prompts/get`) are a small surface, tested with the official TypeScript and
//! Python clients.

pub mod access_token;
pub mod agent_tokens;
pub mod auth;
pub mod jsonrpc;
pub mod live;
pub mod metadata;
pub mod prompts;
pub mod settings;
pub mod tools;

use std::sync::Arc;

use serde_json::{json, Value};
use switchyard_core::identity::Principal;
use switchyard_tools::Tools;
use tokio::time::Instant;

pub use auth::{AgentTokenAuthenticator, AgentTokenError, AuthError, Authenticator};
pub use settings::{Settings, SettingsError};

use jsonrpc::{ErrorCode, Message, RpcError};

/// Protocol revisions this server speaks, newest first; `initialize` answers with the client's
/// when it is one of them, else with the newest.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The MCP endpoint's context, built once per cold start.
#[derive(Debug)]
pub struct Mcp {
    pub settings: Settings,
    auth: Authenticator,
}

impl Mcp {
    /// With `agent_tokens` when this deployment accepts agent tokens.
    pub fn new(settings: Settings, agent_tokens: Option<Arc<dyn AgentTokenAuthenticator>>) -> Self {
        Self {
            settings,
            auth: Authenticator::new(agent_tokens),
        }
    }

    /// The principal of an `Authorization` value (an OIDC access token bound to this resource,
    /// or an agent token), checked by `deadline`: for other routes that accept what `/mcp`
    /// accepts (the live-events WebSocket's `$connect`).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        deadline: Instant,
    ) -> Result<Principal, AuthError> {
        self.auth
            .authenticate(&self.settings, authorization, deadline)
            .await
    }

    /// From the `SWITCHYARD_MCP_*` variables (see [`settings`]).
    pub fn from_env(
        agent_tokens: Option<Arc<dyn AgentTokenAuthenticator>>,
    ) -> Result<Self, SettingsError> {
        Ok(Self::new(Settings::from_env()?, agent_tokens))
    }
}

/// An HTTP request to one of the MCP routes.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The value of header `name`, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves `POST /mcp` (other methods: 405) and the protected resource metadata.
pub async fn handle(
    tools: &Tools,
    mcp: &Mcp,
    request: HttpRequest<'_>,
    deadline: Instant,
) -> HttpReply {
    let settings = &mcp.settings;
    if metadata::is_metadata_path(request.path, settings) {
        return if request.method == "GET" {
            HttpReply::json(200, &metadata::document(settings))
        } else {
            HttpReply::empty(405).with("allow", "GET".into())
        };
    }
    if request.path != settings.resource_path() && request.path != "/mcp" {
        return HttpReply::empty(404);
    }
    if request.method != "POST" {
        // Stateless: no server-initiated stream (GET) and no session to end (DELETE).
        return HttpReply::empty(405).with("allow", "POST".into());
    }
    serve(tools, mcp, request, deadline).await
}

fn header<'a>(request: &HttpRequest<'a>, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn serve(tools: &Tools, mcp: &Mcp, request: HttpRequest<'_>, deadline: Instant) -> HttpReply {
    let settings = &mcp.settings;
    // DNS rebinding: a browser page elsewhere must not reach a local or internal endpoint.
    if let Some(origin) = header(&request, "origin") {
        if origin.trim_end_matches('/') != settings.origin() {
            return HttpReply::json(403, &json!({"error": "origin not allowed"}));
        }
    }
    let principal = match mcp
        .auth
        .authenticate(settings, header(&request, "authorization"), deadline)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(reason = %e, "MCP request not authenticated");
            let reply = HttpReply::json(
                e.status(),
                &json!({"error": e.bearer_error().unwrap_or("unauthorized")}),
            );
            return if e.status() == 401 {
                reply.with(
                    "www-authenticate",
                    metadata::challenge(settings, e.bearer_error()),
                )
            } else {
                reply
            };
        }
    };
    if let Some(version) = header(&request, "mcp-protocol-version") {
        if !PROTOCOL_VERSIONS.contains(&version) {
            let e = RpcError::new(
                ErrorCode::InvalidRequest,
                format!("unsupported MCP-Protocol-Version {version}"),
            );
            return HttpReply::json(400, &jsonrpc::error(&Value::Null, &e));
        }
    }
    if !accepts_json(header(&request, "accept")) {
        return HttpReply::json(
            406,
            &json!({"error": "this endpoint answers application/json"}),
        );
    }
    let (id, method, params) = match jsonrpc::read(request.body) {
        Ok(Message::Request { id, method, params }) => (id, method, params),
        Ok(Message::Accepted) => return HttpReply::empty(202),
        Err((id, e)) => return HttpReply::json(400, &jsonrpc::error(&id, &e)),
    };
    tracing::info!(agent = %principal.agent_id, method = %method, "MCP request");
    let answer = match dispatch(tools, &principal, &method, &params, deadline).await {
        Ok(result) => jsonrpc::result(&id, result),
        Err(e) => jsonrpc::error(&id, &e),
    };
    HttpReply::json(200, &answer)
}

async fn dispatch(
    tools: &Tools,
    principal: &Principal,
    method: &str,
    params: &Value,
    deadline: Instant,
) -> Result<Value, RpcError> {
    match method {
        "initialize" => Ok(initialize(params)),
        "ping" => Ok(json!({})),
        "tools/list" => tools::list(tools, principal).await,
        "tools/call" => tools::call(tools, principal, params, deadline).await,
        "prompts/list" => Ok(prompts::list()),
        "prompts/get" => tokio::time::timeout_at(deadline, prompts::get(tools, principal, params))
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::new(
                    ErrorCode::Internal,
                    "the render ran out of time",
                ))
            }),
        other => Err(RpcError::new(
            ErrorCode::MethodNotFound,
            format!("method not found: {other}"),
        )),
    }
}

/// The `initialize` result: the negotiated revision, tools and prompts as the capabilities.
fn initialize(params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = requested
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}, "prompts": {"listChanged": false}},
        "serverInfo": {
            "name": "switchyard",
            "title": "Switchyard",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Tools of the SaaS instances this agent is granted. Tool names are <integration>_<method>__<instance>.",
    })
}

/// Whether an `Accept` header admits a JSON answer (absent: yes).
fn accepts_json(accept: Option<&str>) -> bool {
    accept.is_none_or(|accept| {
        accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            matches!(media, "application/json" | "application/*" | "*/*")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_negotiates_the_clients_revision_or_offers_the_newest() {
        assert_eq!(
            initialize(&json!({"protocolVersion": "2025-06-18"}))["protocolVersion"],
            "2025-06-18"
        );
        assert_eq!(
            initialize(&json!({"protocolVersion": "2099-01-01"}))["protocolVersion"],
            PROTOCOL_VERSIONS[0]
        );
        assert!(initialize(&json!({}))["capabilities"]["tools"].is_object());
        assert!(initialize(&json!({}))["capabilities"]["prompts"].is_object());
    }

    #[test]
    fn accept_must_admit_json() {
        assert!(accepts_json(None));
        assert!(accepts_json(Some("application/json, text/event-stream")));
        assert!(accepts_json(Some("*/*")));
        assert!(!accepts_json(Some("text/event-stream")));
    }
}
