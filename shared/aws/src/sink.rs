//! The agent sink: PlatformEvents published to the agent event bus (EventBridge).
//!
//! An event over EventBridge's 256 KB entry limit travels by claim check: its payload is
//! written once to the payload bucket (`payloads/events/<work item id>.json`, shared by every
//! agent's copy) and the event carries `payload_ref = s3://<bucket>/<key>` with a null payload.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::chain;
use crate::events::PlatformEvent;

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

/// EventBridge caps a PutEvents request at 10 entries and 256 KiB.
const MAX_ENTRIES: usize = 10;
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Publishes to one event bus.
#[derive(Debug, Clone)]
pub struct EventSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl EventSink {
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus: impl Into<String>,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            client,
            bus: bus.into(),
            s3,
            bucket: bucket.into(),
        }
    }

    /// Publishes every event (all from work item `work_item_id`), in as few requests as the
    /// limits allow. All or error: on error some events may already be on the bus, and a retry
    /// republishes them with the same `event_id` (at-least-once; agents dedup on `event_id`).
    pub async fn publish(
        &self,
        events: &[PlatformEvent],
        work_item_id: &str,
    ) -> Result<(), SinkError> {
        let mut batch: Vec<PutEventsRequestEntry> = Vec::new();
        let mut batch_bytes = 0;
        let mut stored: Option<String> = None;
        for event in events {
            let source = format!("switchyard.{}", event.source.provider);
            let mut detail = serde_json::to_string(event).unwrap_or_default();
            if detail.len() + source.len() + event.event_type.len() > MAX_REQUEST_BYTES {
                let reference = match &stored {
                    Some(r) => r.clone(),
                    None => {
                        let r = self.store_payload(&event.payload, work_item_id).await?;
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
            if batch.len() == MAX_ENTRIES || batch_bytes + size > MAX_REQUEST_BYTES {
                self.put(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += size;
            batch.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(source)
                    .detail_type(&event.event_type)
                    .detail(detail)
                    .build(),
            );
        }
        if !batch.is_empty() {
            self.put(batch).await?;
        }
        Ok(())
    }

    /// Writes a payload to the bucket once; returns its `s3://` reference.
    async fn store_payload(
        &self,
        payload: &serde_json::Value,
        work_item_id: &str,
    ) -> Result<String, SinkError> {
        let key = format!("payloads/events/{work_item_id}.json");
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(
                serde_json::to_vec(payload).unwrap_or_default(),
            ))
            .send()
            .await
            .map_err(|e| SinkError::Bucket(chain(&e)))?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }

    /// Publishes one integration event (source `switchyard.integration`).
    pub async fn publish_integration(
        &self,
        event: &crate::events::IntegrationEvent,
    ) -> Result<(), SinkError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source("switchyard.integration")
            .detail_type(&event.event_type)
            .detail(serde_json::to_string(event).unwrap_or_default())
            .build();
        self.put(vec![entry]).await
    }

    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Result<(), SinkError> {
        let total = entries.len();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SinkError::Unavailable(chain(&e)))?;
        let failed = usize::try_from(out.failed_entry_count).unwrap_or(total);
        if failed > 0 {
            let first_error = out
                .entries
                .unwrap_or_default()
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
