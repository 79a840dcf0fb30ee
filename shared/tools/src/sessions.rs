//! The sessions API: `POST /sessions`, `GET /sessions/{id}`, `POST /sessions/{id}/checkpoints`,
//! `POST /sessions/{id}/resume` and `POST /sessions/{id}/status`.
//!
//! The owning agent and workspace come from the authenticated [`Principal`], never from the body;
//! another agent's session answers 404 exactly like a missing one, so ids reveal nothing.
//! Handlers take the body bytes and return an [`ApiReply`], so the Lambda and the local host
//! stay thin adapters.

use serde::Deserialize;
use serde_json::{json, Value};

use switchyard_aws::sessions::{Session, SessionError, SessionStatus};
use switchyard_core::identity::Principal;

use crate::Tools;

/// The largest context a session holds, serialized. Sessions are read on every resume and
/// render; a bigger state belongs in a checkpoint or an artifact.
pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;
/// The largest checkpoint state, serialized (DynamoDB items cap at 400 KB).
pub const MAX_STATE_BYTES: usize = 256 * 1024;
/// The longest group id.
pub const MAX_GROUP_ID_LEN: usize = 128;

/// A status and JSON body, for either adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiReply {
    pub status: u16,
    pub body: Value,
}

impl ApiReply {
    fn ok(status: u16, body: Value) -> Self {
        Self { status, body }
    }
}

/// Why a sessions request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("session not found")]
    NotFound,
    #[error("checkpoint {given} is not the next one: the session is at {current}")]
    StaleCheckpoint { given: u64, current: u64 },
    #[error("the session is {}: it takes no more changes", .0.as_str())]
    Ended(SessionStatus),
    #[error("the session changed concurrently; read it and retry")]
    Conflict,
    #[error("session store unavailable")]
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::TooLarge { .. } => 413,
            Self::NotFound => 404,
            Self::StaleCheckpoint { .. } | Self::Ended(_) | Self::Conflict => 409,
            Self::Unavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::TooLarge { .. } => "too_large",
            Self::NotFound => "not_found",
            Self::StaleCheckpoint { .. } => "stale_checkpoint",
            Self::Ended(_) => "session_ended",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn reply(&self) -> ApiReply {
        let mut error = json!({"code": self.code(), "message": self.to_string()});
        match self {
            Self::StaleCheckpoint { current, .. } => error["current"] = json!(current),
            Self::TooLarge { limit, .. } => error["limit"] = json!(limit),
            Self::Ended(status) => error["status"] = json!(status),
            _ => {}
        }
        ApiReply::ok(self.status(), json!({ "error": error }))
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound(_) => Self::NotFound,
            SessionError::StaleCheckpoint { given, current } => {
                Self::StaleCheckpoint { given, current }
            }
            SessionError::Ended(status) => Self::Ended(status),
            SessionError::Conflict | SessionError::AlreadyExists(_) => Self::Conflict,
            SessionError::Unavailable(_) | SessionError::Corrupt { .. } => {
                tracing::error!(error = %e, "session store failed");
                Self::Unavailable
            }
        }
    }
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::Invalid(e.to_string()))
}

fn capped(what: &'static str, value: &Value, limit: usize) -> Result<(), ApiError> {
    let size = value.to_string().len();
    if size > limit {
        Err(ApiError::TooLarge { what, size, limit })
    } else {
        Ok(())
    }
}

fn view(session: &Session) -> Value {
    json!({
        "id": session.id,
        "agent_id": session.agent_id,
        "workspace": session.workspace,
        "status": session.status,
        "context": session.context,
        "group_id": session.group_id,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "last_checkpoint": session.last_checkpoint,
    })
}

fn done(result: Result<ApiReply, ApiError>) -> ApiReply {
    result.unwrap_or_else(|e| e.reply())
}

/// The body of `POST /sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    group_id: Option<String>,
    /// Accepted only when it names the authenticated agent.
    #[serde(default)]
    agent_id: Option<String>,
}

/// `POST /sessions`: a new running session of the principal.
pub async fn create(app: &Tools, principal: &Principal, body: &[u8]) -> ApiReply {
    done(create_inner(app, principal, body).await)
}

async fn create_inner(
    app: &Tools,
    principal: &Principal,
    body: &[u8],
) -> Result<ApiReply, ApiError> {
    let body: CreateBody = parse(body)?;
    if body
        .agent_id
        .as_deref()
        .is_some_and(|a| a != principal.agent_id)
    {
        return Err(ApiError::Invalid(
            "agent_id is not the authenticated agent".into(),
        ));
    }
    let context = body.context.unwrap_or_else(|| json!({}));
    if !context.is_object() {
        return Err(ApiError::Invalid("context must be a JSON object".into()));
    }
    capped("context", &context, MAX_CONTEXT_BYTES)?;
    if let Some(group) = &body.group_id {
        if group.is_empty() || group.len() > MAX_GROUP_ID_LEN || group.chars().any(char::is_control)
        {
            return Err(ApiError::Invalid(format!(
                "group_id must be 1-{MAX_GROUP_ID_LEN} characters without control characters"
            )));
        }
    }
    let now = app.clock.now();
    let session = Session {
        id: format!("ses_{}", uuid::Uuid::new_v4().simple()),
        agent_id: principal.agent_id.clone(),
        workspace: principal.workspace.clone(),
        status: SessionStatus::Running,
        context,
        group_id: body.group_id,
        created_at: now,
        updated_at: now,
        last_checkpoint: 0,
    };
    app.sessions.create(&session).await?;
    Ok(ApiReply::ok(201, view(&session)))
}

/// The principal's session `id`; another agent's is not found.
pub async fn owned(app: &Tools, principal: &Principal, id: &str) -> Result<Session, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::NotFound);
    }
    match app.sessions.get(id).await? {
        Some(s) if s.agent_id == principal.agent_id && s.workspace == principal.workspace => Ok(s),
        _ => Err(ApiError::NotFound),
    }
}

/// `GET /sessions/{id}`.
pub async fn get(app: &Tools, principal: &Principal, id: &str) -> ApiReply {
    done(
        owned(app, principal, id)
            .await
            .map(|s| ApiReply::ok(200, view(&s))),
    )
}

/// The body of `POST /sessions/{id}/checkpoints`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointBody {
    number: u64,
    state: Value,
}

/// `POST /sessions/{id}/checkpoints`: appends checkpoint `number`, which must be the session's
/// last plus one (409 `stale_checkpoint` with the current number otherwise).
pub async fn checkpoint(app: &Tools, principal: &Principal, id: &str, body: &[u8]) -> ApiReply {
    done(checkpoint_inner(app, principal, id, body).await)
}

async fn checkpoint_inner(
    app: &Tools,
    principal: &Principal,
    id: &str,
    body: &[u8],
) -> Result<ApiReply, ApiError> {
    let body: CheckpointBody = parse(body)?;
    if body.number == 0 {
        return Err(ApiError::Invalid("checkpoint numbers start at 1".into()));
    }
    capped("state", &body.state, MAX_STATE_BYTES)?;
    owned(app, principal, id).await?;
    let written = app
        .sessions
        .append_checkpoint(id, body.number, &body.state, app.clock.now())
        .await?;
    Ok(ApiReply::ok(
        201,
        json!({"session_id": id, "number": written.number, "state": written.state, "created_at": written.created_at}),
    ))
}

/// `POST /sessions/{id}/resume`: the last checkpoint (null before the first), and a paused
/// session back to running.
pub async fn resume(app: &Tools, principal: &Principal, id: &str) -> ApiReply {
    done(resume_inner(app, principal, id).await)
}

async fn resume_inner(app: &Tools, principal: &Principal, id: &str) -> Result<ApiReply, ApiError> {
    let mut session = owned(app, principal, id).await?;
    if session.status.is_terminal() {
        return Err(ApiError::Ended(session.status));
    }
    if session.status == SessionStatus::Paused {
        let now = app.clock.now();
        app.sessions
            .set_status(id, SessionStatus::Paused, SessionStatus::Running, now)
            .await?;
        session.status = SessionStatus::Running;
        session.updated_at = now;
    }
    let checkpoint = match session.last_checkpoint {
        0 => None,
        last => app.sessions.checkpoint(id, last).await?,
    };
    Ok(ApiReply::ok(
        200,
        json!({"session": view(&session), "checkpoint": checkpoint}),
    ))
}

/// The body of `POST /sessions/{id}/status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: SessionStatus,
}

/// `POST /sessions/{id}/status`: running and paused move freely; completed and failed end the
/// session (a change after that is 409 `session_ended`).
pub async fn set_status(app: &Tools, principal: &Principal, id: &str, body: &[u8]) -> ApiReply {
    done(set_status_inner(app, principal, id, body).await)
}

async fn set_status_inner(
    app: &Tools,
    principal: &Principal,
    id: &str,
    body: &[u8],
) -> Result<ApiReply, ApiError> {
    let body: StatusBody = parse(body)?;
    let mut session = owned(app, principal, id).await?;
    if session.status.is_terminal() {
        return Err(ApiError::Ended(session.status));
    }
    let now = app.clock.now();
    app.sessions
        .set_status(id, session.status, body.status, now)
        .await?;
    session.status = body.status;
    session.updated_at = now;
    Ok(ApiReply::ok(200, view(&session)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_context_is_too_large_naming_the_cap() {
        let context = json!({"blob": "x".repeat(MAX_CONTEXT_BYTES)});
        let e = capped("context", &context, MAX_CONTEXT_BYTES).expect_err("over the cap");
        assert_eq!(e.status(), 413);
        assert_eq!(e.reply().body["error"]["limit"], json!(MAX_CONTEXT_BYTES));
        assert!(e.to_string().contains(&MAX_CONTEXT_BYTES.to_string()));
        assert!(capped("context", &json!({"a": 1}), MAX_CONTEXT_BYTES).is_ok());
    }

    #[test]
    fn a_stale_checkpoint_says_the_current_number() {
        let reply = ApiError::StaleCheckpoint {
            given: 3,
            current: 3,
        }
        .reply();
        assert_eq!(reply.status, 409);
        assert_eq!(reply.body["error"]["current"], 3);
        assert_eq!(reply.body["error"]["code"], "stale_checkpoint");
    }
}
