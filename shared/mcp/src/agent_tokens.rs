//! Agent tokens (`sya_…`) checked against the agents table: the same check as the tool routes
//! (`switchyard_tools::auth::authenticate_agent_token`), behind the MCP endpoint's
//! [`AgentTokenAuthenticator`].

use futures::future::BoxFuture;
use switchyard_aws::agents::AgentStore;
use switchyard_core::clock::Clock;
use switchyard_core::identity::Principal;
use switchyard_tools::auth::{authenticate_agent_token, AuthError};

use crate::auth::{AgentTokenAuthenticator, AgentTokenError};

/// The agents table's tokens.
#[derive(Debug, Clone)]
pub struct AgentsTableTokens {
    agents: AgentStore,
    clock: Clock,
}

impl AgentsTableTokens {
    pub fn new(agents: AgentStore, clock: Clock) -> Self {
        Self { agents, clock }
    }
}

impl AgentTokenAuthenticator for AgentsTableTokens {
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AgentTokenError>> {
        Box::pin(async move {
            match authenticate_agent_token(&self.agents, token, self.clock.now()).await {
                Ok(principal) => Ok(Some(principal)),
                Err(AuthError::Unavailable(detail)) => Err(AgentTokenError(detail)),
                // Unknown, expired, revoked, or a disabled agent: not accepted here.
                Err(_) => Ok(None),
            }
        })
    }
}
