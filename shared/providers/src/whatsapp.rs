//! What WhatsApp's deliveries change in the gateway's state, which its definition (data) cannot
//! say: every inbound message opens the 24-hour customer-service window with its sender, and a
//! text body of `STOP` / `UNSUBSCRIBE` (or `START`) opts the sender out (or back in). Events and
//! tenant binding stay in `whatsapp.yaml`.

use serde_json::Value;

use switchyard_core::workitem::WorkItem;

use crate::plugin::Effect;

/// Bodies that opt a sender out, compared trimmed and case-insensitively.
const OPT_OUT_WORDS: &[&str] = &["STOP", "UNSUBSCRIBE"];
/// Bodies that opt a sender back in.
const OPT_IN_WORDS: &[&str] = &["START"];

/// The effects of one queued WhatsApp delivery (one `messages[]` element or one status).
pub fn effects(item: &WorkItem, payload: &Value) -> Vec<Effect> {
    // Statuses are about our own messages: they open no window.
    if item.kind != "message" {
        return Vec::new();
    }
    let Some(sender) = payload
        .get("from")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    let at = payload
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(item.received_at);
    let recipient = sender.to_owned();
    let mut effects = vec![Effect::InboundMessage {
        recipient: recipient.clone(),
        at,
    }];
    let body = payload
        .pointer("/text/body")
        .and_then(Value::as_str)
        .map(|b| b.trim().to_ascii_uppercase());
    match body.as_deref() {
        Some(word) if OPT_OUT_WORDS.contains(&word) => {
            effects.push(Effect::OptedOut { recipient, at })
        }
        Some(word) if OPT_IN_WORDS.contains(&word) => {
            effects.push(Effect::OptedIn { recipient, at })
        }
        _ => {}
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(kind: &str) -> WorkItem {
        serde_json::from_value(json!({
            "v": 1, "id": "wi_1", "delivery_key": "k", "provider": "whatsapp",
            "instance_id": "i1", "kind": kind, "received_at": 99
        }))
        .expect("work item")
    }

    fn text(body: &str) -> Value {
        json!({"from": "16505551234", "id": "wamid.1", "timestamp": "1767225600",
               "type": "text", "text": {"body": body}})
    }

    #[test]
    fn an_inbound_message_opens_the_window_at_its_timestamp() {
        assert_eq!(
            effects(&item("message"), &text("Does it come in red?")),
            vec![Effect::InboundMessage {
                recipient: "16505551234".into(),
                at: 1_767_225_600
            }]
        );
    }

    #[test]
    fn stop_and_unsubscribe_opt_out_and_start_opts_in_trimmed_any_case() {
        for body in [" stop ", "STOP", "Unsubscribe\n"] {
            let found = effects(&item("message"), &text(body));
            assert!(
                found.contains(&Effect::OptedOut {
                    recipient: "16505551234".into(),
                    at: 1_767_225_600
                }),
                "{body:?}: {found:?}"
            );
        }
        let found = effects(&item("message"), &text(" Start"));
        assert!(found.contains(&Effect::OptedIn {
            recipient: "16505551234".into(),
            at: 1_767_225_600
        }));
        let found = effects(&item("message"), &text("please stop calling"));
        assert_eq!(found.len(), 1, "only whole-body keywords count: {found:?}");
    }

    #[test]
    fn statuses_change_nothing() {
        let status = json!({"id": "wamid.2", "status": "read", "recipient_id": "16505551234"});
        assert!(effects(&item("status"), &status).is_empty());
    }
}
