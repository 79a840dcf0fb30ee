//! `$connect` and `$disconnect` of the live-events WebSocket.
//!
//! The agent authenticates with a bearer token: an agent token, as on the tool routes
//! ([`connect`]), or, where the host has the MCP endpoint's authenticator, an OIDC access token
//! as on `/mcp` ([`connect_with`] and that authenticator). The token comes in the
//! `Authorization: Bearer` header (servers, CLIs), or in the `token` query parameter, because
//! browsers' `WebSocket` cannot set headers. A query string can end up in access logs, so the header is
//! preferred where the client allows it; API Gateway's execution logs are off in the template.

use std::future::Future;
use switchyard_aws::agents::AgentStore;
use switchyard_aws::live::{
    LiveConnection, LiveConnectionStore, LiveError, Subscriptions, CONNECTION_TTL_SECS,
};

use switchyard_core::identity::Principal;

use crate::auth::{self, AuthError, Credential};

/// What `$connect` is given.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRequest<'a> {
    /// The connection id API Gateway (or the local host) assigned.
    pub connection_id: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `token` query parameter, if any.
    pub token: Option<&'a str>,
    /// The `events` query parameter (`platform` subscribes to PlatformEvents).
    pub events: Option<&'a str>,
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Refused by another authenticator (the MCP endpoint's: OIDC or agent token), with its
    /// status (401, or 503 when it could not check).
    #[error("not authenticated: {reason}")]
    Refused { status: u16, reason: String },
    #[error(transparent)]
    Store(#[from] LiveError),
}

impl ConnectError {
    /// The HTTP status of the refused upgrade: the authenticator's (401/403/503), 503 when the
    /// connection could not be recorded.
    pub fn status(&self) -> u16 {
        match self {
            Self::Auth(e) => e.status(),
            Self::Refused { status, .. } => *status,
            Self::Store(_) => 503,
        }
    }
}

/// The bearer token of a `$connect`: the `Authorization` header's, else the `token` parameter.
pub fn bearer_token<'a>(request: &ConnectRequest<'a>) -> Option<&'a str> {
    request
        .authorization
        .and_then(auth::bearer)
        .or(request.token.filter(|t| !t.is_empty()))
}

/// Authenticates the agent with an agent token and records the connection (TTL
/// [`CONNECTION_TTL_SECS`]). Refused: nothing is recorded.
pub async fn connect(
    agents: &AgentStore,
    live: &LiveConnectionStore,
    request: ConnectRequest<'_>,
    now: u64,
) -> Result<(Principal, LiveConnection), ConnectError> {
    connect_with(live, request, now, |token| async move {
        auth::authenticate(agents, Credential::AgentToken(token), now)
            .await
            .map_err(ConnectError::from)
    })
    .await
}

/// [`connect`] with the host's authenticator: `authenticate` turns the bearer token into the
/// principal (the MCP endpoint's authenticator accepts OIDC access tokens and agent tokens).
pub async fn connect_with<'t, F, Fut>(
    live: &LiveConnectionStore,
    request: ConnectRequest<'t>,
    now: u64,
    authenticate: F,
) -> Result<(Principal, LiveConnection), ConnectError>
where
    F: FnOnce(&'t str) -> Fut,
    Fut: Future<Output = Result<Principal, ConnectError>>,
{
    let token = bearer_token(&request).ok_or(AuthError::Missing)?;
    let principal = authenticate(token).await?;
    let connection = LiveConnection {
        connection_id: request.connection_id.to_owned(),
        agent_id: principal.agent_id.clone(),
        workspace: principal.workspace.clone(),
        subscriptions: Subscriptions::parse(request.events),
        connected_at: now,
        expires_at: now + CONNECTION_TTL_SECS,
    };
    live.put(&connection).await?;
    Ok((principal, connection))
}

/// Forgets the connection (`$disconnect`).
pub async fn disconnect(live: &LiveConnectionStore, connection_id: &str) -> Result<(), LiveError> {
    live.remove(connection_id).await
}
