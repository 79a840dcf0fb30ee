//! Tool methods for agents.
//!
//! [`invoke`] is what every tool Lambda and `POST /tools/{integration}/{method}` run:
//! definition → input schema → instance → grant → guardrails → circuit breaker → idempotency →
//! credentials → provider call (polite retries) → output schema → receipt. The answer is
//! `{ok: true, output, receipt_id}` or `{ok: false, error: {code, message, retryable,
//! provider_status?, request_id}}`; every call that got past the checks leaves a receipt.
//!
//! Every step is bounded by the caller's deadline, less [`RECEIPT_RESERVE`] kept back so the
//! receipt and the idempotency key are always written. A step that runs out of time before the
//! provider is called releases the key (a retry runs); a request that may have reached the
//! provider leaves the key `unknown` and answers `outcome_unknown`, so the same key never acts
//! twice.

pub mod approvals;
pub mod auth;
pub mod breaker;
pub mod connection_mode;
mod context;
pub mod deferred;
pub mod definitions;
mod email;
pub mod error;
pub mod executor;
#[cfg(test)]
mod fuzz_tests;
mod google;
pub mod guardrails;
pub mod idempotency;
pub mod intents;
pub mod jobs;
mod kb;
pub mod live;
mod llm;
mod media;
pub mod notion_poll;
pub mod prices;
pub mod prompts;
pub mod receipts;
pub mod retention;
mod scopes;
pub mod secure;
pub mod session_routes;
pub mod sessions;
pub mod shopify;
pub mod state;
mod tiktok;
pub mod usage;
mod vector;
pub mod whatsapp;

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

pub use crate::error::{ErrorCode, ToolError};

use crate::definitions::Method;
use crate::guardrails::Guardrails;
use crate::idempotency::IdempotencyKey;
use crate::instances::Instance;
use crate::receipts::Receipt;
use crate::secret::SecretString;
use crate::state::{Claim, Gate, StateError};
pub use context::{CatalogUnavailable, NotionPoller, Tools};
use switchyard_aws::{cursors, deliveries, dynamo, error as aws_error, events, instances};
use switchyard_core::{clock, policy, secret, workitem};
pub use switchyard_egress::{outbound, secure_http};
use switchyard_providers as providers;

/// A tool call, as the agent runtime sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolRequest {
    pub instance_id: String,
    /// Only checked against the authenticated agent on routes ([`invoke_as`]); optional there.
    #[serde(default)]
    pub agent_id: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The user the agent acts for: accepted from a headless agent allowed to act for users
    /// (`may_act_for_users`), or equal to the user its credential names. Per-user instances
    /// then use that user's connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
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
            ErrorCode::InvalidRequest,
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

fn fail(error: ToolError) -> ToolResponse {
    ToolResponse::Err {
        ok: false,
        error,
        receipt_id: None,
    }
}

/// The default deadline of a call outside Lambda (Lambda passes its own).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(25);

/// Time kept back from the deadline for what must happen after the provider call: the receipt,
/// the idempotency key's outcome and the breaker (a few DynamoDB writes).
pub const RECEIPT_RESERVE: Duration = Duration::from_millis(750);

/// The deadline of the steps up to and including the provider call.
fn work_deadline(deadline: Instant) -> Instant {
    deadline.checked_sub(RECEIPT_RESERVE).unwrap_or(deadline)
}

/// Runs `step` until `deadline`; past it, a `timeout` saying the provider was not called.
async fn within<T>(
    deadline: Instant,
    step: &str,
    fut: impl Future<Output = T>,
) -> Result<T, ToolError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| ToolError::timeout_before_provider(step))
}

fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}

/// The method `tool_id` of the catalog.
fn method<'a>(app: &'a Tools, tool_id: &str) -> Result<&'a Method, ToolError> {
    let catalog = app
        .catalog()
        .map_err(|e| ToolError::internal(&e.to_string()))?;
    catalog
        .method(tool_id)
        .ok_or_else(|| ToolError::new(ErrorCode::UnknownTool, format!("no tool {tool_id}"), false))
}

/// Runs one tool call end to end for a trusted in-process caller (the operator's CLI, tests):
/// the body's `agent_id` and `on_behalf_of` are taken as given and the workspace is not
/// checked. Every route runs [`invoke_as`] instead. Always produces an answer.
pub async fn invoke(
    app: &Tools,
    tool_id: &str,
    request: ToolRequest,
    deadline: Instant,
) -> ToolResponse {
    invoke_entered(app, tool_id, request, deadline, deferred::Entry::default()).await
}

async fn invoke_entered(
    app: &Tools,
    tool_id: &str,
    request: ToolRequest,
    deadline: Instant,
    entry: deferred::Entry<'_>,
) -> ToolResponse {
    let request_id = new_request_id();
    // Boxed: the pipeline's state machine is large (a nested call, e.g. kb.ingest reading a
    // Doc, holds two), and an unboxed one overflows a 2 MiB thread stack in debug builds.
    let response = Box::pin(run(
        app,
        tool_id,
        &request,
        None,
        deadline,
        &request_id,
        entry,
    ))
    .await;
    published(response, tool_id, &request_id)
}

/// Runs a deferred call coming back (a background job, an approved call) through every check
/// of the pipeline again, without deferring it a second time. `user`: the user it was made for
/// (the call uses that user's connection again).
pub(crate) async fn invoke_resumed(
    app: &Tools,
    tool_id: &str,
    mut request: ToolRequest,
    deadline: Instant,
    user: Option<&str>,
) -> ToolResponse {
    request.on_behalf_of = user.map(str::to_owned);
    let entry = deferred::Entry {
        user,
        resumed: true,
    };
    invoke_entered(app, tool_id, request, deadline, entry).await
}

/// Runs a tool call for an authenticated `principal`: the agent is the principal's (an
/// `agent_id` in the body that names another agent is refused), the instance must be in the
/// principal's workspace, and the user the call is for is the principal's, or an
/// `on_behalf_of` the agent is allowed to give.
pub async fn invoke_as(
    app: &Tools,
    principal: &switchyard_core::identity::Principal,
    tool_id: &str,
    mut request: ToolRequest,
    deadline: Instant,
) -> ToolResponse {
    let request_id = new_request_id();
    let response = match acting_user(app, principal, &request, work_deadline(deadline)).await {
        Ok(user) => {
            request.agent_id.clone_from(&principal.agent_id);
            request.on_behalf_of = user;
            let entry = deferred::Entry {
                user: request.on_behalf_of.as_deref(),
                resumed: false,
            };
            Box::pin(run(
                app,
                tool_id,
                &request,
                Some(&principal.workspace),
                deadline,
                &request_id,
                entry,
            ))
            .await
        }
        Err(e) => fail(e),
    };
    published(response, tool_id, &request_id)
}

/// The user a call of `principal` is for: the one its credential names, else an
/// `on_behalf_of` the agent may give (`may_act_for_users`), else none. Refuses a body that
/// names another agent or another user than the credential.
async fn acting_user(
    app: &Tools,
    principal: &switchyard_core::identity::Principal,
    request: &ToolRequest,
    deadline: Instant,
) -> Result<Option<String>, ToolError> {
    if !request.agent_id.is_empty() && request.agent_id != principal.agent_id {
        return Err(ToolError::new(
            ErrorCode::Forbidden,
            "the agent_id in the request is not the authenticated agent",
            false,
        ));
    }
    match (&principal.user, &request.on_behalf_of) {
        (Some(user), Some(named)) if user != named => Err(ToolError::new(
            ErrorCode::Forbidden,
            "on_behalf_of names another user than the credential",
            false,
        )),
        (Some(user), _) => Ok(Some(user.clone())),
        (None, None) => Ok(None),
        (None, Some(named)) => {
            let agent = within(
                deadline,
                "the agent lookup",
                app.agents.agent(&principal.agent_id),
            )
            .await?
            .map_err(|e| ToolError::unavailable(e.to_string()))?;
            if agent.is_some_and(|a| a.may_act_for_users) && !named.is_empty() {
                Ok(Some(named.clone()))
            } else {
                Err(ToolError::new(
                    ErrorCode::Forbidden,
                    "this agent may not act on behalf of users",
                    false,
                ))
            }
        }
    }
}

/// Logs a failure's detail under the request id, and gives the agent that id (a replayed
/// answer keeps the id of the call that produced it).
fn published(mut response: ToolResponse, tool: &str, request_id: &str) -> ToolResponse {
    if let ToolResponse::Err { error, .. } = &mut response {
        let id = error
            .request_id
            .get_or_insert_with(|| request_id.to_owned());
        tracing::warn!(
            request_id = %id,
            tool,
            code = %error.code,
            detail = error.detail.as_deref().unwrap_or_default(),
            "tool call failed"
        );
    }
    response
}

/// The pipeline. `workspace`: the authenticated principal's, whose instances alone it may
/// reach (`None`: a trusted in-process caller).
async fn run(
    app: &Tools,
    tool_id: &str,
    request: &ToolRequest,
    workspace: Option<&str>,
    deadline: Instant,
    request_id: &str,
    entry: deferred::Entry<'_>,
) -> ToolResponse {
    let work = work_deadline(deadline);
    let method = match method(app, tool_id) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    if method.integration.exec.internal {
        return fail(ToolError::new(
            ErrorCode::Forbidden,
            format!("{tool_id} is internal to the gateway's workers"),
            false,
        ));
    }
    if request.instance_id.is_empty() || request.agent_id.is_empty() {
        return fail(ToolError::new(
            ErrorCode::InvalidRequest,
            "instance_id and agent_id are required",
            false,
        ));
    }
    // Local checks first: a malformed call costs no I/O and needs no time budget.
    if let Err(violations) = method.check_input(&request.input) {
        return fail(ToolError::invalid_input(violations));
    }
    let instance = match within(
        work,
        "the instance lookup",
        app.instances.get(&request.instance_id),
    )
    .await
    {
        Ok(Ok(Some(i))) if i.provider == method.integration.exec.provider => i,
        Ok(Ok(_)) => {
            return fail(ToolError::new(
                ErrorCode::NotFound,
                "no such instance for this tool",
                false,
            ))
        }
        Ok(Err(e)) => return fail(ToolError::unavailable(e.to_string())),
        Err(timeout) => return fail(timeout),
    };
    if workspace.is_some_and(|w| w != instance.workspace) {
        return fail(ToolError::new(
            ErrorCode::Forbidden,
            "the instance is not in the agent's workspace",
            false,
        ));
    }
    if !instance.grants.contains_key(&request.agent_id) {
        return fail(ToolError::new(
            ErrorCode::Forbidden,
            "the agent is not granted this instance",
            false,
        ));
    }
    let guardrails = match Guardrails::of(&instance) {
        Ok(g) => g,
        Err(e) => return fail(ToolError::misconfigured(&e.to_string())),
    };
    let grant = &instance.grants[&request.agent_id]; // present: checked above
    if let Err(denied) = guardrails.check_call(method, grant, &request.input) {
        return fail(ToolError::new(denied.code(), denied.to_string(), false));
    }
    // Held for approval or queued as a background job: answered now, run later.
    if let Some(answer) = deferred::defer(app, method, &instance, request, entry).await {
        return answer;
    }
    let gate = within(
        work,
        "the circuit breaker check",
        app.tool_state.gate(
            &instance.id,
            tool_id,
            breaker::settings(&instance),
            app.clock.now(),
        ),
    )
    .await;
    let probe = match gate {
        Ok(Ok(Gate::Closed)) => false,
        Ok(Ok(Gate::Probe)) => true,
        Ok(Ok(Gate::Open { reason })) => {
            return fail(ToolError::new(
                ErrorCode::Disabled,
                format!("tool disabled on this instance after repeated provider failures ({reason}); it is tried again after the cool-down, or re-enable it with `switchyard tool enable`"),
                false,
            ))
        }
        Ok(Err(e)) => return fail(ToolError::unavailable(e.to_string())),
        Err(timeout) => return fail(timeout),
    };
    // A key is the agent's, and the user's it acted for: nobody replays another's answer.
    let key_owner = match &request.on_behalf_of {
        Some(user) => format!("{}\u{0}user:{user}", request.agent_id),
        None => request.agent_id.clone(),
    };
    let key = request
        .idempotency_key
        .as_deref()
        .map(|k| IdempotencyKey::new(&instance.id, tool_id, &key_owner, k, &request.input));
    if let Some(key) = &key {
        if let Err(answer) = claim(app, key, request_id, deadline).await {
            if probe {
                breaker::release_probe(app, &instance, tool_id).await;
            }
            return answer;
        }
    }
    let response = Box::pin(call_provider(
        app, method, &instance, request, deadline, request_id, probe,
    ))
    .await;
    if let Some(key) = &key {
        settle(app, key, request_id, &response, deadline).await;
    }
    response
}

/// Claims `key` for this call; `Err` is the answer when the call must not run.
async fn claim(
    app: &Tools,
    key: &IdempotencyKey,
    request_id: &str,
    deadline: Instant,
) -> Result<(), ToolResponse> {
    let claimed = within(
        work_deadline(deadline),
        "the idempotency claim",
        app.tool_state
            .claim(&key.key, &key.request_hash, request_id, app.clock.now()),
    )
    .await;
    let error = match claimed {
        Ok(Ok(Claim::Fresh)) => return Ok(()),
        Ok(Ok(Claim::Done(stored))) => {
            return Err(
                serde_json::from_value::<ToolResponse>(stored).unwrap_or_else(|e| {
                    fail(ToolError::new(
                        ErrorCode::StoredResultUnreadable,
                        format!("stored response of {}: {e}", key.key),
                        false,
                    ))
                }),
            )
        }
        Ok(Ok(Claim::InProgress)) => ToolError::new(
            ErrorCode::InProgress,
            "a call with this idempotency key is still running",
            true,
        ),
        Ok(Ok(Claim::Unknown)) => ToolError::new(
            ErrorCode::OutcomeUnknown,
            format!("key {} is spent with an unknown outcome", key.key),
            false,
        ),
        Ok(Ok(Claim::Conflict)) => ToolError::new(
            ErrorCode::IdempotencyConflict,
            format!("key {} is bound to another request", key.key),
            false,
        ),
        Ok(Err(StateError::Corrupt(detail))) => {
            ToolError::new(ErrorCode::StoredResultUnreadable, detail, false)
        }
        Ok(Err(e @ StateError::Unavailable(_))) => {
            // The write may have landed although the answer did not: give the key back.
            release(app, key, request_id, deadline).await;
            ToolError::unavailable(e.to_string())
        }
        Err(timeout) => {
            release(app, key, request_id, deadline).await;
            timeout
        }
    };
    Err(fail(error))
}

/// Gives back a key this call claimed, when the provider was certainly not called.
async fn release(app: &Tools, key: &IdempotencyKey, request_id: &str, deadline: Instant) {
    match within(
        deadline,
        "releasing the idempotency key",
        app.tool_state.abandon(&key.key, request_id),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(request_id, error = %e, "could not release the idempotency key")
        }
        Err(e) => tracing::error!(request_id, error = %e, "could not release the idempotency key"),
    }
}

/// Records what `key` stands for now: the answer to replay, an unknown outcome, or nothing (a
/// retryable failure before the provider acted: the next call with the key runs).
async fn settle(
    app: &Tools,
    key: &IdempotencyKey,
    request_id: &str,
    response: &ToolResponse,
    deadline: Instant,
) {
    let now = app.clock.now();
    let state = &app.tool_state;
    let settled = match response.error() {
        Some(e) if e.code == ErrorCode::OutcomeUnknown => {
            within(
                deadline,
                "marking the key unknown",
                state.mark_unknown(&key.key, request_id, now),
            )
            .await
        }
        Some(e) if e.retryable => {
            release(app, key, request_id, deadline).await;
            return;
        }
        _ => {
            let stored = serde_json::to_value(response).unwrap_or_default();
            within(
                deadline,
                "storing the idempotent answer",
                state.finish(&key.key, request_id, &stored, now),
            )
            .await
        }
    };
    match settled {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(request_id, error = %e, "could not record the idempotent result")
        }
        Err(e) => tracing::error!(request_id, error = %e, "could not record the idempotent result"),
    }
}

/// Calls `tool_id` on `instance` for a gateway worker (`caller`, e.g. `system:notion-poller`),
/// not an agent: no grant, guardrail or idempotency check, but the same credentials, retries,
/// rate limits, schemas and receipt as an agent's call.
pub async fn call_for_worker(
    app: &Tools,
    tool_id: &str,
    instance: &Instance,
    caller: &str,
    input: Value,
    deadline: Instant,
) -> ToolResponse {
    let request_id = new_request_id();
    let method = match method(app, tool_id) {
        Ok(m) => m,
        Err(e) => return published(fail(e), tool_id, &request_id),
    };
    if let Err(violations) = method.check_input(&input) {
        return published(
            fail(ToolError::invalid_input(violations)),
            tool_id,
            &request_id,
        );
    }
    let request = ToolRequest {
        instance_id: instance.id.clone(),
        agent_id: caller.to_owned(),
        input,
        ..ToolRequest::default()
    };
    // Boxed like every call into the pipeline: its state machine is too large for a small stack.
    let response = Box::pin(call_provider(
        app,
        method,
        instance,
        &request,
        deadline,
        &request_id,
        false,
    ))
    .await;
    published(response, tool_id, &request_id)
}

/// The credential for `method` on `instance`, for `user` when the call is for one: that
/// user's own connection where the instance's `connection_mode` says so (never someone else's
/// or the shared one instead), else the instance's. `deadline` bounds the work (the caller
/// also bounds the whole step).
async fn credential(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    user: Option<&str>,
    deadline: Instant,
) -> Result<Option<SecretString>, ToolError> {
    let mode = connection_mode::ConnectionMode::of(instance)
        .map_err(|e| ToolError::misconfigured(&e.to_string()))?;
    match mode.source(user) {
        connection_mode::Source::User(user) => {
            let connection =
                connection_mode::user_connection(app, instance, user, deadline).await?;
            return connection_token(app, method, instance, &connection, deadline).await;
        }
        connection_mode::Source::NoUser => {
            return Err(ToolError::new(
                ErrorCode::ConnectionRequired,
                "this instance uses per-user connections only: call on behalf of a user",
                false,
            ))
        }
        connection_mode::Source::Shared => {}
    }
    if let Some(connection) = instance.config.get("connection_id") {
        return connection_token(app, method, instance, connection, deadline).await;
    }
    shared_secret(app, method, instance, deadline).await
}

/// An access token of the OAuth connection `connection` of `instance`, scopes checked.
async fn connection_token(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    connection: &str,
    deadline: Instant,
) -> Result<Option<SecretString>, ToolError> {
    switchyard_oauth::vault::access_token_for(
        app,
        connection,
        &instance.id,
        &instance.provider,
        deadline,
    )
    .await
    .map_err(|e| ToolError {
        retryable: e.retryable(),
        ..ToolError::auth(&e.to_string())
    })
    .and_then(|token| {
        // Before any provider call: a missing scope would only earn a 403 from the provider.
        scopes::check(method, &token.scopes)?;
        Ok(Some(token.token))
    })
}

/// The instance's own secret for `method` (a bot token, an API key), if it has one.
async fn shared_secret(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    deadline: Instant,
) -> Result<Option<SecretString>, ToolError> {
    let Some(def) = &method.integration.exec.credential else {
        return Ok(None);
    };
    match &instance.sealed {
        Some(sealed) if instance.secret_keys.contains(&def.secret) => {
            let mut secrets = within(
                deadline,
                "opening the instance's secrets",
                app.keyring.open(&instance.id, sealed),
            )
            .await?
            .map_err(|e| ToolError::unavailable(e.to_string()))?;
            Ok(secrets.remove(&def.secret))
        }
        _ => Ok(None),
    }
}

/// Gets the credential and calls the provider within the work deadline, then writes the receipt
/// and updates the breaker within the full deadline. `probe`: this call holds the breaker's
/// half-open probe.
async fn call_provider(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    request: &ToolRequest,
    deadline: Instant,
    request_id: &str,
    probe: bool,
) -> ToolResponse {
    let started = Instant::now();
    let work = work_deadline(deadline);
    let secrets = method.secret_values(&request.input);
    let receipt_id = format!("rcpt_{}", uuid::Uuid::new_v4().simple());
    let mut call = executor::Call {
        app,
        method,
        instance,
        credential: None,
        deadline: work,
        secret_segments: secrets
            .iter()
            .flat_map(|s| [executor::encode_segment(s), s.clone()])
            .collect(),
        attempts: Vec::new(),
        last_status: None,
        usage: Vec::new(),
        agent_id: &request.agent_id,
        on_behalf_of: request.on_behalf_of.as_deref(),
        receipt_id: receipt_id.clone(),
        message_ids: Vec::new(),
    };
    // Not cut short from outside: the vault bounds its own waits and token calls by `work` and
    // keeps time to persist a rotated refresh token, which a cancellation here could lose.
    let user = request.on_behalf_of.as_deref();
    let result = match credential(app, method, instance, user, work).await {
        Ok(credential) => {
            call.credential = credential;
            run_call(&mut call, &request.input, work).await
        }
        Err(e) => Err(e),
    };
    // A request that may have acted and is not safe to repeat: the caller must not simply retry.
    let result = result.map_err(|e| {
        if e.may_have_acted() {
            e.into_outcome_unknown()
        } else {
            e
        }
    });
    let now = app.clock.now();
    let error = result.as_ref().err();
    let cost_usd = match app.prices() {
        Ok(prices) => prices.cost_usd(&method.tool_id, &call.usage),
        Err(e) => {
            tracing::error!(error = %e, "no price table: the receipt's cost is unknown");
            None
        }
    };
    let receipt = Receipt {
        receipt_id: receipt_id.clone(),
        tool: method.tool_id.clone(),
        instance_id: instance.id.clone(),
        agent_id: request.agent_id.clone(),
        user: request.on_behalf_of.clone(),
        request_id: request_id.to_owned(),
        trace_id: request.trace_id.clone(),
        idempotency_key: request.idempotency_key.clone(),
        status: error.map_or_else(|| "ok".into(), |e| e.code.as_str().to_owned()),
        error_code: error.map(|e| e.code.as_str().to_owned()),
        provider_status: call.last_status,
        provider_request_ids: call
            .attempts
            .iter()
            .filter_map(|a| a.provider_request_id.clone())
            .collect(),
        attempts: std::mem::take(&mut call.attempts),
        usage: std::mem::take(&mut call.usage),
        message_ids: std::mem::take(&mut call.message_ids),
        cost_usd,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cost: if error.is_none() {
            method.def.exec.cost_per_call
        } else {
            None
        },
        created_at: now,
    };
    match within(deadline, "the receipt", app.receipts.put(&receipt)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(tool = %method.tool_id, request_id, error = %e, "could not write the receipt")
        }
        Err(e) => {
            tracing::error!(tool = %method.tool_id, request_id, error = %e, "could not write the receipt")
        }
    }
    // The live event and the breaker are independent writes: side by side, so the caller
    // waits for the slower of the two, not for both.
    let (_, breaker_updated) = tokio::join!(
        Box::pin(live::announce::tool_used(app, instance, &receipt, deadline)),
        Box::pin(within(
            deadline,
            "the circuit breaker update",
            breaker::record(app, method, instance, error, probe),
        )),
    );
    if breaker_updated.is_err() {
        tracing::error!(tool = %method.tool_id, request_id, "the circuit breaker update ran out of time");
    }
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

/// The provider call and the output check, bounded by `work`. The executor keeps to the same
/// deadline itself; this bound only catches what overruns it, and then the request may have
/// been sent.
async fn run_call(
    call: &mut executor::Call<'_>,
    input: &Value,
    work: Instant,
) -> Result<Value, ToolError> {
    let method = call.method;
    let output = match tokio::time::timeout_at(work, call.run(input)).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ToolError {
                fault: error::Fault::Provider {
                    may_have_acted: !method.repeat_is_safe(),
                },
                ..ToolError::new(
                    ErrorCode::Timeout,
                    "the deadline passed during the provider call",
                    true,
                )
            })
        }
    };
    method
        .check_output(&output)
        .map(|()| output)
        .map_err(|violations| ToolError {
            provider_status: call.last_status,
            violations,
            ..ToolError::new(
                ErrorCode::InvalidOutput,
                "the provider's answer does not match the method's output schema",
                false,
            )
        })
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

/// The tools available to an authenticated `principal`: [`discover`] limited to the instances
/// of its workspace.
pub async fn discover_as(
    app: &Tools,
    principal: &switchyard_core::identity::Principal,
) -> Result<Vec<ToolInfo>, ToolError> {
    tools_of(app, &principal.agent_id, Some(&principal.workspace)).await
}

/// The tools available to `agent` (trusted callers: the CLI, tests): the methods of the
/// instances it is granted, minus what guardrails deny and what the breaker disabled. The
/// instances come from the agent's grant index (one query), never from a scan of the
/// instances table.
pub async fn discover(app: &Tools, agent: &str) -> Result<Vec<ToolInfo>, ToolError> {
    tools_of(app, agent, None).await
}

async fn tools_of(
    app: &Tools,
    agent: &str,
    workspace: Option<&str>,
) -> Result<Vec<ToolInfo>, ToolError> {
    let granted = app
        .agents
        .granted_instances(agent)
        .await
        .map_err(|e| ToolError::unavailable(e.to_string()))?;
    let mut instances = Vec::new();
    for id in granted {
        match app.instances.get(&id).await {
            Ok(Some(instance)) => instances.push(instance),
            // The index outlived the instance (deleted): nothing to offer.
            Ok(None) => {}
            Err(e) => return Err(ToolError::unavailable(e.to_string())),
        }
    }
    let mut tools = Vec::new();
    // The instance itself is the authority: the index only says where to look.
    for instance in instances
        .iter()
        .filter(|i| i.grants.contains_key(agent))
        .filter(|i| workspace.is_none_or(|w| w == i.workspace))
    {
        let guardrails = Guardrails::of(instance).unwrap_or_default();
        let catalog = app
            .catalog()
            .map_err(|e| ToolError::internal(&e.to_string()))?;
        for method in catalog.for_provider(&instance.provider) {
            if method.integration.exec.internal {
                continue;
            }
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
