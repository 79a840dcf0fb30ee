//! The ingress queue (SQS) with an S3 claim check for large payloads.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use crate::error::chain;
use crate::workitem::WorkItem;

/// Why queueing or loading failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("ingress queue unavailable: {0}")]
    Queue(String),
    #[error("payload bucket unavailable: {0}")]
    Bucket(String),
    #[error("stored payload {0} is missing or corrupt")]
    Payload(String),
}

/// Sends WorkItems to the ingress queue; payloads over the inline limit go to S3 first.
#[derive(Debug, Clone)]
pub struct IngressQueue {
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    queue_url: String,
    bucket: String,
    inline_limit: usize,
}

impl IngressQueue {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
        queue_url: impl Into<String>,
        bucket: impl Into<String>,
        inline_limit: usize,
    ) -> Self {
        Self {
            sqs,
            s3,
            queue_url: queue_url.into(),
            bucket: bucket.into(),
            inline_limit,
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.queue_url
    }

    /// Queues `item` durably: returns only after SQS accepted the message.
    pub async fn send(&self, item: &WorkItem) -> Result<(), QueueError> {
        let mut body = item.to_json();
        if body.len() > self.inline_limit {
            let key = format!("payloads/{}.json", item.id);
            let payload = serde_json::to_vec(&item.payload).unwrap_or_default();
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(payload))
                .send()
                .await
                .map_err(|e| QueueError::Bucket(chain(&e)))?;
            let mut slim = item.clone();
            slim.payload = None;
            slim.payload_ref = Some(key);
            body = slim.to_json();
        }
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError::Queue(chain(&e)))?;
        Ok(())
    }

    /// The payload of `item`, fetched from S3 when it travelled by reference.
    pub async fn payload(&self, item: &WorkItem) -> Result<Value, QueueError> {
        if let Some(payload) = &item.payload {
            return Ok(payload.clone());
        }
        let key = item.payload_ref.as_deref().unwrap_or_default();
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    QueueError::Payload(key.to_owned())
                } else {
                    QueueError::Bucket(chain(&e))
                }
            })?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| QueueError::Bucket(chain(&e)))?
            .into_bytes();
        serde_json::from_slice(&bytes).map_err(|_| QueueError::Payload(key.to_owned()))
    }
}
