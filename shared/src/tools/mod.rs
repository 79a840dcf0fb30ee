//! Tool methods for agents.
//!
//! [`invoke`] is what every tool Lambda and `POST /tools/{integration}/{method}` run:
//! definition → instance → grant → input schema → guardrails → circuit breaker → idempotency →
//! credentials → provider call (polite retries) → output schema → receipt. The answer is
//! `{ok: true, output, receipt_id}` or `{ok: false, error: {code, message, retryable,
//! provider_status?}}`; provider failures leave a receipt too.

pub mod definitions;
pub mod executor;
pub mod guardrails;
pub mod outbound;
pub mod receipts;
pub mod secure;
pub mod secure_http;
pub mod state;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::instances::Instance;
use crate::secret::SecretString;
use crate::tools::definitions::{Method, SchemaViolation};
use crate::tools::guardrails::Guardrails;
use crate::tools::outbound::CallError;
use crate::tools::receipts::Receipt;
use crate::tools::state::{BreakerSettings, Claim};
use crate::App;

/// A tool call, as the agent runtime sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolRequest {
    pub instance_id: String,
    pub agent_id: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResponse {
    Ok {
        ok: bool,
        output: Value,
        receipt_id: String,
    },
    Err {
        ok: bool,
        error: ToolError,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt_id: Option<String>,
    },
}

impl ToolResponse {
    /// The HTTP status for the `/tools` route.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Ok { .. } => 200,
            Self::Err { error, .. } => error.http_status(),
        }
    }

    /// A request that could not be read.
    pub fn invalid_request(detail: &str) -> Self {
        fail(ToolError::new(
            "invalid_request",
            format!("not a tool request: {detail}"),
            false,
        ))
    }

    /// The error, if this is one.
    pub fn error(&self) -> Option<&ToolError> {
        match self {
            Self::Ok { .. } => None,
            Self::Err { error, .. } => Some(error),
        }
    }
}

/// A failed call, as the agent sees it: precise, never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<u16>,
    /// For `invalid_input`: the failing paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<SchemaViolation>,
}

impl ToolError {
    fn new(code: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable,
            provider_status: None,
            violations: Vec::new(),
        }
    }

    pub fn internal(message: &str) -> Self {
        Self::new("internal", message, false)
    }

    pub fn misconfigured(message: &str) -> Self {
        Self::new("misconfigured", message, false)
    }

    pub fn auth(message: &str) -> Self {
        Self::new("auth_failed", message, false)
    }

    pub fn invalid_input_message(message: String) -> Self {
        Self::new("invalid_input", message, false)
    }

    fn invalid_input(violations: Vec<SchemaViolation>) -> Self {
        let paths: Vec<&str> = violations
            .iter()
            .map(|v| {
                if v.path.is_empty() {
                    "/"
                } else {
                    v.path.as_str()
                }
            })
            .collect();
        let message = format!("input does not match the schema at {}", paths.join(", "));
        Self {
            violations,
            ..Self::new("invalid_input", message, false)
        }
    }

    /// A provider's non-2xx answer.
    pub fn provider(status: u16, message: String) -> Self {
        let code = match status {
            401 | 403 => "provider_auth",
            404 => "provider_not_found",
            409 => "provider_conflict",
            _ => "provider_error",
        };
        Self {
            provider_status: Some(status),
            ..Self::new(code, message, false)
        }
    }

    /// Slack's HTTP 200 with `ok: false`.
    pub fn provider_ok_false(status: u16, error: String) -> Self {
        let retryable = matches!(
            error.as_str(),
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable"
        );
        Self {
            provider_status: Some(status),
            ..Self::new("provider_error", error, retryable)
        }
    }

    fn from_call(e: &CallError) -> Self {
        match *e {
            CallError::RateLimited {
                retry_after_ms,
                status,
            } => Self {
                provider_status: Some(status),
                ..Self::new(
                    "rate_limited",
                    format!(
                        "the provider asked to wait {retry_after_ms} ms, past this call's deadline"
                    ),
                    true,
                )
            },
            CallError::Unavailable(status) => Self {
                provider_status: Some(status),
                ..Self::new("provider_unavailable", e.to_string(), true)
            },
            CallError::Transport(_) => Self::new("provider_unavailable", e.to_string(), true),
            CallError::Deadline => Self::new("timeout", "the call's deadline was reached", true),
        }
    }

    fn http_status(&self) -> u16 {
        match self.code.as_str() {
            "invalid_request" | "invalid_input" => 400,
            "forbidden" | "denied" => 403,
            "unknown_tool" | "not_found" => 404,
            "in_progress" | "disabled" => 409,
            "rate_limited" => 429,
            "provider_unavailable" | "unavailable" => 503,
            "timeout" => 504,
            "misconfigured" | "internal" => 500,
            _ => 502,
        }
    }

    /// Whether this failure counts against the tool's circuit breaker (the provider failing,
    /// not the caller asking wrongly).
    fn counts_against_tool(&self) -> bool {
        self.provider_status.is_some_and(|s| s >= 500)
            || matches!(
                self.code.as_str(),
                "provider_unavailable"
                    | "timeout"
                    | "provider_auth"
                    | "invalid_output"
                    | "rate_limited"
            )
    }
}

fn fail(error: ToolError) -> ToolResponse {
    ToolResponse::Err {
        ok: false,
        error,
        receipt_id: None,
    }
}

/// The default deadline of a call outside Lambda (Lambda passes its own).
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);

/// The method `tool_id` of the catalog.
fn method<'a>(app: &'a App, tool_id: &str) -> Result<&'a Method, ToolError> {
    let catalog = app
        .catalog()
        .map_err(|e| ToolError::internal(&e.to_string()))?;
    catalog
        .method(tool_id)
        .ok_or_else(|| ToolError::new("unknown_tool", format!("no tool {tool_id}"), false))
}

/// Runs one tool call end to end; always produces an answer.
pub async fn invoke(
    app: &App,
    tool_id: &str,
    request: ToolRequest,
    deadline: Instant,
) -> ToolResponse {
    let method = match method(app, tool_id) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    if request.instance_id.is_empty() || request.agent_id.is_empty() {
        return fail(ToolError::new(
            "invalid_request",
            "instance_id and agent_id are required",
            false,
        ));
    }
    let instance = match app.instances.get(&request.instance_id).await {
        Ok(Some(i)) if i.provider == method.integration.exec.provider => i,
        Ok(_) => {
            return fail(ToolError::new(
                "not_found",
                "no such instance for this tool",
                false,
            ))
        }
        Err(e) => return fail(ToolError::new("unavailable", e.to_string(), true)),
    };
    if !instance.grants.contains_key(&request.agent_id) {
        return fail(ToolError::new(
            "forbidden",
            "the agent is not granted this instance",
            false,
        ));
    }
    if let Err(violations) = method.check_input(&request.input) {
        return fail(ToolError::invalid_input(violations));
    }
    let guardrails = match Guardrails::of(&instance) {
        Ok(g) => g,
        Err(e) => return fail(ToolError::misconfigured(&e.to_string())),
    };
    let grant = &instance.grants[&request.agent_id]; // present: checked above
    if let Err(denied) = guardrails.check_call(method, grant, &request.input) {
        return fail(ToolError::new(denied.code(), denied.to_string(), false));
    }
    match app.tool_state.disabled(&instance.id, tool_id).await {
        Ok(Some(reason)) => {
            return fail(ToolError::new(
                "disabled",
                format!("tool disabled on this instance after repeated failures ({reason}); re-enable with `switchyard tool enable`"),
                false,
            ))
        }
        Ok(None) => {}
        Err(e) => return fail(ToolError::new("unavailable", e.to_string(), true)),
    }
    let idempotency = request
        .idempotency_key
        .as_ref()
        .map(|k| format!("{}#{tool_id}#{k}", instance.id));
    if let Some(key) = &idempotency {
        match app.tool_state.claim(key, app.clock.now()).await {
            Ok(Claim::Fresh) => {}
            Ok(Claim::Done(stored)) => {
                if let Ok(response) = serde_json::from_value::<ToolResponse>(stored) {
                    return response;
                }
            }
            Ok(Claim::InProgress) => {
                return fail(ToolError::new(
                    "in_progress",
                    "a call with this idempotency key is still running",
                    true,
                ))
            }
            Err(e) => return fail(ToolError::new("unavailable", e.to_string(), true)),
        }
    }
    let response = call_provider(app, method, &instance, &request, deadline).await;
    if let Some(key) = &idempotency {
        let stored = match &response {
            // A retryable failure may be retried with the same key: let the next call run.
            ToolResponse::Err { error, .. } if error.retryable => app.tool_state.abandon(key).await,
            _ => {
                app.tool_state
                    .finish(
                        key,
                        &serde_json::to_value(&response).unwrap_or_default(),
                        app.clock.now(),
                    )
                    .await
            }
        };
        if let Err(e) = stored {
            tracing::error!(tool = tool_id, error = %e, "could not record the idempotent result");
        }
    }
    response
}

/// Calls `tool_id` on `instance` for a gateway worker (`caller`, e.g. `system:notion-poller`),
/// not an agent: no grant, guardrail or idempotency check, but the same credentials, retries,
/// rate limits, schemas and receipt as an agent's call.
pub async fn call_for_worker(
    app: &App,
    tool_id: &str,
    instance: &Instance,
    caller: &str,
    input: Value,
    deadline: Instant,
) -> ToolResponse {
    let method = match method(app, tool_id) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    if let Err(violations) = method.check_input(&input) {
        return fail(ToolError::invalid_input(violations));
    }
    let request = ToolRequest {
        instance_id: instance.id.clone(),
        agent_id: caller.to_owned(),
        input,
        idempotency_key: None,
        trace_id: None,
    };
    call_provider(app, method, instance, &request, deadline).await
}

async fn credential(
    app: &App,
    method: &Method,
    instance: &Instance,
) -> Result<Option<SecretString>, ToolError> {
    if let Some(connection) = instance.config.get("connection_id") {
        return crate::oauth::vault::access_token_for(
            app,
            connection,
            &instance.id,
            &instance.provider,
            Instant::now() + crate::oauth::vault::DEFAULT_BUDGET,
        )
        .await
        .map(|t| Some(t.token))
        .map_err(|e| ToolError {
            retryable: e.retryable(),
            ..ToolError::auth(&e.to_string())
        });
    }
    let Some(def) = &method.integration.exec.credential else {
        return Ok(None);
    };
    match &instance.sealed {
        Some(sealed) if instance.secret_keys.contains(&def.secret) => {
            let mut secrets = app
                .keyring
                .open(&instance.id, sealed)
                .await
                .map_err(|e| ToolError::new("unavailable", e.to_string(), true))?;
            Ok(secrets.remove(&def.secret))
        }
        _ => Ok(None),
    }
}

async fn call_provider(
    app: &App,
    method: &Method,
    instance: &Instance,
    request: &ToolRequest,
    deadline: Instant,
) -> ToolResponse {
    let started = Instant::now();
    let credential = match credential(app, method, instance).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut call = executor::Call {
        app,
        method,
        instance,
        credential,
        deadline,
        attempts: Vec::new(),
        last_status: None,
    };
    let result = call.run(&request.input).await.and_then(|output| {
        method
            .check_output(&output)
            .map(|()| output)
            .map_err(|violations| ToolError {
                provider_status: call.last_status,
                violations,
                ..ToolError::new(
                    "invalid_output",
                    "the provider's answer does not match the method's output schema",
                    false,
                )
            })
    });
    let receipt_id = format!("rcpt_{}", uuid::Uuid::new_v4().simple());
    let now = app.clock.now();
    let error = result.as_ref().err();
    let receipt = Receipt {
        receipt_id: receipt_id.clone(),
        tool: method.tool_id.clone(),
        instance_id: instance.id.clone(),
        agent_id: request.agent_id.clone(),
        request_id: format!("req_{}", uuid::Uuid::new_v4().simple()),
        trace_id: request.trace_id.clone(),
        idempotency_key: request.idempotency_key.clone(),
        status: error.map(|e| e.code.clone()).unwrap_or_else(|| "ok".into()),
        error_code: error.map(|e| e.code.clone()),
        provider_status: call.last_status,
        provider_request_ids: call
            .attempts
            .iter()
            .filter_map(|a| a.provider_request_id.clone())
            .collect(),
        attempts: std::mem::take(&mut call.attempts),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cost: if error.is_none() {
            method.def.exec.cost_per_call
        } else {
            None
        },
        created_at: now,
    };
    if let Err(e) = app.receipts.put(&receipt).await {
        tracing::error!(tool = %method.tool_id, error = %e, "could not write the receipt");
    }
    breaker(app, method, instance, error).await;
    match result {
        Ok(output) => ToolResponse::Ok {
            ok: true,
            output,
            receipt_id,
        },
        Err(error) => ToolResponse::Err {
            ok: false,
            error,
            receipt_id: Some(receipt_id),
        },
    }
}

async fn breaker(app: &App, method: &Method, instance: &Instance, error: Option<&ToolError>) {
    let tool = &method.tool_id;
    let outcome = match error {
        None => app
            .tool_state
            .record_success(&instance.id, tool)
            .await
            .map(|()| false),
        Some(e) if e.counts_against_tool() => {
            let settings = BreakerSettings {
                threshold: config_number(instance, "breaker_threshold").unwrap_or(5),
                window_secs: config_number(instance, "breaker_window_secs").unwrap_or(300),
            };
            app.tool_state
                .record_failure(
                    &instance.id,
                    tool,
                    &e.to_string(),
                    settings,
                    app.clock.now(),
                )
                .await
        }
        Some(_) => Ok(false),
    };
    match outcome {
        Ok(true) => {
            tracing::warn!(instance_id = %instance.id, tool, "tool disabled after repeated failures");
            let event = crate::events::IntegrationEvent::tool_disabled(
                instance,
                tool,
                error,
                app.clock.now(),
            );
            if let Err(e) = app.sink.publish_integration(&event).await {
                tracing::error!(error = %e, "could not publish the tool-disabled event");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::error!(tool, error = %e, "could not update the circuit breaker"),
    }
}

fn config_number(instance: &Instance, key: &str) -> Option<u64> {
    instance.config.get(key).and_then(|v| v.parse().ok())
}

/// One tool an agent may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolInfo {
    pub tool: String,
    pub instance_id: String,
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
}

/// The tools available to `agent`: the methods of the instances it is granted, minus what
/// guardrails deny and what the breaker disabled.
pub async fn discover(app: &App, agent: &str) -> Result<Vec<ToolInfo>, ToolError> {
    let instances = app
        .instances
        .list()
        .await
        .map_err(|e| ToolError::new("unavailable", e.to_string(), true))?;
    let mut tools = Vec::new();
    for instance in instances.iter().filter(|i| i.grants.contains_key(agent)) {
        let guardrails = Guardrails::of(instance).unwrap_or_default();
        let catalog = app
            .catalog()
            .map_err(|e| ToolError::internal(&e.to_string()))?;
        for method in catalog.for_provider(&instance.provider) {
            if guardrails.check_tool(&method.tool_id).is_err() {
                continue;
            }
            if matches!(
                app.tool_state.disabled(&instance.id, &method.tool_id).await,
                Ok(Some(_))
            ) {
                continue;
            }
            tools.push(ToolInfo {
                tool: method.tool_id.clone(),
                instance_id: instance.id.clone(),
                name: method.def.name.clone(),
                description: method.def.description.clone(),
                input_schema: method.def.input_schema.clone(),
                output_schema: method.def.output_schema.clone(),
            });
        }
    }
    Ok(tools)
}
