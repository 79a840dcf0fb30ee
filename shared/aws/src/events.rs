//! `PlatformEvent`: what an agent receives, and how a WorkItem is normalized into one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::rfc3339;
use crate::instances::Instance;
use crate::policy::Place;
pub use crate::providers::plugin::Normalized;
use crate::workitem::WorkItem;

/// The current PlatformEvent schema version.
pub const PLATFORM_EVENT_VERSION: u32 = 1;

/// One event for one agent. Published to the agent event bus with source
/// `switchyard.<provider>` and detail-type = `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformEvent {
    pub schema_version: u32,
    /// Stable for a given delivery and agent: republishing yields the same id.
    pub event_id: String,
    /// `<provider>.<provider event type>`, e.g. `slack.app_mention`, `shopify.orders/create`,
    /// or a name the definition gives (`email.bounce`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// `<provider>.<workspace>.<type, '/' as '.'>`, e.g. `shopify.acme.orders.create`: a topic
    /// name a stream sink (Kafka/MSK) can route on.
    pub topic: String,
    /// RFC 3339 time the provider says the event happened (else when we received it).
    pub time: String,
    pub source: Source,
    pub agent_id: String,
    pub work_item_id: String,
    /// Where it happened, as the trigger policy saw it.
    pub place: Place,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Resource attributes (shop, email, phone number id, team id) policies match on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// What the agent needs to answer (Discord interaction token, Slack response_url, thread).
    /// Credentials here are short-lived and scoped to this one event.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub reply: Value,
    /// The provider's payload as received; `null` when it travelled by `payload_ref`.
    pub payload: Value,
    /// Where the payload is when the event would pass EventBridge's 256 KB limit:
    /// `s3://<payload bucket>/<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<String>,
}

/// Where an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub provider: String,
    pub instance_id: String,
    pub workspace: String,
}

/// A change in a connection that agents and operators must know about. Published with source
/// `switchyard.integration` and detail-type = `type` (`integration.disconnected`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationEvent {
    pub schema_version: u32,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: String,
    pub source: Source,
    pub connection_id: String,
    pub account_id: Option<String>,
    /// `needs_reauth` (the provider refused the grant) or `revoked` (disconnected).
    pub reason: String,
    pub detail: String,
    /// The one agent the event is for (a tool call's caller); absent: every agent granted on
    /// the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// What a tool call did (`integration.tool_used`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call: Option<ToolCall>,
}

/// One tool call as `integration.tool_used` reports it: no input, no output, no credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: String,
    pub receipt_id: String,
    /// `ok` or the error code (as on the receipt).
    pub status: String,
    /// In the definition's currency unit, where it prices the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// In USD from the usage and the price table, where the call is priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl IntegrationEvent {
    /// An OAuth callback stored a connection (type `integration.connected`).
    pub fn connected(connection: &crate::connections::Connection, now: u64) -> Self {
        Self {
            schema_version: PLATFORM_EVENT_VERSION,
            event_id: format!("ievt_{}", uuid::Uuid::new_v4().simple()),
            event_type: "integration.connected".into(),
            time: rfc3339(now),
            source: Source {
                provider: connection.provider.clone(),
                instance_id: connection.instance_id.clone(),
                workspace: connection.workspace.clone(),
            },
            connection_id: connection.id.clone(),
            account_id: connection.account_id.clone(),
            reason: "connected".into(),
            detail: String::new(),
            agent_id: None,
            tool_call: None,
        }
    }

    /// An agent called a tool (type `integration.tool_used`), for that agent only.
    pub fn tool_used(
        instance: &crate::instances::Instance,
        agent_id: &str,
        call: ToolCall,
        now: u64,
    ) -> Self {
        Self {
            schema_version: PLATFORM_EVENT_VERSION,
            event_id: format!("ievt_{}", uuid::Uuid::new_v4().simple()),
            event_type: "integration.tool_used".into(),
            time: rfc3339(now),
            source: Source {
                provider: instance.provider.clone(),
                instance_id: instance.id.clone(),
                workspace: instance.workspace.clone(),
            },
            connection_id: String::new(),
            account_id: None,
            reason: call.status.clone(),
            detail: String::new(),
            agent_id: Some(agent_id.to_owned()),
            tool_call: Some(call),
        }
    }
}

impl IntegrationEvent {
    /// The connection stopped working: reconnect needed, or disconnected on purpose.
    pub fn disconnected(
        connection: &crate::connections::Connection,
        reason: &str,
        detail: &str,
        now: u64,
    ) -> Self {
        Self {
            schema_version: PLATFORM_EVENT_VERSION,
            event_id: format!("ievt_{}", uuid::Uuid::new_v4().simple()),
            event_type: "integration.disconnected".into(),
            time: rfc3339(now),
            source: Source {
                provider: connection.provider.clone(),
                instance_id: connection.instance_id.clone(),
                workspace: connection.workspace.clone(),
            },
            connection_id: connection.id.clone(),
            account_id: connection.account_id.clone(),
            reason: reason.into(),
            detail: detail.into(),
            agent_id: None,
            tool_call: None,
        }
    }
}

impl IntegrationEvent {
    /// A tool kept failing and was disabled on an instance (type `integration.error`).
    pub fn tool_disabled(
        instance: &crate::instances::Instance,
        tool: &str,
        last_error: Option<&dyn std::fmt::Display>,
        now: u64,
    ) -> Self {
        Self {
            schema_version: PLATFORM_EVENT_VERSION,
            event_id: format!("ievt_{}", uuid::Uuid::new_v4().simple()),
            event_type: "integration.error".into(),
            time: rfc3339(now),
            source: Source {
                provider: instance.provider.clone(),
                instance_id: instance.id.clone(),
                workspace: instance.workspace.clone(),
            },
            connection_id: String::new(),
            account_id: None,
            reason: "tool_disabled".into(),
            detail: format!(
                "{tool} disabled after repeated failures; last: {}",
                last_error.map(ToString::to_string).unwrap_or_default()
            ),
            agent_id: None,
            tool_call: None,
        }
    }
}

impl IntegrationEvent {
    /// A half-open probe succeeded and the tool works again on an instance (type
    /// `integration.recovered`).
    pub fn tool_recovered(instance: &crate::instances::Instance, tool: &str, now: u64) -> Self {
        Self {
            schema_version: PLATFORM_EVENT_VERSION,
            event_id: format!("ievt_{}", uuid::Uuid::new_v4().simple()),
            event_type: "integration.recovered".into(),
            time: rfc3339(now),
            source: Source {
                provider: instance.provider.clone(),
                instance_id: instance.id.clone(),
                workspace: instance.workspace.clone(),
            },
            connection_id: String::new(),
            account_id: None,
            reason: "tool_recovered".into(),
            detail: format!("{tool} works again: a probe call after the cool-down succeeded"),
            agent_id: None,
            tool_call: None,
        }
    }
}

/// The events for each agent whose policy allows `normalized`.
pub fn for_agents(
    item: &WorkItem,
    instance: &Instance,
    normalized: &Normalized,
    payload: &Value,
) -> Vec<PlatformEvent> {
    instance
        .grants
        .iter()
        .filter(|(_, policy)| {
            policy.allows_event(
                &normalized.event_type,
                &normalized.attributes,
                &normalized.scope,
            )
        })
        .map(|(agent, _)| PlatformEvent {
            schema_version: PLATFORM_EVENT_VERSION,
            event_id: event_id(&item.delivery_key, agent),
            event_type: normalized.event_type.clone(),
            topic: topic(&item.provider, &instance.workspace, &normalized.event_type),
            time: rfc3339(normalized.occurred_at),
            source: Source {
                provider: item.provider.clone(),
                instance_id: instance.id.clone(),
                workspace: instance.workspace.clone(),
            },
            agent_id: agent.clone(),
            work_item_id: item.id.clone(),
            place: normalized.scope.place,
            channel: normalized.scope.channel.clone(),
            attributes: normalized.attributes.clone(),
            reply: normalized.reply.clone(),
            payload: payload.clone(),
            payload_ref: None,
        })
        .collect()
}

/// `<provider>.<workspace>.<entity>.<action>`: the event type without its provider prefix, with
/// `/` as `.` (`shopify.orders/create` in workspace `acme` → `shopify.acme.orders.create`).
pub fn topic(provider: &str, workspace: &str, event_type: &str) -> String {
    let local = event_type
        .split_once('.')
        .map_or(event_type, |(_, rest)| rest)
        .replace('/', ".");
    format!("{provider}.{workspace}.{local}")
}

fn event_id(delivery_key: &str, agent: &str) -> String {
    let mut h = Sha256::new();
    h.update(delivery_key.as_bytes());
    h.update([0]);
    h.update(agent.as_bytes());
    format!("evt_{}", &hex::encode(h.finalize())[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::TriggerPolicy;
    use serde_json::json;

    fn normalize(item: &WorkItem, payload: &Value) -> Option<Normalized> {
        let registry = crate::providers::Registry::load().expect("registry");
        registry
            .plugin(&item.provider)
            .expect("plugin")
            .normalize(item, payload)
    }

    fn item(provider: &str, kind: &str) -> WorkItem {
        WorkItem {
            v: 1,
            id: "wi_1".into(),
            delivery_key: format!("{provider}#i#x"),
            provider: provider.into(),
            instance_id: "i".into(),
            kind: kind.into(),
            received_at: 100,
            retry_num: None,
            payload: None,
            payload_ref: None,
            event: None,
        }
    }

    fn instance(grants: &[(&str, TriggerPolicy)]) -> Instance {
        Instance {
            id: "i".into(),
            provider: "slack".into(),
            workspace: "acme".into(),
            config: Default::default(),
            secret_keys: vec![],
            sealed: None,
            grants: grants
                .iter()
                .map(|(a, p)| ((*a).to_owned(), p.clone()))
                .collect(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn app_mention_in_allowlisted_channel_reaches_the_agent() {
        let payload = json!({"type":"event_callback","event_id":"Ev1","event_time":1531420618,
            "event":{"type":"app_mention","channel":"C1","ts":"1.2","text":"<@U1> hi"}});
        let w = item("slack", "event_callback");
        let n = normalize(&w, &payload).expect("normalized");
        assert_eq!(n.event_type, "slack.app_mention");
        assert!(n.scope.addressed);
        let allowed = TriggerPolicy {
            channels: vec!["C1".into()],
            ..Default::default()
        };
        let events = for_agents(
            &w,
            &instance(&[("a1", allowed), ("a2", TriggerPolicy::default())]),
            &n,
            &payload,
        );
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.agent_id, "a1");
        assert_eq!(e.time, "2018-07-12T18:36:58Z");
        assert_eq!(e.reply["thread_ts"], "1.2");
        assert_eq!(e.topic, "slack.acme.app_mention");
        assert_eq!(e.event_id, event_id("slack#i#x", "a1"));
        assert_ne!(e.event_id, event_id("slack#i#x", "a2"));
    }

    #[test]
    fn plain_messages_need_trigger_all_and_bots_are_ignored() {
        let payload =
            json!({"event":{"type":"message","channel":"C1","channel_type":"channel","text":"hi"}});
        let n = normalize(&item("slack", "event_callback"), &payload).expect("normalized");
        assert!(!n.scope.addressed);
        let bot = json!({"event":{"type":"message","channel":"C1","bot_id":"B1","text":"hi"}});
        assert!(normalize(&item("slack", "event_callback"), &bot).is_none());
        let dm = json!({"event":{"type":"message","channel":"D1","channel_type":"im","text":"hi"}});
        let n = normalize(&item("slack", "event_callback"), &dm).expect("normalized");
        assert_eq!(n.scope.place, Place::DirectMessage);
        assert!(n.scope.addressed);
    }

    #[test]
    fn discord_reply_carries_the_interaction_token() {
        let payload = json!({"type":2,"id":"111","application_id":"222","token":"tok","guild_id":"9","channel_id":"C7"});
        let n = normalize(&item("discord", "application_command"), &payload).expect("normalized");
        assert_eq!(n.event_type, "discord.application_command");
        assert_eq!(n.scope.channel.as_deref(), Some("C7"));
        assert_eq!(n.reply["interaction_token"], "tok");
        assert_eq!(n.reply["application_id"], "222");
    }
}

#[cfg(test)]
mod topic_tests {
    #[test]
    fn topics_follow_provider_workspace_entity_action() {
        assert_eq!(
            super::topic("shopify", "acme", "shopify.orders/create"),
            "shopify.acme.orders.create"
        );
        assert_eq!(
            super::topic("sendgrid", "acme", "email.bounce"),
            "sendgrid.acme.bounce"
        );
    }
}
