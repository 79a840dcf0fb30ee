//! The audit log: who did what to which instance or connection, and when. Never a secret.
//!
//! Table `AuditTable`, key `pk` = target (`instance#<id>` or `connection#<id>`), sort key `sk` =
//! `<unix seconds, zero-padded>#<uuid>`. Access patterns: append; list one target's history in
//! time order (a query); list recent entries (admin; a scan).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::json;

use crate::error::chain;
use crate::wire::{attr, DYNAMODB};
use crate::AwsClients;

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("audit log unavailable: {0}")]
pub struct AuditError(String);

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub target: String,
    pub at: u64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// The audit log in DynamoDB.
#[derive(Debug, Clone)]
pub struct AuditLog {
    /// [`Self::record`] (a webhook's, on a verification token's capture) goes on the wire
    /// client; the reads on the SDK's, built at first use (see [`AwsClients`]).
    aws: AwsClients,
    table: String,
}

impl AuditLog {
    pub fn new(aws: &AwsClients, table: impl Into<String>) -> Self {
        Self {
            aws: aws.clone(),
            table: table.into(),
        }
    }

    /// Appends an entry. `detail` must never hold a secret value (names of keys are fine).
    pub async fn record(
        &self,
        target: &str,
        actor: &str,
        action: &str,
        detail: &str,
        now: u64,
    ) -> Result<(), AuditError> {
        let sk = format!("{now:012}#{}", uuid::Uuid::new_v4().simple());
        let detail: String = detail.chars().take(500).collect();
        let put = json!({
            "TableName": self.table,
            "Item": {
                "pk": attr::s(target),
                "sk": attr::s(&sk),
                "actor": attr::s(actor),
                "action": attr::s(action),
                "detail": attr::s(&detail),
                "at": attr::n(now),
            },
        });
        self.aws
            .wire_ref()
            .write(&DYNAMODB, "PutItem", &put)
            .await
            .map_err(|e| AuditError(e.to_string()))
    }

    /// One target's history, oldest first.
    pub async fn history(&self, target: &str) -> Result<Vec<AuditEntry>, AuditError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .aws
                .dynamodb()
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :t")
                .expression_attribute_values(":t", AttributeValue::S(target.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AuditError(chain(&e)))?;
            all.extend(out.items.unwrap_or_default().iter().map(entry));
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(all);
            }
        }
    }

    /// The most recent `limit` entries across targets, newest first (admin; scans).
    pub async fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let items = crate::dynamo::all_items(self.aws.dynamodb().scan().table_name(&self.table))
            .await
            .map_err(|e| AuditError(chain(&e)))?;
        let mut all: Vec<AuditEntry> = items.iter().map(entry).collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.at));
        all.truncate(limit);
        Ok(all)
    }
}

fn entry(item: &HashMap<String, AttributeValue>) -> AuditEntry {
    let s = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    AuditEntry {
        target: s("pk"),
        at: item
            .get("at")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        actor: s("actor"),
        action: s("action"),
        detail: s("detail"),
    }
}
