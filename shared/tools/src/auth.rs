//! Who is calling: a credential in, a [`Principal`] out, before any tool or discovery runs.
//!
//! Credentials, by route:
//! - **Agent tokens** (`Authorization: Bearer sya_…`, or `agent_token` in a direct invoke's
//!   payload): looked up by their SHA-256 (the only form stored), the hash compared in constant
//!   time, then expiry, revocation and the agent's status checked.
//! - **IAM principals**: API Gateway's IAM authorizer verified the SigV4 signature and put the
//!   caller's ARN in the request context (`requestContext.authorizer.iam.userArn`, HTTP API
//!   payload 2.0); the agents table maps it to an agent.
//!
//! A request body never says who is calling: an `agent_id` in it is only compared with the
//! principal (see [`crate::invoke_as`]).

use switchyard_aws::agents::{token_hash, AgentError, AgentStatus, AgentStore, TOKEN_PREFIX};
use switchyard_core::identity::{AuthMethod, Principal};

/// Why a credential was not accepted. Every variant but [`AuthError::Unavailable`] is the
/// caller's: 401 (no or bad credential) or 403 (a known agent that may not call now).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credential: send an agent token (Authorization: Bearer sya_...) or an IAM-signed request")]
    Missing,
    #[error("not an agent token")]
    Malformed,
    #[error("unknown agent token")]
    UnknownToken,
    #[error("the agent token expired")]
    Expired,
    #[error("the agent token was revoked")]
    Revoked,
    #[error("the IAM principal is not mapped to an agent")]
    UnmappedPrincipal,
    #[error("the agent is not registered")]
    UnknownAgent,
    #[error("the agent is disabled")]
    AgentDisabled,
    #[error("the agent store is unavailable")]
    Unavailable(String),
}

impl AuthError {
    /// The HTTP status of a refused request.
    pub fn status(&self) -> u16 {
        match self {
            Self::AgentDisabled => 403,
            Self::Unavailable(_) => 503,
            _ => 401,
        }
    }

    /// The stable code in the answer's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AgentDisabled => "forbidden",
            Self::Unavailable(_) => "unavailable",
            _ => "unauthenticated",
        }
    }

    /// The JSON answer of a refused request (the store's detail stays in the logs).
    pub fn body(&self) -> serde_json::Value {
        let message = match self {
            Self::Unavailable(_) => "the agent store is unavailable; retry later".to_owned(),
            other => other.to_string(),
        };
        serde_json::json!({
            "ok": false,
            "error": {"code": self.code(), "message": message, "retryable": matches!(self, Self::Unavailable(_))},
        })
    }
}

impl From<AgentError> for AuthError {
    fn from(e: AgentError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// A credential as a route received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// An agent token (with or without the `Bearer ` scheme).
    AgentToken(&'a str),
    /// The ARN of an IAM principal whose signature API Gateway verified.
    Iam(&'a str),
}

/// The agent token of an `Authorization` header value, if it is one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticates `credential` at `now` (unix seconds).
pub async fn authenticate(
    agents: &AgentStore,
    credential: Credential<'_>,
    now: u64,
) -> Result<Principal, AuthError> {
    match credential {
        Credential::AgentToken(token) => authenticate_agent_token(agents, token, now).await,
        Credential::Iam(arn) => authenticate_iam(agents, arn).await,
    }
}

/// The principal of an agent token (`sya_…`, optionally prefixed with `Bearer `): the token's
/// hash must be stored, unexpired and unrevoked, and its agent active. For every route that
/// accepts agent tokens, the MCP endpoint included.
pub async fn authenticate_agent_token(
    agents: &AgentStore,
    bearer_token: &str,
    now: u64,
) -> Result<Principal, AuthError> {
    let token = bearer(bearer_token).unwrap_or(bearer_token.trim());
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(AuthError::Malformed);
    }
    let hash = token_hash(token);
    let record = agents
        .token_by_hash(&hash)
        .await?
        .ok_or(AuthError::UnknownToken)?;
    // The lookup found the hash by key; compare it once more without early exit, so the answer
    // does not depend on how much of a guessed hash matched.
    use subtle::ConstantTimeEq;
    if !bool::from(record.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(AuthError::UnknownToken);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if record.expires_at <= now {
        return Err(AuthError::Expired);
    }
    principal_of(agents, &record.agent_id, AuthMethod::AgentToken).await
}

/// The principal of an IAM principal ARN that API Gateway authenticated.
pub async fn authenticate_iam(agents: &AgentStore, arn: &str) -> Result<Principal, AuthError> {
    if arn.is_empty() {
        return Err(AuthError::Missing);
    }
    let agent = agents
        .agent_for_iam(arn)
        .await?
        .ok_or(AuthError::UnmappedPrincipal)?;
    principal_of(agents, &agent, AuthMethod::Iam).await
}

async fn principal_of(
    agents: &AgentStore,
    agent_id: &str,
    method: AuthMethod,
) -> Result<Principal, AuthError> {
    let agent = agents
        .agent(agent_id)
        .await?
        .ok_or(AuthError::UnknownAgent)?;
    if agent.status != AgentStatus::Active {
        return Err(AuthError::AgentDisabled);
    }
    Ok(Principal {
        agent_id: agent.id,
        workspace: agent.workspace,
        user: None,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_reads_the_scheme_case_insensitively() {
        assert_eq!(bearer("Bearer sya_abc"), Some("sya_abc"));
        assert_eq!(bearer("bearer   sya_abc "), Some("sya_abc"));
        assert_eq!(bearer("Basic dXNlcg=="), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("sya_abc"), None);
    }

    #[test]
    fn refusals_are_401_unless_the_agent_is_known_and_disabled() {
        assert_eq!(AuthError::Expired.status(), 401);
        assert_eq!(AuthError::Revoked.code(), "unauthenticated");
        assert_eq!(AuthError::AgentDisabled.status(), 403);
        assert_eq!(AuthError::Unavailable("x".into()).status(), 503);
        assert!(!AuthError::Unavailable("secret detail".into())
            .body()
            .to_string()
            .contains("secret detail"));
    }
}
