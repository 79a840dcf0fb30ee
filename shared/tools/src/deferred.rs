//! Deferred tool calls: what background jobs ([`crate::jobs`]) and approval gates
//! ([`crate::approvals`]) share.
//!
//! - [`defer`]: the pipeline's branch: a gated call is held for approval, a background call is
//!   queued; either way the agent is answered at once and nothing reaches the provider.
//! - [`record_id`]: a deferred record's id, derived from the agent's idempotency key when it
//!   gave one, so a retry of the same call finds its record instead of deferring it twice.
//! - [`handle_batch`]: the media worker: each `JobsQueue` message names a record; its runner
//!   re-enters the pipeline ([`crate::invoke_resumed`]) under an idempotency key, so a message
//!   delivered twice, or two runners at once, reach the provider once.
//! - [`notify`]: the outcome as a PlatformEvent to the agent on the bus.

use serde_json::Value;
use sha2::{Digest, Sha256};
use switchyard_aws::deferred::{DeferredMessage, RecordError};
use switchyard_aws::events::{self as agent_events, PlatformEvent, Source, PLATFORM_EVENT_VERSION};
use switchyard_aws::sink::Group;
use switchyard_core::clock::rfc3339;
use switchyard_core::policy::Place;
use tokio::time::Instant;

use crate::definitions::Method;
use crate::idempotency::IdempotencyKey;
use crate::instances::Instance;
use crate::{ErrorCode, ToolError, ToolRequest, ToolResponse, Tools};

/// Who entered the pipeline, beyond the request: the authenticated user (kept on an approval),
/// and whether this is a deferred call coming back (never deferred again).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Entry<'a> {
    pub user: Option<&'a str>,
    pub resumed: bool,
}

/// The answer that defers the call, if it must be deferred: held for approval first (a gated
/// background call is queued when it is approved and runs then), else queued as a job.
pub(crate) async fn defer(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    request: &ToolRequest,
    entry: Entry<'_>,
) -> Option<ToolResponse> {
    if entry.resumed {
        return None;
    }
    if let Some(answer) = crate::approvals::gate(app, method, instance, request, entry.user).await {
        return Some(answer);
    }
    crate::jobs::queue_if_background(app, method, instance, request).await
}

/// The id of a deferred record (`<prefix>_<32 hex>`) and the hash of the request it stands for.
/// With the agent's idempotency key the id is derived from it (namespaced like the key itself),
/// so the same call retried maps to the same record; without one it is random.
pub(crate) fn record_id(
    prefix: &str,
    instance: &Instance,
    tool: &str,
    request: &ToolRequest,
) -> (String, String) {
    let scoped = IdempotencyKey::new(
        &instance.id,
        tool,
        &request.agent_id,
        request.idempotency_key.as_deref().unwrap_or_default(),
        &request.input,
    );
    let id = match &request.idempotency_key {
        Some(_) => hex::encode(Sha256::digest(scoped.key.as_bytes()))[..32].to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    (format!("{prefix}_{id}"), scoped.request_hash)
}

/// The answer to a call whose deferred record could not be stored or read.
pub(crate) fn unavailable(e: &RecordError) -> ToolResponse {
    crate::fail(ToolError::unavailable(e.to_string()))
}

/// The answer to a retry whose idempotency key names a deferred call with another input.
pub(crate) fn conflict(id: &str) -> ToolResponse {
    crate::fail(ToolError::new(
        ErrorCode::IdempotencyConflict,
        format!("this idempotency key already deferred another request ({id})"),
        false,
    ))
}

/// Publishes one outcome to `agent` on the bus: type `event_type`, the record's id as the work
/// item, `payload` as the event's payload. The event id is derived from the record and the
/// type, so a republish after a crash is the same event (agents dedup on `event_id`).
pub(crate) async fn notify(
    app: &Tools,
    instance: &Instance,
    agent: &str,
    record_id: &str,
    event_type: &str,
    payload: Value,
) -> Result<(), switchyard_aws::sink::SinkError> {
    let mut h = Sha256::new();
    h.update(record_id.as_bytes());
    h.update([0]);
    h.update(event_type.as_bytes());
    let event = PlatformEvent {
        schema_version: PLATFORM_EVENT_VERSION,
        event_id: format!("evt_{}", &hex::encode(h.finalize())[..32]),
        event_type: event_type.to_owned(),
        topic: agent_events::topic(&instance.provider, &instance.workspace, event_type),
        time: rfc3339(app.clock.now()),
        source: Source {
            provider: instance.provider.clone(),
            instance_id: instance.id.clone(),
            workspace: instance.workspace.clone(),
        },
        agent_id: agent.to_owned(),
        work_item_id: record_id.to_owned(),
        place: Place::Resource,
        channel: None,
        attributes: Default::default(),
        reply: Value::Null,
        payload,
        payload_ref: None,
    };
    let events = [event];
    let group = Group {
        work_item_id: record_id,
        events: &events,
    };
    app.sink.publish(&[group]).await.pop().unwrap_or(Ok(()))
}

/// One message of a `JobsQueue` batch.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub body: String,
}

/// Whether a message is done with (delete it) or must come back (a batch item failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Done,
    Retry,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub done: usize,
    /// Message ids to report as batch item failures (they are redelivered).
    pub failed: Vec<String>,
}

/// Runs one batch of `JobsQueue` messages, one after the other, each bounded by `deadline`.
/// A message that is not a [`DeferredMessage`] is dropped (logged): redelivering it cannot
/// help, and the DLQ is for messages that might.
pub async fn handle_batch(app: &Tools, records: &[Record], deadline: Instant) -> BatchReport {
    let mut report = BatchReport::default();
    for record in records {
        let handled = match serde_json::from_str::<DeferredMessage>(&record.body) {
            Ok(DeferredMessage::Job { id }) => crate::jobs::run(app, &id, deadline).await,
            Ok(DeferredMessage::Approval { id }) => {
                crate::approvals::execute(app, &id, deadline).await
            }
            Ok(DeferredMessage::Decision { via, decision }) => {
                crate::approvals::decided_in_chat(app, &via, &decision).await
            }
            Err(e) => {
                tracing::error!(message_id = %record.message_id, error = %e, "not a deferred-call message; dropped");
                Handled::Done
            }
        };
        match handled {
            Handled::Done => report.done += 1,
            Handled::Retry => report.failed.push(record.message_id.clone()),
        }
    }
    report
}
