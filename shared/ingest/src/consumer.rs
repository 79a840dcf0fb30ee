//! The ingress consumer: WorkItems in, PlatformEvents out, with Lambda's partial batch failures.
//!
//! For each record: parse the WorkItem (a poison message fails and, after the queue's
//! `maxReceiveCount`, lands in the DLQ), take the processing lease in the deliveries table (a
//! redelivered message whose outcome is recorded publishes nothing), load the instance and the
//! payload, normalize, apply each granted agent's trigger policy, publish, record the outcome.
//! Only failed records are reported back, so one bad message does not replay its batch.

use std::collections::HashMap;

use crate::deliveries::{Begin, DeliveryError, Leased, Outcome};
use crate::events::{for_agents, PlatformEvent};
use crate::instances::Instance;
use crate::sink::Group;
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
    #[error(transparent)]
    Deferred(#[from] switchyard_aws::deferred::RecordError),
    #[error(transparent)]
    Effect(#[from] crate::effects::EffectError),
    #[error("this build has no webhook plugin for provider {0}")]
    UnknownProvider(String),
    #[error("the event bus gave no result for this record")]
    Unpublished,
    #[error("the delivery store gave no result for this record's outcome")]
    Unrecorded,
}

/// How long one consumer may hold a delivery before another may take it over.
pub const LEASE_SECS: u64 = 60;

/// Processes a batch; returns the message ids that failed.
///
/// In four steps, so the batch shares its AWS calls and their waits: every record takes its
/// lease at once (ten concurrent requests for a batch of ten, not ten in a row); each leased
/// record is prepared (instance read once per instance in the batch, payload, normalize,
/// policies); every prepared record's events go to the bus together (one PutEvents for a batch
/// of ten); every outcome is recorded together (one BatchWriteItem). A record fails alone: a
/// rejected event fails only the record it came from. A record with the same delivery key as an
/// earlier one in the batch (SQS delivered it twice) takes that record's result instead of
/// contending for its lease: done if the first is done, failed (and retried later) if the first
/// failed.
pub async fn handle_batch(app: &Consumer, records: &[Record]) -> Vec<String> {
    let mut first_of_key: HashMap<String, usize> = HashMap::new();
    let mut entries: Vec<Entry<WorkItem>> = Vec::with_capacity(records.len());
    for record in records {
        entries.push(match WorkItem::parse(&record.body) {
            Err(e) => Entry::Ended(Box::new(Step::Failed(e.into()))),
            Ok(item) => match first_of_key.get(&item.delivery_key) {
                Some(&first) => Entry::Ended(Box::new(Step::SameAs(first, item.id))),
                None => {
                    first_of_key.insert(item.delivery_key.clone(), entries.len());
                    Entry::Go(item)
                }
            },
        });
    }
    let now = app.clock.now();
    let leased = futures::future::join_all(entries.into_iter().map(|entry| async move {
        match entry {
            Entry::Go(item) => {
                let lease = app
                    .deliveries
                    .begin(&item.delivery_key, &item.id, now, LEASE_SECS)
                    .await;
                Entry::Go((item, lease))
            }
            Entry::Ended(step) => Entry::Ended(step),
        }
    }))
    .await;
    let mut instances = Instances::default();
    let mut steps: Vec<Step> = Vec::with_capacity(records.len());
    for entry in leased {
        steps.push(match entry {
            Entry::Go((item, lease)) => begin(app, item, lease, &mut instances).await,
            Entry::Ended(step) => *step,
        });
    }

    let groups: Vec<Group<'_>> = steps
        .iter()
        .filter_map(|step| match step {
            Step::Publish(item, _, events) => Some(Group {
                work_item_id: &item.id,
                events,
            }),
            _ => None,
        })
        .collect();
    let mut published = app.sink.publish(&groups).await.into_iter();

    // Outcomes are recorded together (one BatchWriteItem for a batch of ten).
    let mut finishes: Vec<(Leased, Outcome, Vec<String>)> = Vec::new();
    let mut pending: Vec<Pending> = Vec::with_capacity(steps.len());
    for step in steps {
        pending.push(match step {
            Step::Done(id, label) => Pending::End(End::Done(id, label)),
            Step::Failed(e) => Pending::End(End::Failed(e)),
            Step::SameAs(first, id) => Pending::SameAs(first, id),
            Step::Final(item, lease, outcome) => {
                finishes.push((lease, outcome, Vec::new()));
                Pending::Finish(item.id, outcome)
            }
            Step::Publish(item, lease, events) => match published.next() {
                Some(Ok(())) => {
                    let agents: Vec<String> = events.into_iter().map(|e| e.agent_id).collect();
                    finishes.push((lease, Outcome::Delivered, agents));
                    Pending::Finish(item.id, Outcome::Delivered)
                }
                Some(Err(e)) => Pending::End(End::Failed(fail(app, &item, e.into()).await)),
                None => Pending::End(End::Failed(
                    fail(app, &item, ConsumeError::Unpublished).await,
                )),
            },
        });
    }
    let mut recorded = app
        .deliveries
        .finish_all(finishes, app.clock.now())
        .await
        .into_iter();
    let mut ends: Vec<End> = Vec::with_capacity(pending.len());
    for step in pending {
        let end = match step {
            Pending::End(end) => end,
            Pending::Finish(id, outcome) => match recorded.next() {
                Some(Ok(())) => End::Done(id, outcome.as_str()),
                Some(Err(e)) => End::Failed(e.into()),
                None => End::Failed(ConsumeError::Unrecorded),
            },
            Pending::SameAs(first, id) => match &ends[first] {
                End::Done(..) => End::Done(id, "already_done"),
                End::Failed(_) | End::FailedAs(_) => End::FailedAs(first),
            },
        };
        ends.push(end);
    }

    let mut failed = Vec::new();
    for (record, end) in records.iter().zip(&ends) {
        match end {
            End::Done(work_item, outcome) => {
                tracing::info!(message_id = %record.message_id, %work_item, outcome, "processed");
            }
            End::Failed(e) => {
                tracing::error!(message_id = %record.message_id, error = %e, "record failed");
                failed.push(record.message_id.clone());
            }
            End::FailedAs(first) => {
                let first = &records[*first].message_id;
                tracing::error!(message_id = %record.message_id, same_as = %first,
                    "record failed: the same delivery earlier in the batch failed");
                failed.push(record.message_id.clone());
            }
        }
    }
    failed
}

/// A record on its way to a [`Step`]: going on with `T` (the work item to lease, then it with
/// its lease), or already ended (unreadable, or a delivery the batch holds twice; boxed, as
/// those are rare).
enum Entry<T> {
    Go(T),
    Ended(Box<Step>),
}

/// Where a record stands after its lease and preparation.
enum Step {
    /// Nothing left to do (already done elsewhere).
    Done(String, &'static str),
    Failed(ConsumeError),
    /// The same delivery as the record at this index: that record's result (work item id).
    SameAs(usize, String),
    /// Leased, nothing to publish: record this outcome.
    Final(WorkItem, Leased, Outcome),
    /// Leased: publish these events, then record `delivered`.
    Publish(WorkItem, Leased, Vec<PlatformEvent>),
}

/// Where a record stands after publishing: ended, or waiting for its outcome to be recorded.
enum Pending {
    End(End),
    /// Its outcome is among the batch's recorded outcomes (in order).
    Finish(String, Outcome),
    SameAs(usize, String),
}

/// How a record ended.
enum End {
    Done(String, &'static str),
    Failed(ConsumeError),
    /// Failed because the record at this index (the same delivery) failed.
    FailedAs(usize),
}

/// The batch's instance reads: one GetItem per instance, not per record.
#[derive(Default)]
struct Instances(HashMap<String, Option<Instance>>);

impl Instances {
    async fn get(&mut self, app: &Consumer, id: &str) -> Result<Option<&Instance>, ConsumeError> {
        if !self.0.contains_key(id) {
            let instance = app.instances.get(id).await?;
            self.0.insert(id.to_owned(), instance);
        }
        Ok(self.0.get(id).and_then(Option::as_ref))
    }
}

/// After the lease: prepares what to publish; a failed preparation is recorded.
async fn begin(
    app: &Consumer,
    item: WorkItem,
    lease: Result<Begin, DeliveryError>,
    instances: &mut Instances,
) -> Step {
    let lease = match lease {
        Ok(Begin::Started(lease)) => lease,
        Ok(Begin::AlreadyDone(_)) => return Step::Done(item.id, "already_done"),
        Ok(Begin::InFlight) => return Step::Failed(ConsumeError::InFlight(item.delivery_key)),
        Err(e) => return Step::Failed(e.into()),
    };
    match prepare(app, &item, instances).await {
        Ok(Some(events)) => Step::Publish(item, lease, events),
        Ok(None) => Step::Final(item, lease, Outcome::Filtered),
        Err(Prepared::Dropped) => Step::Final(item, lease, Outcome::Dropped),
        Err(Prepared::Failed(e)) => Step::Failed(fail(app, &item, e).await),
    }
}

/// Why a record has nothing to publish other than a filter.
enum Prepared {
    /// The instance was deleted.
    Dropped,
    Failed(ConsumeError),
}

impl From<ConsumeError> for Prepared {
    fn from(e: ConsumeError) -> Self {
        Self::Failed(e)
    }
}

/// The events to publish; `None` when no agent's policy (or the plugin) wants the event.
async fn prepare(
    app: &Consumer,
    item: &WorkItem,
    instances: &mut Instances,
) -> Result<Option<Vec<PlatformEvent>>, Prepared> {
    let Some(instance) = instances.get(app, &item.instance_id).await? else {
        tracing::warn!(instance_id = %item.instance_id, "instance deleted; work item dropped");
        return Err(Prepared::Dropped);
    };
    let Some(plugin) = app.registry.plugin(&item.provider) else {
        return Err(ConsumeError::UnknownProvider(item.provider.clone()).into());
    };
    // A WorkItem names the definition that accepted it; the instance must be one it serves
    // (its own provider's, or the one its `instances_of` names).
    let served = app
        .registry
        .get(&item.provider)
        .map_or(item.provider.as_str(), |def| def.instance_provider());
    if instance.provider != served {
        tracing::warn!(instance_id = %item.instance_id, provider = %item.provider, "work item for an instance of another provider; dropped");
        return Err(Prepared::Dropped);
    }
    let payload = app.queue.payload(item).await.map_err(ConsumeError::from)?;
    // An approver's click on an approval message: handed to the media worker, which decides it
    // (checking this instance is the one the approval asks through); not an agent event.
    if let Some(decision) = plugin.approval_decision(item, &payload) {
        let via = instance.id.clone();
        let message = switchyard_aws::deferred::DeferredMessage::Decision { via, decision };
        app.jobs_queue
            .send(&message)
            .await
            .map_err(ConsumeError::from)?;
        return Ok(None);
    }
    let effects = plugin.effects(item, &payload);
    if !effects.is_empty() {
        crate::effects::apply(app, instance, &effects)
            .await
            .map_err(ConsumeError::from)?;
    }
    let Some(normalized) = plugin.normalize(item, &payload) else {
        return Ok(None);
    };
    let events = for_agents(item, instance, &normalized, &payload);
    Ok((!events.is_empty()).then_some(events))
}

/// Records a failed attempt (the lease is freed for SQS's retry); returns the error.
async fn fail(app: &Consumer, item: &WorkItem, e: ConsumeError) -> ConsumeError {
    if let Err(record) = app
        .deliveries
        .fail(&item.delivery_key, &e.to_string())
        .await
    {
        tracing::error!(error = %record, "could not record failure");
    }
    e
}
