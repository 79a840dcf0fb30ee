//! Discord interactions: what a verified request means.
//!
//! `PING` (1) is answered with `PONG`; application commands (2) and modal submits (5) get a
//! deferred channel message (type 5), components (3) a deferred update (type 6), all inside the
//! 3-second deadline and keyed by the interaction `id`. The interaction `token` travels with
//! the event so the agent can edit the original response or send follow-ups for 15 minutes.
//! Autocomplete (4) needs an answer in the same HTTP response, which a queued agent cannot give:
//! it is answered with no choices and not delivered.

use serde_json::{json, Value};

use super::{Delivery, Interpretation, Malformed, Reply};

/// Interprets a verified Discord interaction body.
pub fn interpret(body: &[u8]) -> Result<Interpretation, Malformed> {
    let interaction: Value =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("body is not JSON: {e}")))?;
    let kind = interaction
        .get("type")
        .and_then(Value::as_u64)
        .ok_or_else(|| Malformed("missing interaction type".into()))?;
    if kind == 1 {
        return Ok(Interpretation::Reply(Reply::json(200, &json!({"type": 1}))));
    }
    let (name, deferred) = match kind {
        2 => ("application_command", 5),
        3 => ("message_component", 6),
        4 => {
            return Ok(Interpretation::Reply(Reply::json(
                200,
                &json!({"type": 8, "data": {"choices": []}}),
            )))
        }
        5 => ("modal_submit", 5),
        other => return Err(Malformed(format!("unknown interaction type {other}"))),
    };
    let id = interaction
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Malformed("missing or non-snowflake interaction id".into()))?
        .to_owned();
    for field in ["token", "application_id"] {
        if !interaction.get(field).is_some_and(Value::is_string) {
            return Err(Malformed(format!("missing {field}")));
        }
    }
    Ok(Interpretation::Deliver(Delivery {
        id: format!("ia:{id}"),
        kind: name.into(),
        payload: interaction,
        ack: Reply::json(200, &json!({"type": deferred})),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack_type(i: &Interpretation) -> u64 {
        let body = match i {
            Interpretation::Reply(r) => &r.body,
            Interpretation::Deliver(d) => &d.ack.body,
        };
        serde_json::from_slice::<Value>(body).expect("json")["type"]
            .as_u64()
            .expect("type")
    }

    #[test]
    fn ping_gets_pong() {
        let i = interpret(br#"{"type":1,"id":"1","application_id":"2","token":"t"}"#).expect("ok");
        assert!(matches!(i, Interpretation::Reply(_)));
        assert_eq!(ack_type(&i), 1);
    }

    #[test]
    fn commands_defer_and_components_defer_update() {
        let cmd =
            br#"{"type":2,"id":"111","application_id":"2","token":"tok","data":{"name":"ask"}}"#;
        let i = interpret(cmd).expect("ok");
        assert_eq!(ack_type(&i), 5);
        let Interpretation::Deliver(d) = i else {
            panic!("not delivered")
        };
        assert_eq!(d.id, "ia:111");
        assert_eq!(d.payload["token"], "tok");

        let comp =
            br#"{"type":3,"id":"112","application_id":"2","token":"tok","data":{"custom_id":"b"}}"#;
        assert_eq!(ack_type(&interpret(comp).expect("ok")), 6);
        let auto = br#"{"type":4,"id":"113","application_id":"2","token":"tok"}"#;
        assert!(matches!(
            interpret(auto).expect("ok"),
            Interpretation::Reply(_)
        ));
    }

    #[test]
    fn malformed_interactions_are_rejected() {
        assert!(interpret(b"nope").is_err());
        assert!(interpret(br#"{"id":"1"}"#).is_err());
        assert!(interpret(br#"{"type":2,"application_id":"2","token":"t"}"#).is_err());
        assert!(interpret(br#"{"type":2,"id":"1","application_id":"2"}"#).is_err());
        assert!(interpret(br#"{"type":99,"id":"1","application_id":"2","token":"t"}"#).is_err());
    }
}
