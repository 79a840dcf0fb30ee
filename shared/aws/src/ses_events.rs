//! SES's email events as EventBridge delivers them (source `aws.ses`, on the default bus, from
//! a configuration set's event destination), recorded in the message log against the message
//! an email tool sent. Only AWS can publish events with an `aws.*` source, so the rule's
//! pattern is the authentication; the message id then binds the status to a message a tool
//! sent, and anything else is ignored.
//!
//! `detail` is SES's event record: `eventType` (`Send`, `Delivery`, `Bounce`, `Complaint`,
//! `DeliveryDelay`, `Reject`, `RenderingFailure`, and engagement: `Open`, `Click`,
//! `Subscription`), `mail.messageId`, `mail.destination`, and an object per type whose
//! recipients and timestamp are the event's.
//! <https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html>

use serde_json::Value;

use crate::messages::{MessageLog, MessageLogError, Recorded, StatusEvent};

/// The message log's service name for SES.
pub const SERVICE: &str = "ses";

/// What one SES event says of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesStatus {
    pub message_id: String,
    pub events: Vec<StatusEvent>,
}

/// The statuses an SES event `detail` reports; `None` for engagement events and anything that
/// is not an SES email event.
pub fn status_of(detail: &Value, fallback_at: u64) -> Option<SesStatus> {
    let event_type = detail.get("eventType").and_then(Value::as_str)?;
    let (status, object, recipients_key) = match event_type {
        "Send" => ("sent", "send", None),
        "Delivery" => ("delivered", "delivery", Some("recipients")),
        "Bounce" => ("bounce", "bounce", Some("bouncedRecipients")),
        "Complaint" => ("complaint", "complaint", Some("complainedRecipients")),
        "DeliveryDelay" => ("deferred", "deliveryDelay", Some("delayedRecipients")),
        "Reject" => ("rejected", "reject", None),
        "RenderingFailure" => ("rendering_failure", "failure", None),
        _ => return None,
    };
    let message_id = detail
        .pointer("/mail/messageId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())?
        .to_owned();
    let body = detail.get(object);
    let at = body
        .and_then(|b| b.get("timestamp"))
        .and_then(Value::as_str)
        .and_then(switchyard_providers::declared::parse_time)
        .unwrap_or(fallback_at);
    // Recipients are plain strings (delivery) or `{emailAddress}` objects (bounce, complaint,
    // delay); without a list the event is about every destination of the message.
    let listed: Vec<String> = recipients_key
        .and_then(|k| body?.get(k)?.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|r| {
                    r.as_str()
                        .or_else(|| r.get("emailAddress").and_then(Value::as_str))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let recipients = if listed.is_empty() {
        detail
            .pointer("/mail/destination")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        listed
    };
    let events = if recipients.is_empty() {
        vec![StatusEvent {
            recipient: None,
            status: status.to_owned(),
            at,
        }]
    } else {
        recipients
            .into_iter()
            .map(|r| StatusEvent {
                recipient: Some(r),
                status: status.to_owned(),
                at,
            })
            .collect()
    };
    Some(SesStatus { message_id, events })
}

/// What recording one SES event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Applied {
    Recorded,
    /// Not a message an email tool sent.
    UnknownMessage,
    /// An engagement event or not an SES email event.
    Ignored,
}

/// Records an SES event's statuses (`detail`: the EventBridge event's `detail`).
pub async fn record(
    log: &MessageLog,
    detail: &Value,
    now: u64,
) -> Result<Applied, MessageLogError> {
    let Some(status) = status_of(detail, now) else {
        return Ok(Applied::Ignored);
    };
    let mut applied = Applied::Recorded;
    for event in &status.events {
        if log
            .record_status(SERVICE, &status.message_id, event)
            .await?
            == Recorded::UnknownMessage
        {
            applied = Applied::UnknownMessage;
            break;
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bounce_names_its_recipients_and_engagement_is_ignored() {
        let bounce = json!({
            "eventType": "Bounce",
            "mail": {"messageId": "0100abc", "destination": ["a@example.com", "b@example.com"]},
            "bounce": {"bounceType": "Permanent", "timestamp": "2026-11-27T10:00:00.000Z",
                       "bouncedRecipients": [{"emailAddress": "b@example.com"}]}
        });
        let status = status_of(&bounce, 1).expect("a status");
        assert_eq!(status.message_id, "0100abc");
        assert_eq!(
            status.events,
            vec![StatusEvent {
                recipient: Some("b@example.com".into()),
                status: "bounce".into(),
                at: 1_795_773_600,
            }]
        );
        let delivered = json!({
            "eventType": "Delivery", "mail": {"messageId": "m", "destination": ["a@example.com"]},
            "delivery": {"recipients": ["a@example.com"]}
        });
        assert_eq!(
            status_of(&delivered, 7).expect("a status").events[0].status,
            "delivered"
        );
        assert_eq!(status_of(&delivered, 7).expect("a status").events[0].at, 7);
        let sent = json!({"eventType": "Send", "mail": {"messageId": "m", "destination": ["x@example.com"]}, "send": {}});
        assert_eq!(
            status_of(&sent, 1).expect("a status").events[0]
                .recipient
                .as_deref(),
            Some("x@example.com")
        );
        let open = json!({"eventType": "Open", "mail": {"messageId": "m"}});
        assert_eq!(status_of(&open, 1), None);
        assert_eq!(status_of(&json!({"eventType": "Delivery"}), 1), None);
    }
}
