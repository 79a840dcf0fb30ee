//! `integration.tool_used`: published after each tool call's receipt, for the calling agent.

use switchyard_aws::events::{IntegrationEvent, ToolCall};
use switchyard_aws::instances::Instance;
use tokio::time::Instant;

use crate::receipts::Receipt;
use crate::Tools;

/// Publishes `integration.tool_used` for `receipt` (best effort: the receipt is the record; a
/// lost or late event is logged). Bounded by `deadline`.
pub async fn tool_used(app: &Tools, instance: &Instance, receipt: &Receipt, deadline: Instant) {
    let call = ToolCall {
        tool: receipt.tool.clone(),
        receipt_id: receipt.receipt_id.clone(),
        status: receipt.status.clone(),
        cost: receipt.cost,
        cost_usd: receipt.cost_usd,
    };
    let event = IntegrationEvent::tool_used(instance, &receipt.agent_id, call, app.clock.now());
    match tokio::time::timeout_at(deadline, app.sink.publish_integration(&event)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(tool = %receipt.tool, error = %e, "could not publish integration.tool_used")
        }
        Err(_) => {
            tracing::error!(tool = %receipt.tool, "integration.tool_used ran out of time")
        }
    }
}
