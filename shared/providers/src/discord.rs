//! Discord interactions: what a verified request means.
//!
//! `PING` (1) is answered with `PONG`; application commands (2) and modal submits (5) get a
//! deferred channel message (type 5), components (3) a deferred update (type 6), all inside the
//! 3-second deadline and keyed by the interaction `id`. The interaction `token` travels with
//! the event so the agent can edit the original response or send follow-ups for 15 minutes.
//! Autocomplete (4) needs an answer in the same HTTP response, which a queued agent cannot give:
//! it is answered with no choices and not delivered.
//!
//! Tenant binding: the public key belongs to the application, so the interaction's
//! `application_id` must match the instance's, and its `guild_id` be one of the instance's
//! `guild_ids` when that allowlist is set. An interaction no granted agent takes is answered at
//! once with an ephemeral notice instead of leaving the user looking at "thinking…".

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::plugin::{
    Delivery, Inbound, Interpretation, Malformed, Normalized, TenantFact, WebhookPlugin,
};
use switchyard_core::policy::{Place, Scope};
use switchyard_core::reply::Reply;
use switchyard_core::workitem::WorkItem;

/// What a user sees when no agent is enabled where they invoked the app (only they see it).
pub const NOT_ENABLED: &str = "This app is not enabled in this channel.";

/// Discord's webhook code.
#[derive(Debug, Default)]
pub struct Discord;

impl WebhookPlugin for Discord {
    fn interpret(&self, request: &Inbound<'_>) -> Result<Interpretation, Malformed> {
        interpret(request.body)
    }

    fn normalize(&self, item: &WorkItem, payload: &Value) -> Option<Normalized> {
        let channel = str_at(payload, "/channel_id").or_else(|| str_at(payload, "/channel/id"));
        let guild = str_at(payload, "/guild_id");
        let place = if guild.is_some() {
            Place::PublicChannel
        } else {
            Place::DirectMessage
        };
        let attributes: BTreeMap<String, String> = guild
            .map(|g| ("guild_id".to_owned(), g.to_owned()))
            .into_iter()
            .collect();
        Some(Normalized {
            event_type: format!("discord.{}", item.kind),
            scope: Scope {
                place,
                channel: channel.map(str::to_owned),
                addressed: true,
            },
            occurred_at: item.received_at,
            attributes,
            reply: json!({
                "application_id": str_at(payload, "/application_id"),
                "interaction_id": str_at(payload, "/id"),
                "interaction_token": str_at(payload, "/token"),
            }),
        })
    }

    fn unrouted_reply(&self) -> Option<Reply> {
        // CHANNEL_MESSAGE_WITH_SOURCE with the EPHEMERAL flag (1 << 6).
        Some(Reply::json(
            200,
            &json!({"type": 4, "data": {"content": NOT_ENABLED, "flags": 64}}),
        ))
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn tenant(interaction: &Value) -> Vec<TenantFact> {
    vec![
        TenantFact::new("application_id", str_at(interaction, "/application_id")),
        TenantFact::new("guild_ids", str_at(interaction, "/guild_id")),
    ]
}

/// Interprets a verified Discord interaction body.
pub fn interpret(body: &[u8]) -> Result<Interpretation, Malformed> {
    let interaction: Value =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("body is not JSON: {e}")))?;
    let kind = interaction
        .get("type")
        .and_then(Value::as_u64)
        .ok_or_else(|| Malformed("missing interaction type".into()))?;
    if kind == 1 {
        return Ok(Interpretation::Reply {
            reply: Reply::json(200, &json!({"type": 1})),
            tenant: vec![TenantFact::new(
                "application_id",
                str_at(&interaction, "/application_id"),
            )],
        });
    }
    let (name, deferred) = match kind {
        2 => ("application_command", 5),
        3 => ("message_component", 6),
        4 => {
            return Ok(Interpretation::Reply {
                reply: Reply::json(200, &json!({"type": 8, "data": {"choices": []}})),
                tenant: tenant(&interaction),
            })
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
    Ok(Interpretation::Deliver {
        deliveries: vec![Delivery {
            id: format!("ia:{id}"),
            kind: name.into(),
            tenant: tenant(&interaction),
            payload: interaction,
            event: None,
        }],
        ack: Reply::json(200, &json!({"type": deferred})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack_type(i: &Interpretation) -> u64 {
        let body = match i {
            Interpretation::Reply { reply, .. } => &reply.body,
            Interpretation::Deliver { ack, .. } => &ack.body,
        };
        serde_json::from_slice::<Value>(body).expect("json")["type"]
            .as_u64()
            .expect("type")
    }

    #[test]
    fn ping_gets_pong() {
        let i = interpret(br#"{"type":1,"id":"1","application_id":"2","token":"t"}"#).expect("ok");
        assert!(matches!(i, Interpretation::Reply { .. }));
        assert_eq!(ack_type(&i), 1);
    }

    #[test]
    fn commands_defer_and_components_defer_update() {
        let cmd =
            br#"{"type":2,"id":"111","application_id":"2","token":"tok","data":{"name":"ask"}}"#;
        let i = interpret(cmd).expect("ok");
        assert_eq!(ack_type(&i), 5);
        let Interpretation::Deliver { deliveries, .. } = i else {
            panic!("not delivered")
        };
        assert_eq!(deliveries[0].id, "ia:111");
        assert_eq!(deliveries[0].payload["token"], "tok");
        assert_eq!(
            deliveries[0].tenant[0],
            TenantFact::new("application_id", Some("2"))
        );

        let comp =
            br#"{"type":3,"id":"112","application_id":"2","token":"tok","data":{"custom_id":"b"}}"#;
        assert_eq!(ack_type(&interpret(comp).expect("ok")), 6);
        let auto = br#"{"type":4,"id":"113","application_id":"2","token":"tok"}"#;
        assert!(matches!(
            interpret(auto).expect("ok"),
            Interpretation::Reply { .. }
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
