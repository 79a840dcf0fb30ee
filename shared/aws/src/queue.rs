//! The ingress queue (SQS) with an S3 claim check for large payloads.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::chain;
use crate::wire::{Wire, SQS};
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

/// Where large payloads go (the claim checks retention sweeps per workspace).
pub const PAYLOAD_PREFIX: &str = "payloads/by-instance/";

/// The claim-check key of work item `id`'s payload: `payloads/by-instance/<instance>/<id>.json`
/// (instance ids are `A-Z a-z 0-9 _ -`, so the instance is one key segment).
pub fn payload_key(instance_id: &str, id: &str) -> String {
    format!("{PAYLOAD_PREFIX}{instance_id}/{id}.json")
}

/// The instance of a claim-check key made by [`payload_key`].
pub fn payload_instance(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PAYLOAD_PREFIX)?;
    let (instance, file) = rest.split_once('/')?;
    (!instance.is_empty() && !file.contains('/')).then_some(instance)
}

/// Sends WorkItems to the ingress queue; payloads over the inline limit go to S3 first. Both
/// are on the wire client (every accepted webhook sends one; see [`crate::wire`]).
#[derive(Debug, Clone)]
pub struct IngressQueue {
    wire: Wire,
    queue_url: String,
    bucket: String,
    inline_limit: usize,
}

/// A `SendMessageBatch` answer's entries that failed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct BatchAnswer {
    failed: Vec<BatchFailure>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct BatchFailure {
    id: String,
    code: String,
    message: Option<String>,
}

impl IngressQueue {
    pub fn new(
        wire: Wire,
        queue_url: impl Into<String>,
        bucket: impl Into<String>,
        inline_limit: usize,
    ) -> Self {
        Self {
            wire,
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
        let body = self.body(item).await?;
        let send = json!({ "QueueUrl": self.queue_url, "MessageBody": body });
        self.wire
            .write(&SQS, "SendMessage", &send)
            .await
            .map_err(|e| QueueError::Queue(chain(&e)))
    }

    /// Queues every item: one `SendMessage` for one item, `SendMessageBatch`es of ten for more.
    /// Returns the items SQS did not accept, with why.
    pub async fn send_all<'a>(
        &self,
        items: &[&'a WorkItem],
    ) -> Result<(), Vec<(&'a WorkItem, QueueError)>> {
        if let [item] = items {
            return self.send(item).await.map_err(|e| vec![(*item, e)]);
        }
        let mut failed = Vec::new();
        for chunk in items.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            let mut sent: Vec<&WorkItem> = Vec::with_capacity(chunk.len());
            for (i, item) in chunk.iter().enumerate() {
                match self.body(item).await {
                    Ok(body) => {
                        entries.push(json!({ "Id": i.to_string(), "MessageBody": body }));
                        sent.push(item);
                    }
                    Err(e) => failed.push((*item, e)),
                }
            }
            if entries.is_empty() {
                continue;
            }
            let batch = json!({ "QueueUrl": self.queue_url, "Entries": entries });
            match self
                .wire
                .call::<BatchAnswer>(&SQS, "SendMessageBatch", &batch)
                .await
            {
                Ok(out) => {
                    for entry in out.failed {
                        if let Some(item) =
                            entry.id.parse::<usize>().ok().and_then(|i| chunk.get(i))
                        {
                            let why = entry.message.unwrap_or(entry.code);
                            failed.push((*item, QueueError::Queue(why)));
                        }
                    }
                }
                Err(e) => {
                    let why = chain(&e);
                    failed.extend(
                        sent.into_iter()
                            .map(|i| (i, QueueError::Queue(why.clone()))),
                    );
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }

    /// The message body for `item`, its payload moved to S3 first when it is too large.
    async fn body(&self, item: &WorkItem) -> Result<String, QueueError> {
        let mut body = item.to_json();
        if body.len() > self.inline_limit {
            // Under the instance, so retention finds the workspace whose window applies.
            let key = payload_key(&item.instance_id, &item.id);
            let payload = serde_json::to_vec(&item.payload).unwrap_or_default();
            self.wire
                .put_object(&self.bucket, &key, "application/json", payload.into())
                .await
                .map_err(|e| QueueError::Bucket(e.to_string()))?;
            let mut slim = item.clone();
            slim.payload = None;
            slim.payload_ref = Some(key);
            body = slim.to_json();
        }
        Ok(body)
    }

    /// The payload of `item`, fetched from S3 when it travelled by reference.
    pub async fn payload(&self, item: &WorkItem) -> Result<Value, QueueError> {
        if let Some(payload) = &item.payload {
            return Ok(payload.clone());
        }
        let key = item.payload_ref.as_deref().unwrap_or_default();
        let bytes = self
            .wire
            .get_object(&self.bucket, key)
            .await
            .map_err(|e| QueueError::Bucket(e.to_string()))?
            .ok_or_else(|| QueueError::Payload(key.to_owned()))?;
        serde_json::from_slice(&bytes).map_err(|_| QueueError::Payload(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_key_names_its_instance() {
        let key = payload_key("acme-slack_1", "wi_abc");
        assert_eq!(key, "payloads/by-instance/acme-slack_1/wi_abc.json");
        assert_eq!(payload_instance(&key), Some("acme-slack_1"));
        for other in [
            "payloads/wi_abc.json",
            "payloads/events/wi_abc.json",
            "payloads/by-instance//wi_abc.json",
            "payloads/by-instance/a/b/wi_abc.json",
        ] {
            assert_eq!(payload_instance(other), None, "{other}");
        }
    }
}
