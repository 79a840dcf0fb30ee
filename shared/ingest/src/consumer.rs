//! The ingress consumer: WorkItems in, PlatformEvents out, with Lambda's partial batch failures.
//!
//! For each record: parse the WorkItem (a poison message fails and, after the queue's
//! `maxReceiveCount`, lands in the DLQ), take the processing lease in the deliveries table (a
//! redelivered message whose outcome is recorded publishes nothing), load the instance and the
//! payload, normalize, apply each granted agent's trigger policy, publish, record the outcome.
//! Only failed records are reported back, so one bad message does not replay its batch.

use crate::deliveries::{Begin, Outcome};
use crate::events::for_agents;
use crate::workitem::WorkItem;
use crate::Consumer;

/// One queue message.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub body: String,
}

/// Why a record failed (it stays on the queue and is retried).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("poison message: {0}")]
    Poison(#[from] crate::workitem::WorkItemError),
    #[error("another consumer is processing {0}")]
    InFlight(String),
    #[error(transparent)]
    Deliveries(#[from] crate::deliveries::DeliveryError),
    #[error(transparent)]
    Instances(#[from] crate::instances::InstanceError),
    #[error(transparent)]
    Payload(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error("this build has no webhook plugin for provider {0}")]
    UnknownProvider(String),
}

/// How long one consumer may hold a delivery before another may take it over.
pub const LEASE_SECS: u64 = 60;

/// Processes a batch; returns the message ids that failed.
pub async fn handle_batch(app: &Consumer, records: &[Record]) -> Vec<String> {
    let mut failed = Vec::new();
    for record in records {
        match process(app, &record.body).await {
            Ok((work_item, outcome)) => {
                tracing::info!(message_id = %record.message_id, %work_item, outcome, "processed");
            }
            Err(e) => {
                tracing::error!(message_id = %record.message_id, error = %e, "record failed");
                failed.push(record.message_id.clone());
            }
        }
    }
    failed
}

async fn process(app: &Consumer, body: &str) -> Result<(String, &'static str), ConsumeError> {
    let item = WorkItem::parse(body)?;
    let now = app.clock.now();
    match app
        .deliveries
        .begin(&item.delivery_key, &item.id, now, LEASE_SECS)
        .await?
    {
        Begin::Started => {}
        Begin::AlreadyDone(_) => return Ok((item.id, "already_done")),
        Begin::InFlight => return Err(ConsumeError::InFlight(item.delivery_key)),
    }
    match deliver(app, &item).await {
        Ok((outcome, agents)) => {
            app.deliveries
                .finish(&item.delivery_key, outcome, &agents, app.clock.now())
                .await?;
            let label = match outcome {
                Outcome::Delivered => "delivered",
                Outcome::Filtered => "filtered",
                Outcome::Dropped => "dropped",
            };
            Ok((item.id, label))
        }
        Err(e) => {
            if let Err(record) = app
                .deliveries
                .fail(&item.delivery_key, &e.to_string())
                .await
            {
                tracing::error!(error = %record, "could not record failure");
            }
            Err(e)
        }
    }
}

async fn deliver(app: &Consumer, item: &WorkItem) -> Result<(Outcome, Vec<String>), ConsumeError> {
    let Some(instance) = app.instances.get(&item.instance_id).await? else {
        tracing::warn!(instance_id = %item.instance_id, "instance deleted; work item dropped");
        return Ok((Outcome::Dropped, Vec::new()));
    };
    let payload = app.queue.payload(item).await?;
    let Some(plugin) = app.registry.plugin(&item.provider) else {
        return Err(ConsumeError::UnknownProvider(item.provider.clone()));
    };
    let Some(normalized) = plugin.normalize(item, &payload) else {
        return Ok((Outcome::Filtered, Vec::new()));
    };
    let events = for_agents(item, &instance, &normalized, &payload);
    if events.is_empty() {
        return Ok((Outcome::Filtered, Vec::new()));
    }
    app.sink.publish(&events, &item.id).await?;
    Ok((
        Outcome::Delivered,
        events.into_iter().map(|e| e.agent_id).collect(),
    ))
}
