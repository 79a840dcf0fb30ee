//! The agent sink: PlatformEvents published to the agent event bus (EventBridge).
//!
//! An event over EventBridge's 256 KB entry limit travels by claim check: its payload is
//! written once to the payload bucket (`payloads/events/<work item id>.json`, shared by every
//! agent's copy) and the event carries `payload_ref = s3://<bucket>/<key>` with a null payload.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::chain;
use crate::events::PlatformEvent;
use crate::wire::{Wire, EVENTBRIDGE};

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("{failed} of {total} events were rejected by the bus: {first_error}")]
    Rejected {
        failed: usize,
        total: usize,
        first_error: String,
    },
    #[error("event {0} is over EventBridge's 256 KiB limit even without its payload")]
    TooLarge(String),
    #[error("payload bucket unavailable: {0}")]
    Bucket(String),
}

/// The events of one work item: published together, failed together.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub work_item_id: &'a str,
    pub events: &'a [PlatformEvent],
}

/// EventBridge caps a PutEvents request at 10 entries and 256 KiB.
const MAX_ENTRIES: usize = 10;
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// One `PutEvents` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsRequestEntry {
    event_bus_name: String,
    source: String,
    detail_type: String,
    detail: String,
}

/// What `PutEvents` answers.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PutEventsOutput {
    failed_entry_count: u64,
    entries: Vec<PutEventsResultEntry>,
}

/// The answer for one entry: its event id, or why it was rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PutEventsResultEntry {
    error_code: Option<String>,
    error_message: Option<String>,
}

/// Publishes to one event bus, on the wire client (a consumer batch's one `PutEvents`; see
/// [`crate::wire`]); large payloads go to S3, on the wire client too.
#[derive(Debug, Clone)]
pub struct EventSink {
    wire: Wire,
    bus: String,
    bucket: String,
}

impl EventSink {
    pub fn new(wire: Wire, bus: impl Into<String>, bucket: impl Into<String>) -> Self {
        Self {
            wire,
            bus: bus.into(),
            bucket: bucket.into(),
        }
    }

    /// Publishes the events of several work items (one [`Group`] each) in as few PutEvents
    /// requests as the limits allow: a consumer batch of ten messages is one request, not ten.
    /// Returns one result per group, in order: a group fails if any of its events failed (its
    /// request was refused, an entry was rejected, or the event is too large), and only that
    /// group. On failure some of its events may already be on the bus, and a retry republishes
    /// them with the same `event_id` (at-least-once; agents dedup on `event_id`).
    pub async fn publish(&self, groups: &[Group<'_>]) -> Vec<Result<(), SinkError>> {
        let mut results: Vec<Result<(), SinkError>> = Vec::with_capacity(groups.len());
        // Every entry to send, with the group it belongs to and its size towards the limit.
        let mut pending: Vec<(usize, PutEventsRequestEntry, usize)> = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            match self.entries(group).await {
                Ok(entries) => {
                    pending.extend(entries.into_iter().map(|(e, size)| (index, e, size)));
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let mut sent = vec![0usize; groups.len()];
        let mut rejected: Vec<(usize, Option<String>)> = vec![(0, None); groups.len()];
        let mut request: Vec<(usize, PutEventsRequestEntry)> = Vec::new();
        let mut request_bytes = 0;
        let mut pending = pending.into_iter().peekable();
        while let Some((index, entry, size)) = pending.next() {
            request_bytes += size;
            sent[index] += 1;
            request.push((index, entry));
            let full = pending.peek().is_none_or(|(_, _, next)| {
                request.len() == MAX_ENTRIES || request_bytes + next > MAX_REQUEST_BYTES
            });
            if full {
                self.put_grouped(std::mem::take(&mut request), &mut results, &mut rejected)
                    .await;
                request_bytes = 0;
            }
        }
        for (index, (failed, first_error)) in rejected.into_iter().enumerate() {
            if failed > 0 && results[index].is_ok() {
                results[index] = Err(SinkError::Rejected {
                    failed,
                    total: sent[index],
                    first_error: first_error.unwrap_or_default(),
                });
            }
        }
        results
    }

    /// The PutEvents entries of one group with their sizes; an event over the entry limit
    /// travels by claim check (its payload stored once per work item).
    async fn entries(
        &self,
        group: &Group<'_>,
    ) -> Result<Vec<(PutEventsRequestEntry, usize)>, SinkError> {
        let mut entries = Vec::with_capacity(group.events.len());
        let mut stored: Option<String> = None;
        for event in group.events {
            let source = format!("switchyard.{}", event.source.provider);
            let mut detail = serde_json::to_string(event).unwrap_or_default();
            if detail.len() + source.len() + event.event_type.len() > MAX_REQUEST_BYTES {
                let reference = match &stored {
                    Some(r) => r.clone(),
                    None => {
                        let r = self
                            .store_payload(&event.payload, group.work_item_id)
                            .await?;
                        stored = Some(r.clone());
                        r
                    }
                };
                let mut slim = event.clone();
                slim.payload = serde_json::Value::Null;
                slim.payload_ref = Some(reference);
                detail = serde_json::to_string(&slim).unwrap_or_default();
            }
            let size = detail.len() + source.len() + event.event_type.len();
            if size > MAX_REQUEST_BYTES {
                return Err(SinkError::TooLarge(event.event_id.clone()));
            }
            let entry = PutEventsRequestEntry {
                event_bus_name: self.bus.clone(),
                source,
                detail_type: event.event_type.clone(),
                detail,
            };
            entries.push((entry, size));
        }
        Ok(entries)
    }

    /// Sends one request of entries from several groups. A refused request fails every group in
    /// it; a rejected entry (the answer's entries are in request order) counts against its group.
    async fn put_grouped(
        &self,
        request: Vec<(usize, PutEventsRequestEntry)>,
        results: &mut [Result<(), SinkError>],
        rejected: &mut [(usize, Option<String>)],
    ) {
        let (owners, entries): (Vec<usize>, Vec<PutEventsRequestEntry>) =
            request.into_iter().unzip();
        let out = match self.put_events(&entries).await {
            Ok(out) => out,
            Err(e) => {
                let why = chain(&e);
                for &index in &owners {
                    if results[index].is_ok() {
                        results[index] = Err(SinkError::Unavailable(why.clone()));
                    }
                }
                return;
            }
        };
        if out.failed_entry_count == 0 {
            return;
        }
        charge_rejections(&owners, &out.entries, rejected);
    }

    async fn put_events(
        &self,
        entries: &[PutEventsRequestEntry],
    ) -> Result<PutEventsOutput, crate::wire::WireError> {
        self.wire
            .call(&EVENTBRIDGE, "PutEvents", &json!({ "Entries": entries }))
            .await
    }

    /// Writes a payload to the bucket once; returns its `s3://` reference.
    async fn store_payload(
        &self,
        payload: &serde_json::Value,
        work_item_id: &str,
    ) -> Result<String, SinkError> {
        let key = format!("payloads/events/{work_item_id}.json");
        let body = serde_json::to_vec(payload).unwrap_or_default();
        self.wire
            .put_object(&self.bucket, &key, "application/json", body.into())
            .await
            .map_err(|e| SinkError::Bucket(e.to_string()))?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }

    /// Publishes one integration event (source `switchyard.integration`).
    pub async fn publish_integration(
        &self,
        event: &crate::events::IntegrationEvent,
    ) -> Result<(), SinkError> {
        let entry = PutEventsRequestEntry {
            event_bus_name: self.bus.clone(),
            source: "switchyard.integration".to_owned(),
            detail_type: event.event_type.clone(),
            detail: serde_json::to_string(event).unwrap_or_default(),
        };
        self.put(vec![entry]).await
    }

    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Result<(), SinkError> {
        let total = entries.len();
        let out = self
            .put_events(&entries)
            .await
            .map_err(|e| SinkError::Unavailable(chain(&e)))?;
        let failed = usize::try_from(out.failed_entry_count).unwrap_or(total);
        if failed > 0 {
            let first_error = out
                .entries
                .into_iter()
                .find_map(|e| {
                    e.error_code
                        .map(|c| format!("{c}: {}", e.error_message.unwrap_or_default()))
                })
                .unwrap_or_default();
            return Err(SinkError::Rejected {
                failed,
                total,
                first_error,
            });
        }
        Ok(())
    }
}

/// Counts each rejected entry of one PutEvents answer against the group that owns it
/// (`owners[i]` owns the request's entry `i`; the answer's entries are in request order) and
/// keeps each group's first error. An answer shorter than the request leaves entries unaccounted
/// for: they count as rejected, so their group is retried rather than taken as published.
fn charge_rejections(
    owners: &[usize],
    answers: &[PutEventsResultEntry],
    rejected: &mut [(usize, Option<String>)],
) {
    for (position, &index) in owners.iter().enumerate() {
        let error = match answers.get(position) {
            Some(answer) => answer.error_code.as_ref().map(|code| {
                format!(
                    "{code}: {}",
                    answer.error_message.as_deref().unwrap_or_default()
                )
            }),
            None => Some("no answer for this entry".to_owned()),
        };
        if let Some(error) = error {
            let (failed, first) = &mut rejected[index];
            *failed += 1;
            first.get_or_insert(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> PutEventsResultEntry {
        PutEventsResultEntry::default()
    }

    fn refused(code: &str) -> PutEventsResultEntry {
        PutEventsResultEntry {
            error_code: Some(code.to_owned()),
            error_message: Some("no".to_owned()),
        }
    }

    #[test]
    fn a_rejected_entry_counts_only_against_its_own_group() {
        // Entries of groups 0, 0, 1, 2 in one request; the second entry of group 0 and the
        // entry of group 2 are rejected.
        let mut rejected = vec![(0, None); 3];
        charge_rejections(
            &[0, 0, 1, 2],
            &[
                ok(),
                refused("Throttling"),
                ok(),
                refused("InternalFailure"),
            ],
            &mut rejected,
        );
        assert_eq!(
            rejected,
            vec![
                (1, Some("Throttling: no".to_owned())),
                (0, None),
                (1, Some("InternalFailure: no".to_owned())),
            ]
        );
    }

    #[test]
    fn entries_the_answer_leaves_out_count_as_rejected() {
        let mut rejected = vec![(0, None); 2];
        charge_rejections(&[0, 1], &[ok()], &mut rejected);
        assert_eq!(rejected[0], (0, None));
        assert_eq!(rejected[1].0, 1);
    }
}
