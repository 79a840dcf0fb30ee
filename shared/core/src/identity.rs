//! Who is calling, as established by authentication, never by a request body.
//!
//! Every route that runs a tool or reads an agent's data turns its credential (an IAM principal,
//! an agent token, an OIDC access token) into a [`Principal`] first; an `agent_id` in the body is
//! then only checked against it.

/// The authenticated caller of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The agent that authenticated.
    pub agent_id: String,
    /// The workspace the agent belongs to; it reaches only that workspace's instances.
    pub workspace: String,
    /// The person the agent acts for, when the credential says so (an OIDC token's subject).
    pub user: Option<String>,
    /// How the caller authenticated.
    pub method: AuthMethod,
}

/// The credential a [`Principal`] was established from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A SigV4-signed request or a direct Lambda invoke by an IAM principal mapped to the agent.
    Iam,
    /// A gateway-issued agent token (stored only as a hash).
    AgentToken,
    /// An access token from the configured OIDC issuer, bound to this resource.
    Oidc,
}
