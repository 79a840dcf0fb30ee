//! The live-events WebSocket's `$connect` with the MCP endpoint's authenticator: what `/mcp`
//! accepts (an OIDC access token bound to the MCP resource, its client mapped to an agent by
//! `SWITCHYARD_MCP_CLIENTS`, or an agent token) opens a socket as that agent. One function for
//! the local host and the `ws-connect` Lambda, so both accept exactly the same credentials.

use switchyard_aws::live::{LiveConnection, LiveConnectionStore};
use switchyard_core::identity::Principal;
use switchyard_tools::live::{connect_with, ConnectError, ConnectRequest};
use tokio::time::Instant;

use crate::Mcp;

/// Authenticates the `$connect` (header or `token` parameter) with `mcp`'s authenticator by
/// `deadline` and records the connection. Refused: nothing is recorded.
pub async fn connect(
    mcp: &Mcp,
    live: &LiveConnectionStore,
    request: ConnectRequest<'_>,
    now: u64,
    deadline: Instant,
) -> Result<(Principal, LiveConnection), ConnectError> {
    connect_with(live, request, now, |token| async move {
        let header = format!("Bearer {token}");
        mcp.authenticate(Some(&header), deadline)
            .await
            .map_err(|e| ConnectError::Refused {
                status: e.status(),
                reason: e.to_string(),
            })
    })
    .await
}
