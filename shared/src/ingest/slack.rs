//! Slack: what a verified request means.
//!
//! - Events API (JSON): `url_verification` is answered with its challenge (text/plain);
//!   `event_callback` is delivered under its `event_id` (the same on every Slack retry).
//! - Slash commands (form): delivered under `trigger_id` (unique per invocation; Slack does not
//!   retry commands); `ssl_check=1` is answered and not delivered.
//! - Interactivity (form field `payload` holding JSON): delivered under `trigger_id`, or, for
//!   payloads without one (`view_closed`, some `block_suggestion`s), the SHA-256 of the raw body.
//!
//! Every delivery is acknowledged with an empty 200 inside Slack's 3-second deadline; the agent
//! answers later through `response_url` or the Web API.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Delivery, Interpretation, Malformed, Reply};

/// Interprets a verified Slack request body.
pub fn interpret(content_type: Option<&str>, body: &[u8]) -> Result<Interpretation, Malformed> {
    let is_json = match content_type {
        Some(ct) => ct.trim_start().starts_with("application/json"),
        None => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    };
    if is_json {
        events_api(body)
    } else {
        form(body)
    }
}

fn events_api(body: &[u8]) -> Result<Interpretation, Malformed> {
    let envelope: Value =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("body is not JSON: {e}")))?;
    let kind = envelope
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Malformed("missing type".into()))?;
    match kind {
        "url_verification" => {
            let challenge = envelope
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or_else(|| Malformed("url_verification without challenge".into()))?;
            Ok(Interpretation::Reply(Reply::text(200, challenge)))
        }
        "event_callback" => {
            let event_id = envelope
                .get("event_id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| Malformed("event_callback without event_id".into()))?;
            if !envelope.get("event").is_some_and(Value::is_object) {
                return Err(Malformed("event_callback without event".into()));
            }
            Ok(Interpretation::Deliver(Delivery {
                id: format!("ev:{event_id}"),
                kind: "event_callback".into(),
                payload: envelope,
                ack: Reply::empty(200),
            }))
        }
        // app_rate_limited and future envelope types: acknowledged, nothing to deliver.
        _ => Ok(Interpretation::Reply(Reply::empty(200))),
    }
}

fn form(body: &[u8]) -> Result<Interpretation, Malformed> {
    let mut fields = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    if fields.get("ssl_check").and_then(Value::as_str) == Some("1") {
        return Ok(Interpretation::Reply(Reply::empty(200)));
    }
    if let Some(payload) = fields.get("payload").and_then(Value::as_str) {
        let payload: Value = serde_json::from_str(payload)
            .map_err(|e| Malformed(format!("payload field is not JSON: {e}")))?;
        if !payload.get("type").is_some_and(Value::is_string) {
            return Err(Malformed("interaction payload without type".into()));
        }
        let id = match payload.get("trigger_id").and_then(Value::as_str) {
            Some(trigger) if !trigger.is_empty() => format!("ia:{trigger}"),
            _ => format!("ia:sha256:{}", hex::encode(Sha256::digest(body))),
        };
        return Ok(Interpretation::Deliver(Delivery {
            id,
            kind: "interaction".into(),
            payload,
            ack: Reply::empty(200),
        }));
    }
    if fields.get("command").is_some_and(Value::is_string) {
        let id = match fields.get("trigger_id").and_then(Value::as_str) {
            Some(trigger) if !trigger.is_empty() => format!("cmd:{trigger}"),
            _ => format!("cmd:sha256:{}", hex::encode(Sha256::digest(body))),
        };
        return Ok(Interpretation::Deliver(Delivery {
            id,
            kind: "slash_command".into(),
            payload: Value::Object(fields),
            ack: Reply::empty(200),
        }));
    }
    Err(Malformed(
        "form body is neither a slash command, an interaction payload nor ssl_check".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(i: Interpretation) -> Delivery {
        match i {
            Interpretation::Deliver(d) => d,
            Interpretation::Reply(r) => panic!("expected a delivery, got {r:?}"),
        }
    }

    #[test]
    fn url_verification_answers_the_challenge_in_plain_text() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        match interpret(Some("application/json"), body).expect("ok") {
            Interpretation::Reply(r) => {
                assert_eq!(r.status, 200);
                assert_eq!(r.content_type, Some("text/plain"));
                assert_eq!(
                    r.body,
                    b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn event_callback_is_keyed_by_event_id() {
        let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev01","event_time":1,"event":{"type":"app_mention","channel":"C1","text":"hi"}}"#;
        let d = delivery(interpret(Some("application/json"), body).expect("ok"));
        assert_eq!(d.id, "ev:Ev01");
        assert_eq!(d.kind, "event_callback");
        assert_eq!(d.ack.status, 200);
    }

    #[test]
    fn slash_command_keyed_by_trigger_id_and_ssl_check_answered() {
        let body = b"command=%2Fask&text=hello&channel_id=C1&trigger_id=123.456.abc&response_url=https%3A%2F%2Fhooks.slack.com%2Fx";
        let d = delivery(interpret(Some("application/x-www-form-urlencoded"), body).expect("ok"));
        assert_eq!(d.id, "cmd:123.456.abc");
        assert_eq!(d.payload["text"], "hello");
        assert!(matches!(
            interpret(None, b"ssl_check=1&token=x").expect("ok"),
            Interpretation::Reply(_)
        ));
    }

    #[test]
    fn interaction_payload_is_decoded_after_verification() {
        let payload = r#"{"type":"block_actions","trigger_id":"9.8.7","channel":{"id":"C1"}}"#;
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", payload)
            .finish();
        let d = delivery(interpret(None, body.as_bytes()).expect("ok"));
        assert_eq!(d.id, "ia:9.8.7");
        assert_eq!(d.payload["type"], "block_actions");

        let closed = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", r#"{"type":"view_closed"}"#)
            .finish();
        let d = delivery(interpret(None, closed.as_bytes()).expect("ok"));
        assert!(d.id.starts_with("ia:sha256:"), "{}", d.id);
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        assert!(interpret(Some("application/json"), b"{not json").is_err());
        assert!(interpret(Some("application/json"), br#"{"type":"event_callback"}"#).is_err());
        assert!(interpret(None, b"hello=world").is_err());
        assert!(interpret(None, b"payload=%7Bnope").is_err());
    }
}
