//! Deliveries: the dedup claim of each accepted webhook and, later, its processing record.
//!
//! Table `DeliveriesTable`, key `pk` = delivery key `<provider>#<instance>#<provider id>`, TTL
//! attribute `expires_at`. Access patterns:
//! - ingress: one conditional `PutItem` claims the key (`attribute_not_exists(pk) OR
//!   expires_at < :now OR (status = queued AND claim_until < :now)`); two concurrent deliveries
//!   cannot both win. Expired items are treated as absent because DynamoDB (and the emulator) may
//!   keep them past their TTL. A `queued` claim older than its claim window (longer than the
//!   webhook function's timeout) may be taken again: its handler died before queueing, or it
//!   queued and the consumer has not begun; either way the retry is queued, and `begin` below
//!   lets only one work item of a key publish.
//! - ingress: a delivery refused for its tenant is recorded (`refused_tenant_mismatch`), not
//!   queued; the Notion poller's first run records what it found as `baseline`.
//! - consumer: conditional `UpdateItem` takes a processing lease (answering with the item);
//!   the batch's outcomes are then written back whole in one `BatchWriteItem`; a redelivered
//!   message finds the outcome and publishes nothing twice.
//! - admin: a scan for `events list` (operator only).
//!
//! Statuses: `queued` → `processing` → `delivered` | `filtered` (no agent's policy matched) |
//! `dropped` (instance deleted) | `failed` (retried by SQS, then the DLQ); `refused_<why>`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::chain;
use crate::wire::{attr, Wire, WireError, DYNAMODB};

/// Why a delivery-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("delivery store unavailable: {0}")]
    Unavailable(String),
}

fn unavailable(e: impl std::error::Error) -> DeliveryError {
    DeliveryError::Unavailable(chain(&e))
}

/// What ingress writes when it accepts a delivery.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub key: &'a str,
    pub work_item_id: &'a str,
    pub provider: &'a str,
    pub instance_id: &'a str,
    pub kind: &'a str,
    /// How long the key blocks duplicates.
    pub ttl_secs: u64,
    /// How long an unqueued claim blocks retries: longer than the webhook function can live.
    pub claim_secs: u64,
}

/// The consumer's view of a delivery when it picks up a work item.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// This consumer holds the lease: process it.
    Started(Leased),
    /// A final outcome is recorded: acknowledge, publish nothing.
    AlreadyDone(String),
    /// Another consumer holds a live lease: retry later.
    InFlight,
}

/// A delivery whose processing lease this consumer holds, as the lease wrote it: its outcome is
/// recorded by writing it back whole ([`DeliveryStore::finish_all`]), many in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    key: String,
    item: serde_json::Map<String, Value>,
}

/// A `BatchWriteItem` request of puts, borrowing the items it writes.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWrite<'a> {
    request_items: std::collections::BTreeMap<&'a str, Vec<PutRequest<'a>>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest<'a> {
    put_request: Put<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Put<'a> {
    item: &'a Value,
}

/// Final outcomes of processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Filtered,
    Dropped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Filtered => "filtered",
            Self::Dropped => "dropped",
        }
    }
}

/// One delivery as `events list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub key: String,
    pub work_item_id: String,
    pub provider: String,
    pub instance_id: String,
    pub kind: String,
    pub status: String,
    pub received_at: u64,
    pub attempts: u64,
    pub agents: Vec<String>,
    pub last_error: Option<String>,
}

/// Deliveries in DynamoDB: the per-delivery writes and reads on the wire client (every
/// webhook and consumer batch makes them; see [`crate::wire`]), the admin reads on the SDK.
#[derive(Debug, Clone)]
pub struct DeliveryStore {
    /// The wire client, and for the admin reads the SDK's client, built at their first call.
    aws: crate::AwsClients,
    table: String,
}

/// How long a recorded outcome (and so the dedup claim) is kept after processing.
pub const KEEP_OUTCOME_SECS: u64 = 86_400;

const FINAL: [&str; 3] = ["delivered", "filtered", "dropped"];

impl DeliveryStore {
    pub fn new(aws: &crate::AwsClients, table: impl Into<String>) -> Self {
        Self {
            aws: aws.clone(),
            table: table.into(),
        }
    }

    fn wire(&self) -> &Wire {
        self.aws.wire_ref()
    }

    async fn write(&self, operation: &str, input: Value) -> Result<(), WireError> {
        self.wire().write(&DYNAMODB, operation, &input).await
    }

    /// Claims `claim.key` for this delivery. `Ok(false)`: another delivery already has it.
    pub async fn claim(&self, claim: &Claim<'_>, now: u64) -> Result<bool, DeliveryError> {
        let put = json!({
            "TableName": self.table,
            "Item": {
                "pk": attr::s(claim.key),
                "work_item_id": attr::s(claim.work_item_id),
                "provider": attr::s(claim.provider),
                "instance_id": attr::s(claim.instance_id),
                "kind": attr::s(claim.kind),
                "status": attr::s("queued"),
                "received_at": attr::n(now),
                "expires_at": attr::n(now + claim.ttl_secs),
                "claim_until": attr::n(now + claim.claim_secs),
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now \
                OR (#status = :queued AND claim_until < :now)",
            "ExpressionAttributeNames": { "#status": "status" },
            "ExpressionAttributeValues": { ":queued": attr::s("queued"), ":now": attr::n(now) },
        });
        match self.write("PutItem", put).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_conditional_check_failed() => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Records a delivery that is not queued, with `status` (`refused_tenant_mismatch`, or
    /// `baseline` for what a poller's first run found), unless the key is already taken.
    pub async fn record_unqueued(
        &self,
        item: &crate::workitem::WorkItem,
        status: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<(), DeliveryError> {
        let put = json!({
            "TableName": self.table,
            "Item": {
                "pk": attr::s(&item.delivery_key),
                "work_item_id": attr::s(&item.id),
                "provider": attr::s(&item.provider),
                "instance_id": attr::s(&item.instance_id),
                "kind": attr::s(&item.kind),
                "status": attr::s(status),
                "received_at": attr::n(now),
                "expires_at": attr::n(now + ttl_secs),
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
            "ExpressionAttributeValues": { ":now": attr::n(now) },
        });
        match self.write("PutItem", put).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_conditional_check_failed() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Gives a claim back after its work item could not be queued, so the provider's retry
    /// is accepted instead of being taken for a duplicate. Only this delivery's claim is removed.
    pub async fn release(&self, key: &str, work_item_id: &str) -> Result<(), DeliveryError> {
        let delete = json!({
            "TableName": self.table,
            "Key": { "pk": attr::s(key) },
            "ConditionExpression": "work_item_id = :id",
            "ExpressionAttributeValues": { ":id": attr::s(work_item_id) },
        });
        match self.write("DeleteItem", delete).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_conditional_check_failed() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Takes the processing lease for `key` for `lease_secs`.
    pub async fn begin(
        &self,
        key: &str,
        work_item_id: &str,
        now: u64,
        lease_secs: u64,
    ) -> Result<Begin, DeliveryError> {
        // A missing item (claim expired, or a replayed message) is processed like a new one.
        let update = json!({
            "TableName": self.table,
            "Key": { "pk": attr::s(key) },
            "UpdateExpression": "SET #status = :processing, lease_until = :lease, \
                work_item_id = if_not_exists(work_item_id, :id), \
                attempts = if_not_exists(attempts, :zero) + :one, \
                expires_at = if_not_exists(expires_at, :expiry)",
            "ConditionExpression": "attribute_not_exists(pk) \
                OR NOT #status IN (:delivered, :filtered, :dropped, :processing) \
                OR (#status = :processing AND lease_until < :now)",
            "ExpressionAttributeNames": { "#status": "status" },
            "ExpressionAttributeValues": {
                ":processing": attr::s("processing"),
                ":delivered": attr::s(FINAL[0]),
                ":filtered": attr::s(FINAL[1]),
                ":dropped": attr::s(FINAL[2]),
                ":lease": attr::n(now + lease_secs),
                ":now": attr::n(now),
                ":id": attr::s(work_item_id),
                ":zero": attr::n(0),
                ":one": attr::n(1),
                ":expiry": attr::n(now + KEEP_OUTCOME_SECS),
            },
            // A taken lease answers with the item as it now is, so the outcome can be written
            // back whole with others in one request; a refused lease answers with the item as
            // the condition saw it, so a redelivered message learns its recorded outcome
            // without a second (consistent) read.
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        });
        match self
            .wire()
            .call::<Value>(&DYNAMODB, "UpdateItem", &update)
            .await
        {
            Ok(mut out) => Ok(Begin::Started(Leased {
                key: key.to_owned(),
                item: match out.get_mut("Attributes").map(Value::take) {
                    Some(Value::Object(item)) => item,
                    _ => serde_json::Map::new(),
                },
            })),
            Err(e) if e.is_conditional_check_failed() => {
                let seen = e
                    .body()
                    .and_then(|b| b.pointer("/Item/status/S"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let status = match seen {
                    Some(s) => Some(s),
                    None => self.status(key).await?,
                };
                Ok(match status {
                    Some(s) if FINAL.contains(&s.as_str()) => Begin::AlreadyDone(s),
                    _ => Begin::InFlight,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Records the final outcome and the agents that received the event.
    pub async fn finish(
        &self,
        key: &str,
        outcome: Outcome,
        agents: &[String],
        now: u64,
    ) -> Result<(), DeliveryError> {
        let update = json!({
            "TableName": self.table,
            "Key": { "pk": attr::s(key) },
            // The outcome is kept a day (at least) so a late redelivery still finds it.
            "UpdateExpression": "SET #status = :status, finished_at = :now, agents = :agents, \
                expires_at = :keep REMOVE lease_until, last_error",
            "ExpressionAttributeNames": { "#status": "status" },
            "ExpressionAttributeValues": {
                ":status": attr::s(outcome.as_str()),
                ":now": attr::n(now),
                ":keep": attr::n(now + KEEP_OUTCOME_SECS),
                ":agents": attr::string_list(agents),
            },
        });
        self.write("UpdateItem", update).await.map_err(unavailable)
    }

    /// Records the outcomes of leased deliveries (with the agents that received each event) in
    /// as few `BatchWriteItem`s as DynamoDB allows (25 items each), so a consumer batch of ten
    /// records its outcomes in one request instead of ten. Each item is written back whole as its
    /// lease wrote it, with what [`Self::finish`] sets and removes; items DynamoDB leaves
    /// unprocessed are retried twice, then written one by one with [`Self::finish`]. Results are
    /// in the order given.
    pub async fn finish_all(
        &self,
        done: Vec<(Leased, Outcome, Vec<String>)>,
        now: u64,
    ) -> Vec<Result<(), DeliveryError>> {
        let mut results: Vec<Result<(), DeliveryError>> = Vec::with_capacity(done.len());
        let mut batched: Vec<(usize, Value)> = Vec::new();
        // What `finish` needs of each, should its item be written alone.
        let mut each: Vec<(String, Outcome, Vec<String>)> = Vec::with_capacity(done.len());
        for (index, (leased, outcome, agents)) in done.into_iter().enumerate() {
            results.push(Ok(()));
            // A lease read without its item (it cannot be written back whole) is updated alone.
            if leased.item.is_empty() {
                results[index] = self.finish(&leased.key, outcome, &agents, now).await;
                each.push((leased.key, outcome, agents));
                continue;
            }
            let mut item = leased.item;
            item.remove("lease_until");
            item.remove("last_error");
            item.insert("status".into(), attr::s(outcome.as_str()));
            item.insert("finished_at".into(), attr::n(now));
            item.insert("agents".into(), attr::string_list(&agents));
            item.insert("expires_at".into(), attr::n(now + KEEP_OUTCOME_SECS));
            batched.push((index, Value::Object(item)));
            each.push((leased.key, outcome, agents));
        }
        for chunk in batched.chunks(25) {
            let mut left: Vec<&(usize, Value)> = chunk.iter().collect();
            for round in 0..3u32 {
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << round)).await;
                }
                let puts: Vec<PutRequest<'_>> = left
                    .iter()
                    .map(|(_, item)| PutRequest {
                        put_request: Put { item },
                    })
                    .collect();
                let write = BatchWrite {
                    request_items: [(self.table.as_str(), puts)].into(),
                };
                let out: Value = match self.wire().call(&DYNAMODB, "BatchWriteItem", &write).await {
                    Ok(out) => out,
                    Err(e) => {
                        let why = chain(&e);
                        for (index, _) in &left {
                            results[*index] = Err(DeliveryError::Unavailable(why.clone()));
                        }
                        left.clear();
                        break;
                    }
                };
                let unprocessed: Vec<&str> = out
                    .pointer("/UnprocessedItems")
                    .and_then(|u| u.get(&self.table))
                    .and_then(Value::as_array)
                    .map(|puts| {
                        puts.iter()
                            .filter_map(|p| p.pointer("/PutRequest/Item/pk/S")?.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                left.retain(|(_, item)| {
                    item.pointer("/pk/S")
                        .and_then(Value::as_str)
                        .is_some_and(|pk| unprocessed.contains(&pk))
                });
                if left.is_empty() {
                    break;
                }
            }
            for (index, _) in left {
                let (key, outcome, agents) = &each[*index];
                results[*index] = self.finish(key, *outcome, agents, now).await;
            }
        }
        results
    }

    /// Records a failed attempt and frees the lease so the next receive can retry at once.
    pub async fn fail(&self, key: &str, error: &str) -> Result<(), DeliveryError> {
        let update = json!({
            "TableName": self.table,
            "Key": { "pk": attr::s(key) },
            "UpdateExpression": "SET #status = :failed, last_error = :error REMOVE lease_until",
            "ExpressionAttributeNames": { "#status": "status" },
            "ExpressionAttributeValues": {
                ":failed": attr::s("failed"),
                ":error": attr::s(&error.chars().take(300).collect::<String>()),
            },
        });
        self.write("UpdateItem", update).await.map_err(unavailable)
    }

    async fn status(&self, key: &str) -> Result<Option<String>, DeliveryError> {
        let read = json!({
            "TableName": self.table,
            "Key": { "pk": attr::s(key) },
            "ConsistentRead": true,
            "ProjectionExpression": "#status",
            "ExpressionAttributeNames": { "#status": "status" },
        });
        let out: Value = self
            .wire()
            .call(&DYNAMODB, "GetItem", &read)
            .await
            .map_err(unavailable)?;
        Ok(out
            .pointer("/Item/status/S")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The delivery under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<DeliveryRecord>, DeliveryError> {
        let out = self
            .aws
            .dynamodb()
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.as_ref().map(record))
    }

    /// The most recent `limit` deliveries, newest first (admin; scans the table).
    pub async fn recent(&self, limit: usize) -> Result<Vec<DeliveryRecord>, DeliveryError> {
        let items = crate::dynamo::all_items(self.aws.dynamodb().scan().table_name(&self.table))
            .await
            .map_err(unavailable)?;
        let mut all: Vec<DeliveryRecord> = items.iter().map(record).collect();
        all.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(a.key.cmp(&b.key)));
        all.truncate(limit);
        Ok(all)
    }
}

fn record(item: &HashMap<String, AttributeValue>) -> DeliveryRecord {
    let s = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    DeliveryRecord {
        key: s("pk"),
        work_item_id: s("work_item_id"),
        provider: s("provider"),
        instance_id: s("instance_id"),
        kind: s("kind"),
        status: s("status"),
        received_at: n("received_at"),
        attempts: n("attempts"),
        agents: item
            .get("agents")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        last_error: item.get("last_error").and_then(|v| v.as_s().ok()).cloned(),
    }
}
