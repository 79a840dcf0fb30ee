//! Messages that tools sent, and what providers later said of them: delivered, bounced, read.
//!
//! Table `MessagesTable`, key `pk` = `<service>#<provider message id>`, TTL `expires_at` (as long
//! as receipts are kept). The tool that sends records the message (with its receipt id) before
//! answering; a provider's status (a SendGrid Event Webhook delivery, an SES event) appends to
//! the message's `events` only if the message is one a tool sent, so statuses of mail sent
//! elsewhere are ignored rather than stored. A redelivered status appends the same event again;
//! readers keep each (recipient, status) once.
//!
//! Access patterns: put on send; conditional append on status; get by message id (for a
//! receipt's delivery statuses).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::dynamo::{n, s};
use crate::error::{chain, is_conditional_check_failed};

/// How long a message is kept: as long as its receipt.
pub const MESSAGE_TTL_SECS: u64 = 90 * 86_400;

/// Why the message log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("message log unavailable: {0}")]
pub struct MessageLogError(String);

/// A message a tool sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The sending service (`sendgrid`, `ses`).
    pub service: String,
    pub message_id: String,
    pub receipt_id: String,
    pub instance_id: String,
    pub recipients: Vec<String>,
}

/// One status a provider reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    pub status: String,
    /// Unix seconds the provider says it happened.
    pub at: u64,
}

/// Whether a status was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Yes,
    /// No tool sent that message (or it has expired).
    UnknownMessage,
}

/// The message log in DynamoDB.
#[derive(Debug, Clone)]
pub struct MessageLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(service: &str, message_id: &str) -> String {
    format!("{service}#{message_id}")
}

impl MessageLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Records a sent message. A second put of the same id (a retried send the provider
    /// deduplicated) keeps the statuses already recorded.
    pub async fn record_sent(&self, sent: &SentMessage, now: u64) -> Result<(), MessageLogError> {
        let recipients = if sent.recipients.is_empty() {
            AttributeValue::L(Vec::new())
        } else {
            AttributeValue::L(sent.recipients.iter().map(|r| s(r.as_str())).collect())
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key(&sent.service, &sent.message_id)))
            .update_expression(
                "SET receipt_id = :r, instance_id = :i, recipients = :to, sent_at = if_not_exists(sent_at, :now), \
                 expires_at = :exp, events = if_not_exists(events, :empty)",
            )
            .expression_attribute_values(":r", s(sent.receipt_id.as_str()))
            .expression_attribute_values(":i", s(sent.instance_id.as_str()))
            .expression_attribute_values(":to", recipients)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", n(now + MESSAGE_TTL_SECS))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .send()
            .await
            .map_err(|e| MessageLogError(chain(&e)))?;
        Ok(())
    }

    /// Appends a provider's status to a message a tool sent.
    pub async fn record_status(
        &self,
        service: &str,
        message_id: &str,
        event: &StatusEvent,
    ) -> Result<Recorded, MessageLogError> {
        let mut entry = BTreeMap::from([
            ("status".to_owned(), s(event.status.as_str())),
            ("at".to_owned(), n(event.at)),
        ]);
        if let Some(recipient) = &event.recipient {
            entry.insert("recipient".to_owned(), s(recipient.as_str()));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key(service, message_id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET events = list_append(if_not_exists(events, :empty), :e)")
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(
                ":e",
                AttributeValue::L(vec![AttributeValue::M(entry.into_iter().collect())]),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Yes),
            Err(e) if is_conditional_check_failed(&e) => Ok(Recorded::UnknownMessage),
            Err(e) => Err(MessageLogError(chain(&e))),
        }
    }

    /// The statuses recorded for a message, each (recipient, status) once, oldest first.
    pub async fn statuses(
        &self,
        service: &str,
        message_id: &str,
    ) -> Result<Option<Vec<StatusEvent>>, MessageLogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key(service, message_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| MessageLogError(chain(&e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let mut events: Vec<StatusEvent> = item
            .get("events")
            .and_then(|v| v.as_l().ok())
            .map(|list| list.iter().filter_map(status_event).collect())
            .unwrap_or_default();
        events.sort_by_key(|e| e.at);
        let mut seen = std::collections::BTreeSet::new();
        events.retain(|e| seen.insert((e.recipient.clone(), e.status.clone())));
        Ok(Some(events))
    }
}

fn status_event(value: &AttributeValue) -> Option<StatusEvent> {
    let map = value.as_m().ok()?;
    Some(StatusEvent {
        recipient: map.get("recipient").and_then(|v| v.as_s().ok()).cloned(),
        status: map.get("status")?.as_s().ok()?.clone(),
        at: map.get("at")?.as_n().ok()?.parse().ok()?,
    })
}
