//! SendGrid's Event Webhook: what its data cannot say. Each delivery is one event of a message
//! sent through `email.send`; its status is recorded against that call's receipt.
//!
//! `sg_message_id` is the `X-Message-Id` that `POST /v3/mail/send` answered, followed by a dot
//! and the id SendGrid's filter gave the message (`14c5d75ce93.dfd.64b469.filter0001…`): the part
//! before the first dot is the key the send recorded.
//! <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event>

use serde_json::Value;
use switchyard_core::workitem::WorkItem;

use crate::Effect;

/// The events that say where a message got to (opens and clicks say nothing of delivery, and
/// are not recorded).
const STATUSES: &[&str] = &[
    "processed",
    "dropped",
    "deferred",
    "delivered",
    "bounce",
    "blocked",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
];

/// A message status for each delivery event of a message SendGrid knows.
pub fn effects(item: &WorkItem, payload: &Value) -> Vec<Effect> {
    let Some(status) = payload.get("event").and_then(Value::as_str) else {
        return Vec::new();
    };
    // A bounce of type `blocked` is the "blocked" status of the Activity feed.
    let status = match (status, payload.get("type").and_then(Value::as_str)) {
        ("bounce", Some("blocked")) => "blocked",
        (status, _) => status,
    };
    if !STATUSES.contains(&status) {
        return Vec::new();
    }
    let Some(message_id) = payload
        .get("sg_message_id")
        .and_then(Value::as_str)
        .and_then(|id| id.split('.').next())
        .filter(|id| !id.is_empty())
    else {
        return Vec::new();
    };
    let at = item
        .event
        .as_ref()
        .and_then(|e| e.occurred_at)
        .unwrap_or(item.received_at);
    vec![Effect::MessageStatus {
        message_id: message_id.to_owned(),
        recipient: payload
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned),
        status: status.to_owned(),
        at,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item() -> WorkItem {
        serde_json::from_value(json!({
            "v": 1, "id": "wi_1", "delivery_key": "k", "provider": "sendgrid",
            "instance_id": "i", "kind": "delivered", "received_at": 1_700_000_100u64
        }))
        .expect("a work item")
    }

    #[test]
    fn a_delivery_event_is_the_status_of_the_message_id_before_the_filter_suffix() {
        let payload = json!({
            "email": "a@example.com", "event": "delivered", "timestamp": 1_700_000_000u64,
            "sg_event_id": "e1", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
        });
        assert_eq!(
            effects(&item(), &payload),
            vec![Effect::MessageStatus {
                message_id: "14c5d75ce93".into(),
                recipient: Some("a@example.com".into()),
                status: "delivered".into(),
                at: 1_700_000_100,
            }]
        );
    }

    #[test]
    fn a_blocked_bounce_is_blocked_and_engagement_is_not_a_status() {
        let bounce = json!({"event": "bounce", "type": "blocked", "sg_message_id": "m1.x"});
        assert!(matches!(
            effects(&item(), &bounce).as_slice(),
            [Effect::MessageStatus { status, .. }] if status == "blocked"
        ));
        let open = json!({"event": "open", "sg_message_id": "m1.x"});
        assert!(effects(&item(), &open).is_empty());
        let no_id = json!({"event": "delivered"});
        assert!(effects(&item(), &no_id).is_empty());
    }
}
