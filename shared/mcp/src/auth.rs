//! Who calls the MCP endpoint: the bearer token of `Authorization`, as an OIDC access token from
//! the configured issuer or as a gateway agent token (`sya_…`), turned into a [`Principal`].
//! Nothing in a request body is identity.

use std::sync::Arc;

use futures::future::BoxFuture;
use switchyard_core::identity::Principal;
use switchyard_ingest::jwks::JwksCache;
use tokio::time::Instant;

use crate::access_token::{self, TokenError};
use crate::settings::Settings;

/// The prefix of gateway-issued agent tokens.
pub const AGENT_TOKEN_PREFIX: &str = "sya_";

/// Looks up gateway-issued agent tokens (the agents table's; wired where the store lives).
pub trait AgentTokenAuthenticator: Send + Sync + std::fmt::Debug {
    /// The agent `token` belongs to; `Ok(None)` for a token that is unknown, expired or revoked.
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AgentTokenError>>;
}

/// The token store could not answer (the request may be retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agent token lookup failed: {0}")]
pub struct AgentTokenError(pub String);

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer token: the client should discover the authorization server and get one.
    #[error("no bearer token")]
    Missing,
    /// A token that does not authenticate an agent here.
    #[error("invalid token: {0}")]
    Invalid(#[from] TokenError),
    /// An agent token that is unknown, expired or revoked, or one this deployment cannot check.
    #[error("agent token not accepted")]
    AgentToken,
    /// A JWT while no issuer is configured.
    #[error("no OIDC issuer is configured")]
    NoIssuer,
    /// The issuer's keys or the token store could not be reached.
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// 401 for a missing or bad credential, 503 when it could not be checked.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            _ => 401,
        }
    }

    /// The `error` of `WWW-Authenticate` (RFC 6750 §3.1): none when no token was sent.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            Self::Missing | Self::Unavailable(_) => None,
            _ => Some("invalid_token"),
        }
    }
}

/// Turns bearer tokens into principals.
pub struct Authenticator {
    jwks: JwksCache,
    agent_tokens: Option<Arc<dyn AgentTokenAuthenticator>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("agent_tokens", &self.agent_tokens.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Accepts OIDC access tokens (when `settings` names an issuer) and, with `agent_tokens`,
    /// agent tokens.
    pub fn new(agent_tokens: Option<Arc<dyn AgentTokenAuthenticator>>) -> Self {
        Self {
            jwks: JwksCache::new(None),
            agent_tokens,
        }
    }

    /// The principal of an `Authorization` header value, checked by `deadline`.
    pub async fn authenticate(
        &self,
        settings: &Settings,
        authorization: Option<&str>,
        deadline: Instant,
    ) -> Result<Principal, AuthError> {
        let token = bearer(authorization).ok_or(AuthError::Missing)?;
        if token.starts_with(AGENT_TOKEN_PREFIX) {
            let store = self.agent_tokens.as_ref().ok_or(AuthError::AgentToken)?;
            return match tokio::time::timeout_at(deadline, store.authenticate(token)).await {
                Ok(Ok(Some(principal))) => Ok(principal),
                Ok(Ok(None)) => Err(AuthError::AgentToken),
                Ok(Err(e)) => Err(AuthError::Unavailable(e.to_string())),
                Err(_) => Err(AuthError::Unavailable(
                    "agent token lookup timed out".into(),
                )),
            };
        }
        let issuer = settings.issuer.as_ref().ok_or(AuthError::NoIssuer)?;
        let parsed = switchyard_providers::jwt::parse(token).map_err(TokenError::from)?;
        let keys = self
            .jwks
            .keys_for(&issuer.jwks_url, &parsed.kid, deadline)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(access_token::principal_of(
            token, &keys, issuer, settings, now,
        )?)
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::identity::AuthMethod;

    /// Agent tokens in memory: the store the lead wires is the agents table's.
    #[derive(Debug)]
    struct Tokens(Vec<(&'static str, Principal)>);

    impl AgentTokenAuthenticator for Tokens {
        fn authenticate<'a>(
            &'a self,
            token: &'a str,
        ) -> BoxFuture<'a, Result<Option<Principal>, AgentTokenError>> {
            Box::pin(async move {
                Ok(self
                    .0
                    .iter()
                    .find(|(t, _)| *t == token)
                    .map(|(_, p)| p.clone()))
            })
        }
    }

    #[derive(Debug)]
    struct Down;

    impl AgentTokenAuthenticator for Down {
        fn authenticate<'a>(
            &'a self,
            _token: &'a str,
        ) -> BoxFuture<'a, Result<Option<Principal>, AgentTokenError>> {
            Box::pin(async { Err(AgentTokenError("table unavailable".into())) })
        }
    }

    fn settings() -> Settings {
        Settings::from_values(Some("https://gw.example.com/mcp"), None, None, None, None)
            .expect("settings")
    }

    fn agent() -> Principal {
        Principal {
            agent_id: "agent-1".into(),
            workspace: "ws-1".into(),
            user: None,
            method: AuthMethod::AgentToken,
        }
    }

    fn deadline() -> Instant {
        Instant::now() + std::time::Duration::from_secs(5)
    }

    #[tokio::test]
    async fn an_agent_token_authenticates_its_agent_and_an_unknown_one_is_invalid() {
        let auth = Authenticator::new(Some(Arc::new(Tokens(vec![("sya_good", agent())]))));
        let s = settings();
        let principal = auth
            .authenticate(&s, Some("Bearer sya_good"), deadline())
            .await
            .expect("principal");
        assert_eq!(principal, agent());
        let lower = auth
            .authenticate(&s, Some("bearer sya_good"), deadline())
            .await;
        assert!(lower.is_ok());
        let unknown = auth
            .authenticate(&s, Some("Bearer sya_other"), deadline())
            .await
            .expect_err("unknown");
        assert!(matches!(unknown, AuthError::AgentToken));
        assert_eq!(unknown.bearer_error(), Some("invalid_token"));
    }

    #[tokio::test]
    async fn no_token_is_missing_and_a_down_store_is_unavailable() {
        let s = settings();
        let auth = Authenticator::new(Some(Arc::new(Down)));
        for header in [None, Some("Basic abc"), Some("Bearer "), Some("Bearer")] {
            let e = auth
                .authenticate(&s, header, deadline())
                .await
                .expect_err("refused");
            assert!(matches!(e, AuthError::Missing), "{header:?}");
            assert_eq!((e.status(), e.bearer_error()), (401, None));
        }
        let e = auth
            .authenticate(&s, Some("Bearer sya_x"), deadline())
            .await
            .expect_err("down");
        assert_eq!(e.status(), 503);
    }

    #[tokio::test]
    async fn agent_tokens_are_refused_without_a_store_and_jwts_without_an_issuer() {
        let s = settings();
        let auth = Authenticator::new(None);
        assert!(matches!(
            auth.authenticate(&s, Some("Bearer sya_x"), deadline())
                .await,
            Err(AuthError::AgentToken)
        ));
        assert!(matches!(
            auth.authenticate(&s, Some("Bearer a.b.c"), deadline())
                .await,
            Err(AuthError::NoIssuer)
        ));
    }
}
