//! The agent sink: PlatformEvents published to the agent event bus (EventBridge).

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

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
    #[error("event {0} is over EventBridge's 256 KiB limit")]
    TooLarge(String),
}

/// EventBridge caps a PutEvents request at 10 entries and 256 KiB.
const MAX_ENTRIES: usize = 10;
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Publishes to one event bus.
#[derive(Debug, Clone)]
pub struct EventSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventSink {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    /// Publishes every event, in as few requests as the limits allow. All or error: on error
    /// some events may already be on the bus, and a retry republishes them with the same
    /// `event_id` (at-least-once; agents dedup on `event_id`).
    pub async fn publish(&self, events: &[PlatformEvent]) -> Result<(), SinkError> {
        let mut batch: Vec<PutEventsRequestEntry> = Vec::new();
        let mut batch_bytes = 0;
        for event in events {
            let detail = serde_json::to_string(event).unwrap_or_default();
            let source = format!("switchyard.{}", event.source.provider);
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
