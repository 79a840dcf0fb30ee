//! Per-recipient messaging state of an instance: when the person last wrote to us (the 24-hour
//! customer-service window of WhatsApp opens then) and whether they opted out.
//!
//! A row family of `ToolStateTable` (every tool function already has it; the consumer writes
//! it): key `pk` = `recipient#<instance>#<recipient>`, attributes `last_inbound_at`,
//! `opted_out_at`, `opted_in_at` (unix seconds), `opted_in_by` (`message` or `operator`).
//! Every write only moves a time forward (a condition), so a redelivered or late webhook never
//! undoes a newer fact, and a person is opted out exactly when their latest opt-out is newer
//! than their latest opt-in.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::dynamo::{all_items, n, s, Item};
use crate::error::{chain, is_conditional_check_failed};

const PREFIX: &str = "recipient#";

/// Why recipient state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error("recipient store unavailable: {0}")]
    Unavailable(String),
}

/// What is known about one recipient of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recipient {
    pub instance_id: String,
    pub recipient: String,
    pub last_inbound_at: Option<u64>,
    pub opted_out_at: Option<u64>,
    pub opted_in_at: Option<u64>,
    /// Who opted the recipient back in: `message` (they wrote `START`) or `operator`.
    pub opted_in_by: Option<String>,
}

impl Recipient {
    /// Whether the recipient's latest opt-out is newer than their latest opt-in.
    pub fn opted_out(&self) -> bool {
        match (self.opted_out_at, self.opted_in_at) {
            (Some(out), Some(back)) => out > back,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Whether the recipient wrote within `window_secs` before `now`.
    pub fn wrote_within(&self, window_secs: u64, now: u64) -> bool {
        self.last_inbound_at
            .is_some_and(|at| now.saturating_sub(at) < window_secs)
    }
}

/// Which time an update moves.
#[derive(Debug, Clone, Copy)]
enum Fact {
    Inbound,
    OptedOut,
    OptedIn(&'static str),
}

impl Fact {
    fn attribute(self) -> &'static str {
        match self {
            Self::Inbound => "last_inbound_at",
            Self::OptedOut => "opted_out_at",
            Self::OptedIn(_) => "opted_in_at",
        }
    }
}

/// Recipient state in DynamoDB.
#[derive(Debug, Clone)]
pub struct RecipientStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn key(instance: &str, recipient: &str) -> String {
    format!("{PREFIX}{instance}#{recipient}")
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn from_item(item: &Item) -> Option<Recipient> {
    Some(Recipient {
        instance_id: text(item, "instance_id")?,
        recipient: text(item, "recipient")?,
        last_inbound_at: number(item, "last_inbound_at"),
        opted_out_at: number(item, "opted_out_at"),
        opted_in_at: number(item, "opted_in_at"),
        opted_in_by: text(item, "opted_in_by"),
    })
}

impl RecipientStore {
    /// The store on `table` (the tool state table).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// `recipient` wrote to `instance` at `at`.
    pub async fn record_inbound(
        &self,
        instance: &str,
        recipient: &str,
        at: u64,
    ) -> Result<(), RecipientError> {
        self.advance(instance, recipient, Fact::Inbound, at).await
    }

    /// `recipient` asked `instance` for no more messages at `at`.
    pub async fn opt_out(
        &self,
        instance: &str,
        recipient: &str,
        at: u64,
    ) -> Result<(), RecipientError> {
        self.advance(instance, recipient, Fact::OptedOut, at).await
    }

    /// `recipient` asked for messages again at `at` (they wrote `START`).
    pub async fn opt_in(
        &self,
        instance: &str,
        recipient: &str,
        at: u64,
    ) -> Result<(), RecipientError> {
        self.advance(instance, recipient, Fact::OptedIn("message"), at)
            .await
    }

    /// An operator lifts `recipient`'s opt-out at `now` (`switchyard whatsapp optout remove`).
    pub async fn lift_opt_out(
        &self,
        instance: &str,
        recipient: &str,
        now: u64,
    ) -> Result<(), RecipientError> {
        self.advance(instance, recipient, Fact::OptedIn("operator"), now)
            .await
    }

    /// Moves `fact`'s time to `at` unless a newer one is recorded (then nothing changes).
    async fn advance(
        &self,
        instance: &str,
        recipient: &str,
        fact: Fact,
        at: u64,
    ) -> Result<(), RecipientError> {
        let mut update =
            "SET #at = :at, instance_id = :instance, recipient = :recipient".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key(instance, recipient)))
            .condition_expression("attribute_not_exists(#at) OR #at < :at")
            .expression_attribute_names("#at", fact.attribute())
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":instance", s(instance))
            .expression_attribute_values(":recipient", s(recipient));
        if let Fact::OptedIn(by) = fact {
            update.push_str(", opted_in_by = :by");
            request = request.expression_attribute_values(":by", s(by));
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(()),
            // A newer fact is already recorded: a late or repeated delivery changes nothing.
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(RecipientError::Unavailable(chain(&e))),
        }
    }

    /// What is known about `recipient` of `instance`.
    pub async fn get(&self, instance: &str, recipient: &str) -> Result<Recipient, RecipientError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key(instance, recipient)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RecipientError::Unavailable(chain(&e)))?;
        Ok(out
            .item
            .as_ref()
            .and_then(from_item)
            .unwrap_or_else(|| Recipient {
                instance_id: instance.to_owned(),
                recipient: recipient.to_owned(),
                ..Recipient::default()
            }))
    }

    /// Every opted-out recipient (of `instance`, or of every instance): an operator listing that
    /// scans the row family, never a request path.
    pub async fn opted_out(
        &self,
        instance: Option<&str>,
    ) -> Result<Vec<Recipient>, RecipientError> {
        let prefix = match instance {
            Some(instance) => format!("{PREFIX}{instance}#"),
            None => PREFIX.to_owned(),
        };
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :prefix) AND attribute_exists(opted_out_at)")
            .expression_attribute_values(":prefix", AttributeValue::S(prefix));
        let items = all_items(scan)
            .await
            .map_err(|e| RecipientError::Unavailable(chain(&e)))?;
        let mut found: Vec<Recipient> = items
            .iter()
            .filter_map(from_item)
            .filter(Recipient::opted_out)
            .collect();
        found.sort_by(|a, b| (&a.instance_id, &a.recipient).cmp(&(&b.instance_id, &b.recipient)));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_of_opt_out_and_opt_in_decides() {
        let mut r = Recipient::default();
        assert!(!r.opted_out());
        r.opted_out_at = Some(10);
        assert!(r.opted_out());
        r.opted_in_at = Some(11);
        assert!(!r.opted_out());
        r.opted_out_at = Some(12);
        assert!(r.opted_out());
    }

    #[test]
    fn the_window_is_open_for_less_than_its_length_after_the_last_message() {
        let r = Recipient {
            last_inbound_at: Some(1_000),
            ..Recipient::default()
        };
        assert!(r.wrote_within(86_400, 1_000 + 86_399));
        assert!(!r.wrote_within(86_400, 1_000 + 86_400));
        assert!(!Recipient::default().wrote_within(86_400, 5));
    }
}
