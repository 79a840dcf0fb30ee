//! Scheduled task intents: an agent asks for a tool call to run later (`run_at`) or on a
//! schedule (`cron`); an EventBridge Scheduler schedule invokes the intents worker when it is
//! due, which runs the call through the normal pipeline as the agent that asked.
//!
//! Routes (the agent comes from authentication, never the body; another agent's intent is a
//! 404 exactly like a missing one):
//! - `POST /intents` `{tool, instance_id, input, run_at | cron, idempotency_key}`: checked like
//!   the call itself would be (the tool exists, the input fits its schema, the instance is in
//!   the agent's workspace and granted to it) before anything is stored; the same
//!   idempotency key from the same agent is the same intent.
//! - `GET /intents`, `GET /intents/{id}`.
//! - `DELETE /intents/{id}`: cancel (the schedules are deleted; 409 once it has ended).
//! - `POST /intents/{id}/retry`: a `failed` intent is scheduled again, a few seconds from now.
//!
//! The worker is [`worker::run`]; [`cron`] checks and evaluates cron expressions.

pub mod cron;
pub mod worker;

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use switchyard_aws::intents::{Intent, IntentError, IntentStatus, WorkerInput, SCHEDULED_TIME};
use switchyard_core::clock::rfc3339;
use switchyard_core::identity::Principal;

use crate::sessions::ApiReply;
use crate::Tools;

/// How far ahead a one-off may be scheduled.
pub const MAX_AHEAD_SECS: u64 = 366 * 86_400;
/// The longest idempotency key.
pub const MAX_KEY_LEN: usize = 256;
/// How far from now a manual retry runs.
pub const RETRY_LEAD_SECS: u64 = 5;

/// Why an intents request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("invalid schedule: {0}")]
    Schedule(String),
    #[error("no tool {0}")]
    UnknownTool(String),
    #[error("the input does not match the tool's schema")]
    InvalidInput(Value),
    #[error("no such instance for this tool")]
    InstanceNotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("intent not found")]
    NotFound,
    #[error("the intent is {}: it can no longer change", .0.as_str())]
    Ended(IntentStatus),
    #[error("only a failed intent can be retried; this one is {}", .0.as_str())]
    NotFailed(IntentStatus),
    #[error("this idempotency key already made another intent ({0})")]
    IdempotencyConflict(String),
    #[error("the intent changed concurrently; read it and retry")]
    Conflict,
    #[error("intents unavailable")]
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::Schedule(_) | Self::UnknownTool(_) | Self::InvalidInput(_) => {
                400
            }
            Self::Forbidden(_) => 403,
            Self::InstanceNotFound | Self::NotFound => 404,
            Self::Ended(_) | Self::NotFailed(_) | Self::IdempotencyConflict(_) | Self::Conflict => {
                409
            }
            Self::Unavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::Schedule(_) => "invalid_schedule",
            Self::UnknownTool(_) => "unknown_tool",
            Self::InvalidInput(_) => "invalid_input",
            Self::InstanceNotFound => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::Ended(_) => "intent_ended",
            Self::NotFailed(_) => "not_failed",
            Self::IdempotencyConflict(_) => "idempotency_conflict",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn reply(&self) -> ApiReply {
        let mut error = json!({"code": self.code(), "message": self.to_string()});
        match self {
            Self::InvalidInput(violations) => error["violations"] = violations.clone(),
            Self::Ended(status) | Self::NotFailed(status) => error["status"] = json!(status),
            _ => {}
        }
        ApiReply {
            status: self.status(),
            body: json!({ "error": error }),
        }
    }
}

impl From<IntentError> for ApiError {
    fn from(e: IntentError) -> Self {
        tracing::error!(error = %e, "intents store or scheduler failed");
        Self::Unavailable
    }
}

/// Answers one intents request of an authenticated `principal`.
pub async fn route(
    app: &Tools,
    principal: &Principal,
    method: &str,
    path: &str,
    body: &[u8],
) -> ApiReply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let result = match (method, segments.as_slice()) {
        ("POST", ["intents"]) => create(app, principal, body).await,
        ("GET", ["intents"]) => list(app, principal).await,
        ("GET", ["intents", id]) => show(app, principal, id).await,
        ("DELETE", ["intents", id]) => cancel(app, &principal.agent_id, id)
            .await
            .map(|i| (200, view(&i))),
        ("POST", ["intents", id, "retry"]) => retry(app, &principal.agent_id, id)
            .await
            .map(|i| (200, view(&i))),
        _ => {
            return ApiReply {
                status: 404,
                body: json!({"error": {"code": "not_found", "message": "no such route"}}),
            }
        }
    };
    match result {
        Ok((status, body)) => ApiReply { status, body },
        Err(e) => e.reply(),
    }
}

/// What the agent and the operator see of an intent.
pub fn view(intent: &Intent) -> Value {
    json!({
        "id": intent.id,
        "agent_id": intent.agent_id,
        "workspace": intent.workspace,
        "user": intent.user,
        "tool": intent.tool,
        "instance_id": intent.instance_id,
        "input": intent.input,
        "run_at": intent.run_at.map(rfc3339),
        "cron": intent.cron,
        "idempotency_key": intent.idempotency_key,
        "status": intent.status,
        "attempts": intent.attempts,
        "last_receipt_id": intent.last_receipt_id,
        "last_error_code": intent.last_error_code,
        "last_error_message": intent.last_error_message,
        "next_attempt_at": intent.next_attempt_at.map(rfc3339),
        "approval_id": intent.approval_id,
        "created_at": rfc3339(intent.created_at),
        "updated_at": rfc3339(intent.updated_at),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    tool: String,
    instance_id: String,
    #[serde(default = "empty_object")]
    input: Value,
    #[serde(default)]
    run_at: Option<String>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

/// When an intent runs, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    At(u64),
    Cron(String),
}

/// Unix seconds of an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| u64::try_from(t.timestamp()).ok())
}

/// The scheduler's one-off expression for unix seconds `at` (UTC).
pub fn at_expression(at: u64) -> String {
    format!("at({})", rfc3339(at).trim_end_matches('Z'))
}

fn when(body: &CreateBody, now: u64) -> Result<When, ApiError> {
    match (&body.run_at, &body.cron) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::Schedule(
            "give exactly one of run_at and cron".into(),
        )),
        (Some(text), None) => {
            let at = parse_time(text).ok_or_else(|| {
                ApiError::Schedule(format!(
                    "run_at {text:?} is not an RFC 3339 time (2026-01-02T03:04:05Z)"
                ))
            })?;
            if at <= now {
                return Err(ApiError::Schedule(format!(
                    "run_at {text} is not in the future (now is {})",
                    rfc3339(now)
                )));
            }
            if at > now + MAX_AHEAD_SECS {
                return Err(ApiError::Schedule(format!(
                    "run_at {text} is more than {} days ahead",
                    MAX_AHEAD_SECS / 86_400
                )));
            }
            Ok(When::At(at))
        }
        (None, Some(text)) => {
            let parsed = cron::Cron::parse(text).map_err(|e| ApiError::Schedule(e.to_string()))?;
            if parsed.next_after(now).is_none() {
                return Err(ApiError::Schedule(cron::CronError::NeverFires.to_string()));
            }
            let inner = text
                .trim()
                .strip_prefix("cron(")
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or(text.trim());
            Ok(When::Cron(
                inner.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        }
    }
}

/// The intent id for `key` of `agent` (so the same key is the same intent), else a random one.
fn intent_id(agent: &str, key: Option<&str>) -> String {
    let id = match key {
        Some(key) => {
            let mut h = Sha256::new();
            h.update(agent.as_bytes());
            h.update([0]);
            h.update(key.as_bytes());
            hex::encode(h.finalize())[..32].to_owned()
        }
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    format!("int_{id}")
}

fn request_hash(body: &CreateBody, when: &When) -> String {
    let canonical = json!({
        "tool": body.tool,
        "instance_id": body.instance_id,
        "input": body.input,
        "when": match when { When::At(at) => json!({"at": at}), When::Cron(c) => json!({"cron": c}) },
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// The checks the pipeline would make of the call, made now so a scheduled call is not refused
/// only when it runs: the tool exists and is not internal, the input fits, the instance is the
/// tool's, in the agent's workspace and granted to it.
async fn check_call(app: &Tools, principal: &Principal, body: &CreateBody) -> Result<(), ApiError> {
    let method = crate::method(app, &body.tool)
        .ok()
        .filter(|m| !m.integration.exec.internal)
        .ok_or_else(|| ApiError::UnknownTool(body.tool.clone()))?;
    if let Err(violations) = method.check_input(&body.input) {
        return Err(ApiError::InvalidInput(
            serde_json::to_value(violations).unwrap_or_default(),
        ));
    }
    let instance = app
        .instances
        .get(&body.instance_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "instance lookup failed");
            ApiError::Unavailable
        })?
        .filter(|i| i.provider == method.integration.exec.provider)
        .ok_or(ApiError::InstanceNotFound)?;
    if instance.workspace != principal.workspace {
        return Err(ApiError::Forbidden(
            "the instance is not in the agent's workspace",
        ));
    }
    if !instance.grants.contains_key(&principal.agent_id) {
        return Err(ApiError::Forbidden(
            "the agent is not granted this instance",
        ));
    }
    Ok(())
}

/// The schedule name of `intent`'s run at `at` (one-offs), or of its cron schedule.
fn schedule_name(intent_id: &str, at: Option<u64>) -> String {
    match at {
        Some(at) => format!("{intent_id}-{at}"),
        None => format!("{intent_id}-cron"),
    }
}

fn worker_input(intent: &Intent) -> WorkerInput {
    WorkerInput {
        intent_id: intent.id.clone(),
        agent_id: intent.agent_id.clone(),
        scheduled_time: SCHEDULED_TIME.to_owned(),
    }
}

/// Creates the one-off schedule running `intent` at `at`; returns its name.
pub(crate) async fn schedule_at(
    app: &Tools,
    intent: &Intent,
    at: u64,
) -> Result<String, IntentError> {
    let name = schedule_name(&intent.id, Some(at));
    app.schedules
        .create(&name, &at_expression(at), &worker_input(intent))
        .await?;
    Ok(name)
}

async fn create(app: &Tools, principal: &Principal, body: &[u8]) -> Result<(u16, Value), ApiError> {
    let body: CreateBody =
        serde_json::from_slice(body).map_err(|e| ApiError::Invalid(e.to_string()))?;
    if body
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > MAX_KEY_LEN)
    {
        return Err(ApiError::Invalid(format!(
            "idempotency_key must be 1 to {MAX_KEY_LEN} characters"
        )));
    }
    let now = app.clock.now();
    let when = when(&body, now)?;
    check_call(app, principal, &body).await?;
    let id = intent_id(&principal.agent_id, body.idempotency_key.as_deref());
    let (run_at, cron) = match &when {
        When::At(at) => (Some(*at), None),
        When::Cron(c) => (None, Some(c.clone())),
    };
    let mut intent = Intent {
        idempotency_key: body.idempotency_key.clone().unwrap_or_else(|| id.clone()),
        request_hash: request_hash(&body, &when),
        id,
        agent_id: principal.agent_id.clone(),
        workspace: principal.workspace.clone(),
        user: principal.user.clone(),
        tool: body.tool,
        instance_id: body.instance_id,
        input: body.input,
        run_at,
        cron,
        status: IntentStatus::Scheduled,
        attempts: 0,
        occurrence: 0,
        schedules: Vec::new(),
        last_receipt_id: None,
        last_error_code: None,
        last_error_message: None,
        next_attempt_at: run_at,
        approval_id: None,
        created_at: now,
        updated_at: now,
    };
    intent.schedules = vec![schedule_name(&intent.id, run_at)];
    if !app.intents.create(&intent).await? {
        // The agent's retry of a request it already made: the same intent.
        let existing = app
            .intents
            .get(&intent.agent_id, &intent.id)
            .await?
            .ok_or(ApiError::Conflict)?;
        if existing.request_hash != intent.request_hash {
            return Err(ApiError::IdempotencyConflict(existing.id));
        }
        return Ok((200, view(&existing)));
    }
    let scheduled = match &when {
        When::At(at) => schedule_at(app, &intent, *at).await.map(|_| ()),
        When::Cron(c) => {
            app.schedules
                .create(
                    &schedule_name(&intent.id, None),
                    &format!("cron({c})"),
                    &worker_input(&intent),
                )
                .await
        }
    };
    if let Err(e) = scheduled {
        // Never scheduled: recorded failed (retryable by the agent), not left `scheduled`.
        let mut failed = intent.clone();
        failed.status = IntentStatus::Failed;
        failed.schedules.clear();
        failed.last_error_code = Some("schedule_unavailable".into());
        failed.last_error_message = Some(e.to_string());
        failed.updated_at = now;
        if let Err(e) = app
            .intents
            .replace(&failed, (IntentStatus::Scheduled, 0))
            .await
        {
            tracing::error!(intent = %intent.id, error = %e, "could not mark an unscheduled intent failed");
        }
        return Err(e.into());
    }
    Ok((201, view(&intent)))
}

async fn list(app: &Tools, principal: &Principal) -> Result<(u16, Value), ApiError> {
    let intents = app.intents.list(&principal.agent_id).await?;
    Ok((
        200,
        json!({"intents": intents.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn show(app: &Tools, principal: &Principal, id: &str) -> Result<(u16, Value), ApiError> {
    let intent = app
        .intents
        .get(&principal.agent_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((200, view(&intent)))
}

/// Cancels agent `agent`'s intent `id`: recorded `cancelled` first (a worker claiming it now
/// loses), then its schedules are deleted. The operator's CLI calls this too.
pub async fn cancel(app: &Tools, agent: &str, id: &str) -> Result<Intent, ApiError> {
    let intent = app
        .intents
        .get(agent, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if intent.status.is_terminal() {
        return Err(ApiError::Ended(intent.status));
    }
    let mut cancelled = intent.clone();
    cancelled.status = IntentStatus::Cancelled;
    cancelled.next_attempt_at = None;
    cancelled.updated_at = app.clock.now();
    cancelled.schedules.clear();
    if !app
        .intents
        .replace(&cancelled, (intent.status, intent.occurrence))
        .await?
    {
        return Err(ApiError::Conflict);
    }
    for name in &intent.schedules {
        app.schedules.delete(name).await?;
    }
    Ok(cancelled)
}

/// Schedules agent `agent`'s failed intent `id` again, [`RETRY_LEAD_SECS`] from now, with its
/// attempts counted afresh. The operator's CLI calls this too.
pub async fn retry(app: &Tools, agent: &str, id: &str) -> Result<Intent, ApiError> {
    let intent = app
        .intents
        .get(agent, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if intent.status != IntentStatus::Failed {
        return Err(ApiError::NotFailed(intent.status));
    }
    let now = app.clock.now();
    let at = now + RETRY_LEAD_SECS;
    let mut again = intent.clone();
    again.status = IntentStatus::Scheduled;
    again.attempts = 0;
    again.next_attempt_at = Some(at);
    again.approval_id = None;
    again.updated_at = now;
    again.schedules = vec![schedule_name(&intent.id, Some(at))];
    if !app
        .intents
        .replace(&again, (IntentStatus::Failed, intent.occurrence))
        .await?
    {
        return Err(ApiError::Conflict);
    }
    if let Err(e) = schedule_at(app, &again, at).await {
        let mut failed = again.clone();
        failed.status = IntentStatus::Failed;
        failed.schedules.clear();
        if let Err(e) = app
            .intents
            .replace(&failed, (IntentStatus::Scheduled, again.occurrence))
            .await
        {
            tracing::error!(intent = %id, error = %e, "could not restore a failed intent");
        }
        return Err(e.into());
    }
    Ok(again)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_offs_are_at_expressions_in_utc() {
        assert_eq!(at_expression(1_795_802_400), "at(2026-11-27T18:00:00)");
        assert_eq!(parse_time("2026-11-27T18:00:00Z"), Some(1_795_802_400));
        assert_eq!(parse_time("2026-11-27T19:00:00+01:00"), Some(1_795_802_400));
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn the_same_key_of_the_same_agent_is_the_same_intent() {
        assert_eq!(intent_id("a", Some("k")), intent_id("a", Some("k")));
        assert_ne!(intent_id("a", Some("k")), intent_id("b", Some("k")));
        assert_ne!(intent_id("a", None), intent_id("a", None));
        // Schedule names stay within the scheduler's 64 characters.
        assert!(schedule_name(&intent_id("a", None), Some(u64::from(u32::MAX))).len() <= 64);
    }
}
