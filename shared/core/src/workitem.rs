//! The versioned message that ingress puts on the ingress queue.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The current WorkItem schema version.
pub const WORK_ITEM_VERSION: u32 = 1;

/// Why a queue message is not a WorkItem this build understands (a poison message).
#[derive(Debug, thiserror::Error)]
pub enum WorkItemError {
    #[error("not a WorkItem: {0}")]
    Malformed(String),
    #[error("WorkItem version {0} is not supported (this build reads {WORK_ITEM_VERSION})")]
    UnsupportedVersion(u32),
}

/// One accepted webhook delivery, ready for the consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    /// Schema version ([`WORK_ITEM_VERSION`]).
    pub v: u32,
    /// Unique id of this work item (`wi_<uuid>`).
    pub id: String,
    /// The delivery key claimed in the deliveries table.
    pub delivery_key: String,
    pub provider: String,
    pub instance_id: String,
    /// Provider-specific kind, e.g. `event_callback`, `slash_command`, `application_command`.
    pub kind: String,
    /// Unix seconds when ingress accepted it.
    pub received_at: u64,
    /// The provider's retry counter, when it sent one (Slack `X-Slack-Retry-Num`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_num: Option<u32>,
    /// The parsed payload, inline. A JSON `null` body is a payload too (`Some(Null)`), kept
    /// apart from an absent one so it survives the queue.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub payload: Option<Value>,
    /// Where the payload is when it was too large to travel inline (S3 key in the payload bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<String>,
    /// What ingress understood of the event (providers described by data alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventMeta>,
}

/// A declared provider's event as ingress understood it: its name, resource attributes and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The PlatformEvent type, e.g. `shopify.orders/create`.
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Unix seconds the provider says it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<u64>,
}

/// A field that is there is `Some`, even when it is `null` (an absent one is `None` by default).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl WorkItem {
    /// Parses a queue message body, checking the version.
    pub fn parse(body: &str) -> Result<Self, WorkItemError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version =
            serde_json::from_str(body).map_err(|e| WorkItemError::Malformed(e.to_string()))?;
        if version.v != WORK_ITEM_VERSION {
            return Err(WorkItemError::UnsupportedVersion(version.v));
        }
        let item: Self =
            serde_json::from_str(body).map_err(|e| WorkItemError::Malformed(e.to_string()))?;
        if item.payload.is_none() && item.payload_ref.is_none() {
            return Err(WorkItemError::Malformed(
                "neither payload nor payload_ref".into(),
            ));
        }
        Ok(item)
    }

    /// The message body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> WorkItem {
        WorkItem {
            v: 1,
            id: "wi_1".into(),
            delivery_key: "slack#i#ev:Ev1".into(),
            provider: "slack".into(),
            instance_id: "i".into(),
            kind: "event_callback".into(),
            received_at: 5,
            retry_num: None,
            payload: Some(serde_json::json!({"a": 1})),
            payload_ref: None,
            event: None,
        }
    }

    #[test]
    fn round_trips_and_checks_version() {
        let json = item().to_json();
        assert_eq!(WorkItem::parse(&json).expect("parse"), item());
        let v2 = json.replace("\"v\":1", "\"v\":2");
        assert!(matches!(
            WorkItem::parse(&v2),
            Err(WorkItemError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            WorkItem::parse("garbage"),
            Err(WorkItemError::Malformed(_))
        ));
    }

    #[test]
    fn a_null_payload_survives_the_queue() {
        let mut i = item();
        i.payload = Some(serde_json::Value::Null);
        assert_eq!(WorkItem::parse(&i.to_json()).expect("parse"), i);
    }

    #[test]
    fn payload_numbers_survive_the_queue_exactly() {
        // Without serde_json's correctly rounded parsing this reads back one ULP off.
        let mut i = item();
        i.payload = Some(serde_json::json!([1.6261337865382624e146, 0.1, 5e-324]));
        assert_eq!(WorkItem::parse(&i.to_json()).expect("parse"), i);
    }

    #[test]
    fn payload_or_reference_is_required() {
        let mut i = item();
        i.payload = None;
        assert!(WorkItem::parse(&i.to_json()).is_err());
        i.payload_ref = Some("payloads/wi_1.json".into());
        assert!(WorkItem::parse(&i.to_json()).is_ok());
    }
}
