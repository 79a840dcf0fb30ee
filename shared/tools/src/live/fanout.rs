//! The fan-out: one agent-bus event to the open connections of the agents it is for.
//!
//! Which agents an event is for comes from the event as the gateway published it, never from a
//! client: a PlatformEvent names its `agent_id`; an integration event names one
//! (`integration.tool_used`: the caller) or else is for every agent granted on its instance.

use std::future::Future;
use std::pin::Pin;

use serde::Deserialize;
use serde_json::Value;
use switchyard_aws::instances::{InstanceError, InstanceStore};
use switchyard_aws::live::{LiveConnection, LiveConnectionStore, LiveError};
use tokio::time::Instant;

/// Source of integration events on the agent bus.
pub const INTEGRATION_SOURCE: &str = "switchyard.integration";

/// Why a post to one connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The client is gone (API Gateway's 410): the connection is pruned.
    #[error("connection gone")]
    Gone,
    /// Anything else (throttled, unreachable): logged, the connection is kept.
    #[error("post failed: {0}")]
    Failed(String),
}

/// Where a message for one connection goes: API Gateway's `PostToConnection` in Lambda,
/// in-process channels on the local host.
pub trait ConnectionSink: Send + Sync {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        message: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Result<(), PostError>> + Send + 'a>>;
}

/// An EventBridge event as a rule target receives it (Lambda's event, an SQS target's body).
#[derive(Debug, Clone, Deserialize)]
pub struct BusEvent {
    pub source: String,
    #[serde(rename = "detail-type", default)]
    pub detail_type: String,
    #[serde(default)]
    pub detail: Value,
}

/// Why a fan-out failed as a whole (retried by EventBridge's target retry policy).
#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error(transparent)]
    Connections(#[from] LiveError),
    #[error(transparent)]
    Instances(#[from] InstanceError),
    #[error("the fan-out ran out of time after {delivered} posts")]
    Timeout { delivered: usize },
}

/// What one fan-out did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FanOutReport {
    pub delivered: usize,
    pub pruned: usize,
    pub failed: usize,
}

/// The kind of event, which decides which connections get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Every connection of the agent.
    Integration,
    /// Connections subscribed with `events=platform`.
    Platform,
}

/// The agents `event` is for, and its kind; empty for events that are not ours.
async fn recipients(
    instances: &InstanceStore,
    event: &BusEvent,
) -> Result<(Kind, Vec<String>), InstanceError> {
    let named = event
        .detail
        .get("agent_id")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if event.source == INTEGRATION_SOURCE {
        if let Some(agent) = named {
            return Ok((Kind::Integration, vec![agent]));
        }
        let instance_id = event
            .detail
            .pointer("/source/instance_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if instance_id.is_empty() {
            return Ok((Kind::Integration, Vec::new()));
        }
        let agents = instances
            .get(instance_id)
            .await?
            .map(|i| i.grants.into_keys().collect())
            .unwrap_or_default();
        return Ok((Kind::Integration, agents));
    }
    if event.source.starts_with("switchyard.") {
        return Ok((Kind::Platform, named.into_iter().collect()));
    }
    Ok((Kind::Platform, Vec::new()))
}

/// Posts `event`'s detail to every open connection of the agents it is for (PlatformEvents only
/// to connections subscribed to them); prunes connections the sink reports gone. Bounded by
/// `deadline`: what is not posted by then is reported as a timeout.
pub async fn fan_out(
    instances: &InstanceStore,
    connections: &LiveConnectionStore,
    sink: &dyn ConnectionSink,
    event: &BusEvent,
    now: u64,
    deadline: Instant,
) -> Result<FanOutReport, FanOutError> {
    let mut report = FanOutReport::default();
    let timeout = |report: &FanOutReport| FanOutError::Timeout {
        delivered: report.delivered,
    };
    let (kind, agents) = tokio::time::timeout_at(deadline, recipients(instances, event))
        .await
        .map_err(|_| timeout(&report))??;
    if agents.is_empty() {
        return Ok(report);
    }
    let message = serde_json::to_vec(&event.detail).unwrap_or_default();
    for agent in agents {
        let open = tokio::time::timeout_at(deadline, connections.for_agent(&agent, now))
            .await
            .map_err(|_| timeout(&report))??;
        for connection in open.iter().filter(|c| wants(c, kind)) {
            let posted =
                tokio::time::timeout_at(deadline, sink.post(&connection.connection_id, &message))
                    .await
                    .map_err(|_| timeout(&report))?;
            match posted {
                Ok(()) => report.delivered += 1,
                Err(PostError::Gone) => {
                    prune(connections, connection, deadline).await;
                    report.pruned += 1;
                }
                Err(PostError::Failed(why)) => {
                    tracing::warn!(connection_id = %connection.connection_id, error = %why, "live event post failed");
                    report.failed += 1;
                }
            }
        }
    }
    Ok(report)
}

fn wants(connection: &LiveConnection, kind: Kind) -> bool {
    match kind {
        Kind::Integration => true,
        Kind::Platform => connection.subscriptions.platform,
    }
}

/// Forgets a gone connection (best effort: its TTL removes it anyway).
async fn prune(connections: &LiveConnectionStore, connection: &LiveConnection, deadline: Instant) {
    match tokio::time::timeout_at(deadline, connections.remove_known(connection)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(connection_id = %connection.connection_id, error = %e, "could not prune a gone connection")
        }
        Err(_) => {
            tracing::warn!(connection_id = %connection.connection_id, "pruning a gone connection ran out of time")
        }
    }
}
