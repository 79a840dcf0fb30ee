//! Deferred tool calls: a call that is not run now, runs later exactly once, and tells the agent
//! on the bus. Background media jobs (`jobs`) and approval gates (`approvals`) share this: a
//! record whose `status` moves only by conditional writes, and one queue (`JobsQueue`) naming
//! the record the media worker must run next.
//!
//! A record is stored as `pk` (its id), `status`, `workspace`, `ttl` (DynamoDB TTL, tidying
//! only) and `doc` (the whole record as JSON). Access patterns: create once (`attribute_not_exists`);
//! get by id; replace conditioned on the status read before (compare-and-set: two writers racing
//! from the same status, one wins); list for operators (a scan filtered by workspace/status: the
//! CLI only, never a request path).

use std::marker::PhantomData;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::dynamo::{all_items, n, s, Item};
use crate::error::{chain, is_conditional_check_failed};

/// Why a deferred record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("deferred-call table unavailable: {0}")]
    Unavailable(String),
    #[error("stored record {0} is unreadable: {1}")]
    Corrupt(String, String),
    #[error("jobs queue unavailable: {0}")]
    Queue(String),
}

/// What a deferred record tells its table.
pub trait DeferredRecord: Serialize + DeserializeOwned {
    fn id(&self) -> &str;
    /// The status as stored (`queued`, `pending`, …): what conditional writes compare.
    fn status_name(&self) -> &'static str;
    fn workspace(&self) -> &str;
    /// Unix seconds after which DynamoDB may delete the item.
    fn ttl(&self) -> u64;
}

/// One table of deferred records.
#[derive(Debug, Clone)]
pub struct RecordTable<T> {
    client: aws_sdk_dynamodb::Client,
    table: String,
    record: PhantomData<fn() -> T>,
}

impl<T: DeferredRecord> RecordTable<T> {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            record: PhantomData,
        }
    }

    fn item(record: &T) -> Item {
        Item::from([
            ("pk".to_owned(), s(record.id())),
            ("status".to_owned(), s(record.status_name())),
            ("workspace".to_owned(), s(record.workspace())),
            ("ttl".to_owned(), n(record.ttl())),
            (
                "doc".to_owned(),
                s(serde_json::to_string(record).unwrap_or_default()),
            ),
        ])
    }

    fn read(item: &Item) -> Result<T, RecordError> {
        let id = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let doc = item
            .get("doc")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| RecordError::Corrupt(id.clone(), "no doc".into()))?;
        serde_json::from_str(doc).map_err(|e| RecordError::Corrupt(id, e.to_string()))
    }

    /// Stores a new record. `Ok(false)`: a record with this id exists already.
    pub async fn create(&self, record: &T) -> Result<bool, RecordError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(record)))
            .condition_expression("attribute_not_exists(pk)");
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(RecordError::Unavailable(chain(&e))),
        }
    }

    /// The record `id`, if any (strongly consistent: a transition just made is seen).
    pub async fn get(&self, id: &str) -> Result<Option<T>, RecordError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RecordError::Unavailable(chain(&e)))?;
        out.item.as_ref().map(Self::read).transpose()
    }

    /// Writes `record` if its stored status is still `from`. `Ok(false)`: another writer moved
    /// it first (or it is gone), and nothing was written.
    pub async fn replace(&self, record: &T, from: &str) -> Result<bool, RecordError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(record)))
            .condition_expression("#s = :from")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":from", s(from));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(RecordError::Unavailable(chain(&e))),
        }
    }

    /// Every record, optionally of one workspace and one status, newest-first is the caller's
    /// business. A scan: for operators' listings only.
    pub async fn list(
        &self,
        workspace: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<T>, RecordError> {
        let mut scan = self.client.scan().table_name(&self.table);
        let mut filters = Vec::new();
        if let Some(w) = workspace {
            filters.push("workspace = :w");
            scan = scan.expression_attribute_values(":w", AttributeValue::S(w.to_owned()));
        }
        if let Some(st) = status {
            filters.push("#s = :s");
            scan = scan
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", AttributeValue::S(st.to_owned()));
        }
        if !filters.is_empty() {
            scan = scan.filter_expression(filters.join(" AND "));
        }
        let items = all_items(scan)
            .await
            .map_err(|e| RecordError::Unavailable(chain(&e)))?;
        items.iter().map(Self::read).collect()
    }
}

/// What the media worker is asked to run: one message on `JobsQueue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeferredMessage {
    /// A background job (`JobsTable`).
    Job { id: String },
    /// An approved call (`ApprovalsTable`).
    Approval { id: String },
    /// An approver's decision read from a verified delivery on chat instance `via`.
    Decision {
        via: String,
        decision: switchyard_providers::plugin::ApprovalDecision,
    },
}

/// Sends [`DeferredMessage`]s to `JobsQueue`.
#[cfg(feature = "sqs")]
#[derive(Debug, Clone)]
pub struct JobsQueue {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

#[cfg(feature = "sqs")]
impl JobsQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
        }
    }

    pub async fn send(&self, message: &DeferredMessage) -> Result<(), RecordError> {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(serde_json::to_string(message).unwrap_or_default())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| RecordError::Queue(chain(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_record_kind() {
        let job = DeferredMessage::Job { id: "job_1".into() };
        let text = serde_json::to_string(&job).expect("json");
        assert_eq!(text, r#"{"kind":"job","id":"job_1"}"#);
        let back: DeferredMessage =
            serde_json::from_str(r#"{"kind":"approval","id":"apr_1"}"#).expect("parse");
        assert_eq!(back, DeferredMessage::Approval { id: "apr_1".into() });
    }
}
