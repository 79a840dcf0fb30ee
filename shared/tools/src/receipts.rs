//! Receipts: one per tool call that reached (or tried to reach) the provider, failures too.
//!
//! Table `ReceiptsTable`, key `pk` = receipt id, TTL `expires_at` (90 days). Access patterns:
//! put; get by id; list with filters (admin; a scan with a filter, never on a request path).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use switchyard_aws::dynamodb::types::AttributeValue;

use crate::aws_error::chain;
use crate::outbound::Attempt;

/// How long receipts are kept.
pub const RECEIPT_TTL_SECS: u64 = 90 * 86_400;

/// Why a receipt could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("receipt store unavailable: {0}")]
pub struct ReceiptError(String);

/// One tool call's receipt. Never holds credentials: paths only, no query strings or headers
/// other than rate-limit and request-id headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub receipt_id: String,
    pub tool: String,
    pub instance_id: String,
    pub agent_id: String,
    /// The person the agent acted for (an OIDC subject or an allowed `on_behalf_of`), when it
    /// acted for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Our request id, and the caller's trace id when given.
    pub request_id: String,
    pub trace_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// `ok` or the error code.
    pub status: String,
    pub error_code: Option<String>,
    pub provider_status: Option<u16>,
    pub provider_request_ids: Vec<String>,
    pub attempts: Vec<Attempt>,
    pub latency_ms: u64,
    /// In the definition's currency unit, where it prices the call.
    pub cost: Option<f64>,
    /// What priced (AI) provider calls consumed, one entry per provider call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<crate::usage::Usage>,
    /// The messages the call sent (`email.*`), as `<service>:<message id>`: their delivery
    /// statuses are in the message log under these ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_ids: Vec<String>,
    /// The cost in USD computed from `usage` and the price table, where the call is priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub created_at: u64,
}

/// Filters for `receipts list`.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFilter {
    pub instance_id: Option<String>,
    pub tool: Option<String>,
    pub agent_id: Option<String>,
    pub user: Option<String>,
    pub status: Option<String>,
}

/// Receipts in DynamoDB.
#[derive(Debug, Clone)]
pub struct ReceiptStore {
    client: switchyard_aws::dynamodb::Client,
    table: String,
}

impl ReceiptStore {
    pub fn new(client: switchyard_aws::dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn put(&self, receipt: &Receipt) -> Result<(), ReceiptError> {
        let body = serde_json::to_string(receipt).map_err(|e| ReceiptError(e.to_string()))?;
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut put = self.client.put_item();
        if let Some(user) = &receipt.user {
            put = put.item("user_id", s(user));
        }
        put.table_name(&self.table)
            .item("pk", s(&receipt.receipt_id))
            .item("tool", s(&receipt.tool))
            .item("instance_id", s(&receipt.instance_id))
            .item("agent_id", s(&receipt.agent_id))
            .item("status", s(&receipt.status))
            .item(
                "created_at",
                AttributeValue::N(receipt.created_at.to_string()),
            )
            .item(
                "expires_at",
                AttributeValue::N((receipt.created_at + RECEIPT_TTL_SECS).to_string()),
            )
            .item("receipt", s(&body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ReceiptError(chain(&e)))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Receipt>, ReceiptError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .send()
            .await
            .map_err(|e| ReceiptError(chain(&e)))?;
        Ok(out.item.as_ref().and_then(parse))
    }

    /// Receipts matching `filter`, newest first, at most `limit`.
    pub async fn list(
        &self,
        filter: &ReceiptFilter,
        limit: usize,
    ) -> Result<Vec<Receipt>, ReceiptError> {
        let mut conditions = Vec::new();
        let mut scan = self.client.scan().table_name(&self.table);
        for (attr, value) in [
            ("instance_id", &filter.instance_id),
            ("tool", &filter.tool),
            ("agent_id", &filter.agent_id),
            ("user_id", &filter.user),
            ("status", &filter.status),
        ] {
            if let Some(v) = value {
                conditions.push(format!("#{attr} = :{attr}"));
                scan = scan
                    .expression_attribute_names(format!("#{attr}"), attr)
                    .expression_attribute_values(format!(":{attr}"), AttributeValue::S(v.clone()));
            }
        }
        if !conditions.is_empty() {
            scan = scan.filter_expression(conditions.join(" AND "));
        }
        let items = crate::dynamo::all_items(scan)
            .await
            .map_err(|e| ReceiptError(chain(&e)))?;
        let mut all: Vec<Receipt> = items.iter().filter_map(parse).collect();
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.receipt_id.cmp(&a.receipt_id))
        });
        all.truncate(limit);
        Ok(all)
    }
}

fn parse(item: &HashMap<String, AttributeValue>) -> Option<Receipt> {
    serde_json::from_str(item.get("receipt")?.as_s().ok()?).ok()
}
