//! The PlatformEvent an agent receives: every event encodes and decodes to itself, any JSON
//! decodes to an event or a typed error, and fan-out to agents follows their policies with
//! stable, distinct ids.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;

use super::{config, json};
use crate::events::{for_agents, topic, Normalized, PlatformEvent, Source};
use crate::instances::Instance;
use crate::policy::{Place, Scope, Trigger, TriggerPolicy};
use crate::workitem::{WorkItem, WORK_ITEM_VERSION};

const EVENT_KEYS: &[&str] = &[
    "schema_version",
    "event_id",
    "type",
    "topic",
    "time",
    "source",
    "provider",
    "instance_id",
    "workspace",
    "agent_id",
    "work_item_id",
    "place",
    "channel",
    "attributes",
    "reply",
    "payload",
    "payload_ref",
];

fn place() -> impl Strategy<Value = Place> {
    prop::sample::select(
        &[
            Place::PublicChannel,
            Place::PrivateChannel,
            Place::DirectMessage,
            Place::AppSurface,
            Place::Resource,
        ][..],
    )
}

prop_compose! {
    fn platform_event()(
        schema_version in any::<u32>(),
        strings in prop::collection::vec(any::<String>(), 9),
        place in place(),
        channel in proptest::option::of(any::<String>()),
        attributes in prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        reply in json(EVENT_KEYS),
        payload in json(EVENT_KEYS),
        payload_ref in proptest::option::of(any::<String>()),
    ) -> PlatformEvent {
        let s = |i: usize| strings[i].clone();
        PlatformEvent {
            schema_version,
            event_id: s(0),
            event_type: s(1),
            topic: s(2),
            time: s(3),
            source: Source { provider: s(4), instance_id: s(5), workspace: s(6) },
            agent_id: s(7),
            work_item_id: s(8),
            place,
            channel,
            attributes,
            reply,
            payload,
            payload_ref,
        }
    }
}

prop_compose! {
    fn policy()(
        all in any::<bool>(),
        channels in prop::collection::vec(prop_oneof![Just("*".to_owned()), "C[0-9]"], 0..3),
        dms in any::<bool>(),
        private_channels in any::<bool>(),
        events in prop::collection::vec("(slack|shopify|\\*)[.*a-z/]{0,8}", 0..3),
        attributes in prop::collection::btree_map("[ab]", "[xy*]{0,3}", 0..2),
    ) -> TriggerPolicy {
        TriggerPolicy {
            trigger: if all { Trigger::All } else { Trigger::Mentions },
            channels,
            dms,
            private_channels,
            events,
            attributes,
        }
    }
}

prop_compose! {
    fn normalized()(
        event_type in "(slack|shopify)\\.[a-z/_]{0,10}",
        place in place(),
        channel in proptest::option::of("C[0-9]"),
        addressed in any::<bool>(),
        occurred_at in any::<u64>(),
        attributes in prop::collection::btree_map("[ab]", "[xy]{0,3}", 0..3),
        reply in json(EVENT_KEYS),
    ) -> Normalized {
        Normalized {
            event_type,
            scope: Scope { place, channel, addressed },
            occurred_at,
            attributes,
            reply,
        }
    }
}

fn work_item(delivery_key: &str) -> WorkItem {
    WorkItem {
        v: WORK_ITEM_VERSION,
        id: "wi_1".into(),
        delivery_key: delivery_key.into(),
        provider: "slack".into(),
        instance_id: "i".into(),
        kind: "event_callback".into(),
        received_at: 0,
        retry_num: None,
        payload: Some(Value::Null),
        payload_ref: None,
        event: None,
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// Encode → decode is the identity.
    #[test]
    fn platform_events_round_trip(event in platform_event()) {
        let text = serde_json::to_string(&event).expect("encodes");
        let decoded: PlatformEvent = serde_json::from_str(&text).expect("decodes");
        prop_assert_eq!(decoded, event);
    }

    /// Any JSON (mostly with the event's own keys): an event or a typed error, never a panic.
    #[test]
    fn arbitrary_json_decodes_or_is_an_error(value in json(EVENT_KEYS), text in any::<String>()) {
        let _ = serde_json::from_value::<PlatformEvent>(value);
        let _ = serde_json::from_str::<PlatformEvent>(&text);
    }

    /// Fan-out: one event per agent whose policy allows it, ids stable per (delivery, agent)
    /// and distinct between agents, the topic without `/`.
    #[test]
    fn fan_out_follows_policies_with_stable_ids(
        grants in prop::collection::btree_map("a[0-9]", policy(), 0..4),
        n in normalized(),
        delivery_key in any::<String>(),
        payload in json(EVENT_KEYS),
    ) {
        let instance = Instance {
            id: "i".into(),
            provider: "slack".into(),
            workspace: "acme".into(),
            config: BTreeMap::new(),
            secret_keys: Vec::new(),
            sealed: None,
            grants: grants.clone(),
            created_at: 0,
            updated_at: 0,
        };
        let item = work_item(&delivery_key);
        let events = for_agents(&item, &instance, &n, &payload);
        let allowed: Vec<&String> = grants
            .iter()
            .filter(|(_, p)| p.allows_event(&n.event_type, &n.attributes, &n.scope))
            .map(|(agent, _)| agent)
            .collect();
        prop_assert_eq!(events.iter().map(|e| &e.agent_id).collect::<Vec<_>>(), allowed);
        let again = for_agents(&item, &instance, &n, &payload);
        prop_assert_eq!(&events, &again);
        let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), events.len());
        for e in &events {
            prop_assert!(!e.topic.contains('/'));
            prop_assert_eq!(&e.topic, &topic("slack", "acme", &n.event_type));
            prop_assert_eq!(&e.payload, &payload);
        }
    }
}
