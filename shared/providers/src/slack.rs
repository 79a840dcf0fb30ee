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

//!
//! Tenant binding: a signing secret belongs to the app, which every installing workspace
//! shares, so the request's `team_id` and `api_app_id` must match the instance's when set.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::plugin::{
    ApprovalDecision, ApprovalRequest, Delivery, Inbound, Interpretation, Malformed, Normalized,
    TenantFact, WebhookPlugin,
};
use switchyard_core::policy::{Place, Scope};
use switchyard_core::reply::Reply;
use switchyard_core::workitem::WorkItem;

/// Slack's webhook code.
#[derive(Debug, Default)]
pub struct Slack;

impl WebhookPlugin for Slack {
    fn interpret(&self, request: &Inbound<'_>) -> Result<Interpretation, Malformed> {
        interpret(request.header("content-type"), request.body)
    }

    fn normalize(&self, item: &WorkItem, payload: &Value) -> Option<Normalized> {
        match item.kind.as_str() {
            "event_callback" => event(item, payload),
            "slash_command" => Some(command(item, payload)),
            "interaction" => Some(interaction(item, payload)),
            _ => None,
        }
    }

    fn approval_message(&self, request: &ApprovalRequest<'_>) -> Option<(String, Value)> {
        Some(("slack.post_message".into(), approval_message(request)))
    }

    fn approval_decision(&self, item: &WorkItem, payload: &Value) -> Option<ApprovalDecision> {
        (item.kind == "interaction").then(|| approval_decision(payload))?
    }
}

/// The `action_id`s of the approval buttons; their `value` is the approval id.
const APPROVE_ACTION: &str = "switchyard_approval_approve";
const DENY_ACTION: &str = "switchyard_approval_deny";

/// A `chat.postMessage` with the gated call's full arguments and Approve / Deny buttons.
fn approval_message(r: &ApprovalRequest<'_>) -> Value {
    let arguments = serde_json::to_string_pretty(r.arguments).unwrap_or_default();
    // A section's text is capped at 3000 characters by Block Kit; the CLI shows everything.
    let shown: String = arguments.chars().take(2800).collect();
    let user = r.user.map(|u| format!(" for {u}")).unwrap_or_default();
    let summary = format!(
        "*Approval needed* ({id}): agent `{agent}`{user} wants to call `{tool}` on `{instance}`. Expires at <!date^{exp}^{{date_short_pretty}} {{time}}|{exp}>.",
        id = r.approval_id,
        agent = r.agent_id,
        tool = r.tool,
        instance = r.instance_id,
        exp = r.expires_at,
    );
    json!({
        "channel": r.channel,
        "text": format!("Approval needed: {} wants to call {} ({})", r.agent_id, r.tool, r.approval_id),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("```{shown}```")}},
            {"type": "actions", "block_id": "switchyard_approval", "elements": [
                {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}, "value": r.approval_id},
                {"type": "button", "action_id": DENY_ACTION, "style": "danger",
                 "text": {"type": "plain_text", "text": "Deny"}, "value": r.approval_id},
            ]},
        ],
    })
}

/// A `block_actions` payload whose action is one of the approval buttons.
fn approval_decision(payload: &Value) -> Option<ApprovalDecision> {
    if str_at(payload, "/type") != Some("block_actions") {
        return None;
    }
    let action = payload
        .get("actions")?
        .as_array()?
        .iter()
        .find(|a| matches!(str_at(a, "/action_id"), Some(APPROVE_ACTION | DENY_ACTION)))?;
    let team = str_at(payload, "/team/id")?;
    let user = str_at(payload, "/user/id")?;
    Some(ApprovalDecision {
        approval_id: str_at(action, "/value")?.to_owned(),
        approve: str_at(action, "/action_id") == Some(APPROVE_ACTION),
        approver: format!("slack:{team}/{user}"),
    })
}

fn tenant(team: Option<&str>, app: Option<&str>) -> Vec<TenantFact> {
    vec![
        TenantFact::new("team_id", team),
        TenantFact::new("api_app_id", app),
    ]
}

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
            Ok(Interpretation::reply(Reply::text(200, challenge)))
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
            let tenant = tenant(
                str_at(&envelope, "/team_id"),
                str_at(&envelope, "/api_app_id"),
            );
            Ok(deliver(Delivery {
                id: format!("ev:{event_id}"),
                kind: "event_callback".into(),
                payload: envelope,
                event: None,
                tenant,
            }))
        }
        // app_rate_limited and future envelope types: acknowledged, nothing to deliver.
        _ => Ok(Interpretation::Reply {
            reply: Reply::empty(200),
            tenant: tenant(
                str_at(&envelope, "/team_id"),
                str_at(&envelope, "/api_app_id"),
            ),
        }),
    }
}

fn form(body: &[u8]) -> Result<Interpretation, Malformed> {
    let mut fields = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    if fields.get("ssl_check").and_then(Value::as_str) == Some("1") {
        return Ok(Interpretation::reply(Reply::empty(200)));
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
        let tenant = tenant(
            str_at(&payload, "/team/id"),
            str_at(&payload, "/api_app_id"),
        );
        return Ok(deliver(Delivery {
            id,
            kind: "interaction".into(),
            payload,
            event: None,
            tenant,
        }));
    }
    if fields.get("command").is_some_and(Value::is_string) {
        let id = match fields.get("trigger_id").and_then(Value::as_str) {
            Some(trigger) if !trigger.is_empty() => format!("cmd:{trigger}"),
            _ => format!("cmd:sha256:{}", hex::encode(Sha256::digest(body))),
        };
        let payload = Value::Object(fields);
        let tenant = tenant(
            str_at(&payload, "/team_id"),
            str_at(&payload, "/api_app_id"),
        );
        return Ok(deliver(Delivery {
            id,
            kind: "slash_command".into(),
            payload,
            event: None,
            tenant,
        }));
    }
    Err(Malformed(
        "form body is neither a slash command, an interaction payload nor ssl_check".into(),
    ))
}

/// Every Slack delivery is acknowledged with an empty 200.
fn deliver(delivery: Delivery) -> Interpretation {
    Interpretation::Deliver {
        deliveries: vec![delivery],
        ack: Reply::empty(200),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Slack channel ids: C public, G private (legacy) or group DM, D direct message.
fn place(channel: Option<&str>, channel_type: Option<&str>) -> Place {
    match (channel_type, channel.and_then(|c| c.chars().next())) {
        (Some("im" | "mpim"), _) | (None, Some('D')) => Place::DirectMessage,
        (Some("group"), _) | (None, Some('G')) => Place::PrivateChannel,
        (Some("channel"), _) | (None, Some('C')) => Place::PublicChannel,
        _ => Place::AppSurface,
    }
}

fn team_attributes(team: Option<&str>) -> BTreeMap<String, String> {
    team.map(|t| ("team_id".to_owned(), t.to_owned()))
        .into_iter()
        .collect()
}

fn event(item: &WorkItem, payload: &Value) -> Option<Normalized> {
    let event = payload.get("event")?;
    let kind = str_at(event, "/type")?;
    // The app's own and other bots' messages never trigger agents (no loops).
    if event.get("bot_id").is_some() || str_at(event, "/subtype") == Some("bot_message") {
        return None;
    }
    let channel = str_at(event, "/channel").or_else(|| str_at(event, "/item/channel"));
    let place = place(channel, str_at(event, "/channel_type"));
    let addressed = kind == "app_mention" || place == Place::DirectMessage;
    let thread = str_at(event, "/thread_ts").or_else(|| str_at(event, "/ts"));
    Some(Normalized {
        event_type: format!("slack.{kind}"),
        scope: Scope {
            place,
            channel: channel.map(str::to_owned),
            addressed,
        },
        occurred_at: payload
            .get("event_time")
            .and_then(Value::as_u64)
            .unwrap_or(item.received_at),
        attributes: team_attributes(str_at(payload, "/team_id")),
        reply: json!({"channel": channel, "thread_ts": thread}),
    })
}

fn command(item: &WorkItem, payload: &Value) -> Normalized {
    let channel = str_at(payload, "/channel_id");
    let place = match str_at(payload, "/channel_name") {
        Some("directmessage") => Place::DirectMessage,
        Some("privategroup") => Place::PrivateChannel,
        _ => place(channel, None),
    };
    Normalized {
        event_type: "slack.slash_command".into(),
        scope: Scope {
            place,
            channel: channel.map(str::to_owned),
            addressed: true,
        },
        occurred_at: item.received_at,
        attributes: team_attributes(str_at(payload, "/team_id")),
        reply: json!({"response_url": str_at(payload, "/response_url"), "channel": channel}),
    }
}

fn interaction(item: &WorkItem, payload: &Value) -> Normalized {
    let kind = str_at(payload, "/type").unwrap_or("interaction");
    let channel =
        str_at(payload, "/channel/id").or_else(|| str_at(payload, "/container/channel_id"));
    let place = if channel.is_some() {
        place(channel, None)
    } else {
        Place::AppSurface
    };
    Normalized {
        event_type: format!("slack.{kind}"),
        scope: Scope {
            place,
            channel: channel.map(str::to_owned),
            addressed: true,
        },
        occurred_at: item.received_at,
        attributes: team_attributes(str_at(payload, "/team/id")),
        reply: json!({
            "response_url": str_at(payload, "/response_url"),
            "trigger_id": str_at(payload, "/trigger_id"),
            "channel": channel,
        }),
    }
}

#[cfg(test)]
mod approval_tests {
    use super::*;

    #[test]
    fn the_buttons_carry_the_approval_id_and_a_click_decides_it() {
        let args = json!({"channel": "C1", "text": "drop the table"});
        let request = ApprovalRequest {
            approval_id: "apr_1",
            tool: "slack.post_message",
            instance_id: "i",
            agent_id: "a",
            user: None,
            arguments: &args,
            expires_at: 1_767_229_200,
            channel: "C0APPROVE",
        };
        let (tool, message) = Slack.approval_message(&request).expect("a message");
        assert_eq!(tool, "slack.post_message");
        assert_eq!(message["channel"], "C0APPROVE");
        let buttons = message["blocks"][2]["elements"]
            .as_array()
            .expect("buttons");
        assert!(buttons.iter().all(|b| b["value"] == "apr_1"));
        assert!(message["blocks"][1]["text"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("drop the table")));
        let click = |action: &str| {
            json!({"type": "block_actions", "team": {"id": "T0DEMO"}, "user": {"id": "U9"},
                   "actions": [{"action_id": action, "value": "apr_1"}]})
        };
        let decided = approval_decision(&click(APPROVE_ACTION)).expect("a decision");
        assert_eq!(
            decided,
            ApprovalDecision {
                approval_id: "apr_1".into(),
                approve: true,
                approver: "slack:T0DEMO/U9".into()
            }
        );
        assert!(
            !approval_decision(&click(DENY_ACTION))
                .expect("deny")
                .approve
        );
        assert!(approval_decision(&click("some_other_button")).is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(i: Interpretation) -> Delivery {
        match i {
            Interpretation::Deliver {
                mut deliveries,
                ack,
            } => {
                assert_eq!(ack.status, 200);
                assert_eq!(deliveries.len(), 1);
                deliveries.remove(0)
            }
            Interpretation::Reply { reply, .. } => panic!("expected a delivery, got {reply:?}"),
        }
    }

    #[test]
    fn url_verification_answers_the_challenge_in_plain_text() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        match interpret(Some("application/json"), body).expect("ok") {
            Interpretation::Reply { reply: r, .. } => {
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
        assert_eq!(
            d.tenant,
            [
                TenantFact::new("team_id", Some("T1")),
                TenantFact::new("api_app_id", None)
            ]
        );
    }

    #[test]
    fn slash_command_keyed_by_trigger_id_and_ssl_check_answered() {
        let body = b"command=%2Fask&text=hello&channel_id=C1&trigger_id=123.456.abc&response_url=https%3A%2F%2Fhooks.slack.com%2Fx";
        let d = delivery(interpret(Some("application/x-www-form-urlencoded"), body).expect("ok"));
        assert_eq!(d.id, "cmd:123.456.abc");
        assert_eq!(d.payload["text"], "hello");
        assert!(matches!(
            interpret(None, b"ssl_check=1&token=x").expect("ok"),
            Interpretation::Reply { .. }
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
