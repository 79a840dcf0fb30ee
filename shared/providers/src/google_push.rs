//! Google push notifications: Gmail through a Pub/Sub push subscription, Drive and Calendar
//! through push channels. Neither carries the change itself; each becomes one delivery that
//! asks the sync worker to pull from the watch's cursor (the definitions send them to the sync
//! queue). The changes the sync worker finds are queued under these providers with their event
//! (`WorkItem::event`), which the default `normalize` publishes.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::plugin::{Delivery, Inbound, Interpretation, Malformed, TenantFact, WebhookPlugin};
use switchyard_core::reply::Reply;

/// The instance config key naming the mailbox a Gmail watch is on.
pub const GMAIL_ADDRESS_KEY: &str = "gmail_address";

/// Gmail's Pub/Sub push: `{"message":{"data":"<base64 JSON>","messageId":…,"publishTime":…},
/// "subscription":…}`, `data` being `{"emailAddress":…,"historyId":…}`.
#[derive(Debug)]
pub struct PubsubPush;

impl WebhookPlugin for PubsubPush {
    fn interpret(&self, request: &Inbound<'_>) -> Result<Interpretation, Malformed> {
        let body: Value = serde_json::from_slice(request.body)
            .map_err(|e| Malformed(format!("body is not JSON: {e}")))?;
        let message = body
            .get("message")
            .filter(|m| m.is_object())
            .ok_or_else(|| Malformed("no message".into()))?;
        // Real deliveries carry both spellings; either is enough.
        let field = |camel: &str, snake: &str| {
            message
                .get(camel)
                .or_else(|| message.get(snake))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let message_id = field("messageId", "message_id")
            .ok_or_else(|| Malformed("message has no messageId".into()))?;
        let publish_time = field("publishTime", "publish_time");
        let data = message
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| Malformed("message has no data".into()))?;
        let notification = decode_data(data)?;
        let email = notification
            .get("emailAddress")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Malformed("data has no emailAddress".into()))?;
        let history_id = match notification.get("historyId") {
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.clone()
            }
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            _ => return Err(Malformed("data has no numeric historyId".into())),
        };
        let delivery = Delivery {
            id: format!("{email}#{history_id}#{message_id}"),
            kind: "gmail.notification".into(),
            payload: json!({
                "emailAddress": email,
                "historyId": history_id,
                "messageId": message_id,
                "publishTime": publish_time,
                "subscription": body.get("subscription").and_then(Value::as_str),
            }),
            event: None,
            tenant: vec![TenantFact::new(GMAIL_ADDRESS_KEY, Some(email))],
        };
        Ok(Interpretation::Deliver {
            deliveries: vec![delivery],
            ack: Reply::empty(200),
        })
    }

    // `normalize`: the default. Notifications carry no event (they go to the sync queue); the
    // changes the sync worker queues under this provider carry theirs (`WorkItem::event`).
}

/// `message.data`: base64, standard or URL-safe, padded or not, of a JSON object.
fn decode_data(data: &str) -> Result<Value, Malformed> {
    let normalized: String = data
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    let bytes = STANDARD_NO_PAD
        .decode(normalized)
        .map_err(|_| Malformed("message data is not base64".into()))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|_| Malformed("message data is not JSON".into()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(Malformed("message data is not a JSON object".into()))
    }
}

/// A Drive or Calendar channel notification: everything is in the `X-Goog-*` headers.
#[derive(Debug)]
pub struct ChannelNotification;

impl WebhookPlugin for ChannelNotification {
    fn interpret(&self, request: &Inbound<'_>) -> Result<Interpretation, Malformed> {
        let header = |name: &str| request.header(name).filter(|v| !v.is_empty());
        let required =
            |name: &str| header(name).ok_or_else(|| Malformed(format!("no {name} header")));
        let state = required("x-goog-resource-state")?;
        // The first message of every channel; it asks for nothing.
        if state == "sync" {
            return Ok(Interpretation::reply(Reply::empty(200)));
        }
        let channel_id = required("x-goog-channel-id")?;
        let resource_id = required("x-goog-resource-id")?;
        let number = required("x-goog-message-number")?;
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed("x-goog-message-number is not a number".into()));
        }
        let delivery = Delivery {
            id: format!("{channel_id}#{resource_id}#{number}"),
            kind: "channel.notification".into(),
            payload: json!({
                "channel_id": channel_id,
                "resource_id": resource_id,
                "resource_state": state,
                "message_number": number,
                "changed": header("x-goog-changed"),
                "watch_id": request.facts.get("watch_id"),
            }),
            event: None,
            tenant: Vec::new(),
        };
        Ok(Interpretation::Deliver {
            deliveries: vec![delivery],
            ack: Reply::empty(200),
        })
    }

    // `normalize`: the default, as for Pub/Sub above.
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use http::HeaderMap;

    fn interpret(
        plugin: &dyn WebhookPlugin,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Interpretation, Malformed> {
        let facts = crate::verify::Facts::from([("watch_id".to_owned(), "wch_1".to_owned())]);
        plugin.interpret(&Inbound {
            headers,
            body,
            facts: &facts,
        })
    }

    fn push(data: &str) -> Vec<u8> {
        json!({
            "message": {"data": data, "messageId": "2070443601311540", "message_id": "2070443601311540",
                        "publishTime": "2021-02-26T19:13:55.749Z"},
            "subscription": "projects/myproject/subscriptions/mysubscription"
        })
        .to_string()
        .into_bytes()
    }

    fn delivery(result: Result<Interpretation, Malformed>) -> Delivery {
        match result.expect("interpreted") {
            Interpretation::Deliver { mut deliveries, .. } => {
                assert_eq!(deliveries.len(), 1);
                deliveries.remove(0)
            }
            other => panic!("not a delivery: {other:?}"),
        }
    }

    #[test]
    fn gmail_push_in_either_base64_alphabet() {
        let data = r#"{"emailAddress": "user@example.com", "historyId": "9876543210"}"#;
        for encoded in [STANDARD.encode(data), URL_SAFE_NO_PAD.encode(data)] {
            let d = delivery(interpret(&PubsubPush, &HeaderMap::new(), &push(&encoded)));
            assert_eq!(d.id, "user@example.com#9876543210#2070443601311540");
            assert_eq!(d.kind, "gmail.notification");
            assert_eq!(d.payload["historyId"], "9876543210");
            assert_eq!(
                d.payload["subscription"],
                "projects/myproject/subscriptions/mysubscription"
            );
            assert_eq!(
                d.tenant,
                vec![TenantFact::new("gmail_address", Some("user@example.com"))]
            );
        }
        // The guide's own example data, and a numeric historyId.
        let d = delivery(interpret(
            &PubsubPush,
            &HeaderMap::new(),
            &push("eyJlbWFpbEFkZHJlc3MiOiAidXNlckBleGFtcGxlLmNvbSIsICJoaXN0b3J5SWQiOiAiMTIzNDU2Nzg5MCJ9"),
        ));
        assert_eq!(d.payload["historyId"], "1234567890");
        let numeric = STANDARD.encode(r#"{"emailAddress":"a@b.c","historyId":42}"#);
        let d = delivery(interpret(&PubsubPush, &HeaderMap::new(), &push(&numeric)));
        assert_eq!(d.payload["historyId"], "42");
    }

    #[test]
    fn malformed_pushes_are_refused() {
        let ok = STANDARD.encode(r#"{"emailAddress":"a@b.c","historyId":"1"}"#);
        for body in [
            b"not json".to_vec(),
            b"{}".to_vec(),
            push("!!!"),
            push(&STANDARD.encode("[1]")),
            push(&STANDARD.encode(r#"{"historyId":"1"}"#)),
            push(&STANDARD.encode(r#"{"emailAddress":"a@b.c","historyId":"x1"}"#)),
            json!({"message": {"data": ok}}).to_string().into_bytes(),
        ] {
            assert!(
                interpret(&PubsubPush, &HeaderMap::new(), &body).is_err(),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    fn channel_headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    v.parse().expect("value"),
                )
            })
            .collect()
    }

    #[test]
    fn channel_notifications_and_sync() {
        let headers = channel_headers(&[
            ("x-goog-channel-id", "ch1"),
            ("x-goog-resource-id", "res1"),
            ("x-goog-resource-state", "change"),
            ("x-goog-message-number", "12"),
            ("x-goog-changed", "content,parents"),
        ]);
        let d = delivery(interpret(&ChannelNotification, &headers, b""));
        assert_eq!(d.id, "ch1#res1#12");
        assert_eq!(d.kind, "channel.notification");
        assert_eq!(
            d.payload,
            json!({"channel_id": "ch1", "resource_id": "res1", "resource_state": "change",
                   "message_number": "12", "changed": "content,parents", "watch_id": "wch_1"})
        );
        let sync = channel_headers(&[
            ("x-goog-channel-id", "ch1"),
            ("x-goog-resource-state", "sync"),
            ("x-goog-message-number", "1"),
        ]);
        assert_eq!(
            interpret(&ChannelNotification, &sync, b"").expect("sync"),
            Interpretation::reply(Reply::empty(200))
        );
        let bad = channel_headers(&[
            ("x-goog-channel-id", "ch1"),
            ("x-goog-resource-id", "res1"),
            ("x-goog-resource-state", "exists"),
            ("x-goog-message-number", "-1"),
        ]);
        assert!(interpret(&ChannelNotification, &bad, b"").is_err());
    }
}
