//! Every webhook plugin (the code ones and the declared ones) on arbitrary verified requests:
//! an [`Interpretation`] or [`crate::plugin::Malformed`], never a panic; what it delivers
//! normalizes without a panic too. And the event-time parser the declared plugins use.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use super::{body, config, headers, json, REGISTRY};
use crate::declared::parse_time;
use crate::plugin::{Inbound, Interpretation};
use crate::CODE_PLUGINS;
use switchyard_core::clock::rfc3339;
use switchyard_core::workitem::{EventMeta, WorkItem, WORK_ITEM_VERSION};

/// Headers the plugins and the declared definitions read.
const PLUGIN_HEADERS: &[&str] = &[
    "content-type",
    "x-shopify-webhook-id",
    "x-shopify-topic",
    "x-shopify-triggered-at",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-event-id",
    "webhook-id",
];

/// Kinds the code plugins normalize by.
const KINDS: &[&str] = &[
    "event_callback",
    "slash_command",
    "interaction",
    "application_command",
    "message_component",
    "modal_submit",
    "message",
    "status",
    "",
];

fn item(provider: &str, kind: &str, payload: Value, event: Option<EventMeta>) -> WorkItem {
    WorkItem {
        v: WORK_ITEM_VERSION,
        id: "wi_1".into(),
        delivery_key: format!("{provider}#i#k"),
        provider: provider.into(),
        instance_id: "i".into(),
        kind: kind.into(),
        received_at: 1_767_225_600,
        retry_num: None,
        payload: Some(payload),
        payload_ref: None,
        event,
    }
}

fn event_meta() -> impl Strategy<Value = Option<EventMeta>> {
    proptest::option::of(
        (
            any::<String>(),
            prop::collection::btree_map(any::<String>(), any::<String>(), 0..3),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(name, attributes, occurred_at)| EventMeta {
                name,
                attributes,
                occurred_at,
            }),
    )
}

/// RFC 3339's fixed shape `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, digits where digits go.
fn rfc3339_shaped(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Arbitrary verified requests: a typed answer from every plugin, and what is delivered
    /// carries an id and normalizes without a panic.
    #[test]
    fn every_plugin_interprets_arbitrary_requests(
        headers in headers(PLUGIN_HEADERS),
        body in body(),
    ) {
        let registry = &*REGISTRY;
        for provider in registry.webhook_ids() {
            let plugin = registry.plugin(provider).expect("plugin");
            let request = Inbound { headers: &headers, body: &body, facts: &Default::default() };
            match plugin.interpret(&request) {
                Err(malformed) => prop_assert!(!malformed.0.is_empty()),
                Ok(Interpretation::Reply { reply, .. }) => {
                    prop_assert!((200..300).contains(&reply.status), "{provider}: {reply:?}");
                }
                Ok(Interpretation::Deliver { deliveries, ack }) => {
                    prop_assert!(!deliveries.is_empty(), "{provider}");
                    prop_assert!((200..300).contains(&ack.status));
                    for d in deliveries {
                        prop_assert!(!d.id.is_empty(), "{provider}: a delivery without an id");
                        prop_assert!(!d.kind.is_empty(), "{provider}: a delivery without a kind");
                        let item = item(provider, &d.kind, d.payload.clone(), d.event);
                        let _ = plugin.normalize(&item, &d.payload);
                    }
                }
            }
        }
    }

    /// `normalize` of a queued item with any kind, payload and recorded event: no panic; a
    /// declared provider reports what ingress recorded, a code plugin its own `<provider>.` type.
    #[test]
    fn every_plugin_normalizes_arbitrary_items(
        kind in prop_oneof![prop::sample::select(KINDS).prop_map(str::to_owned), any::<String>()],
        payload in json(),
        event in event_meta(),
    ) {
        let registry = &*REGISTRY;
        for provider in registry.webhook_ids() {
            let plugin = registry.plugin(provider).expect("plugin");
            let item = item(provider, &kind, payload.clone(), event.clone());
            let normalized = plugin.normalize(&item, &payload);
            let _ = plugin.unrouted_reply();
            if CODE_PLUGINS.iter().any(|(id, _)| *id == provider) {
                // Its own `<provider>.` type, or the event its producer recorded (the Google
                // push plugins publish what the sync worker queued: `gmail.`, `drive.`, …).
                if let Some(n) = normalized {
                    let recorded = event.as_ref().is_some_and(|m| m.name == n.event_type);
                    prop_assert!(
                        recorded || n.event_type.starts_with(&format!("{provider}.")),
                        "{provider}: {n:?}"
                    );
                }
                continue;
            }
            match (&event, normalized) {
                (None, None) => {}
                (Some(meta), Some(n)) => {
                    prop_assert_eq!(&n.event_type, &meta.name);
                    prop_assert_eq!(&n.attributes, &meta.attributes);
                    prop_assert_eq!(n.occurred_at, meta.occurred_at.unwrap_or(item.received_at));
                }
                (event, normalized) => {
                    prop_assert!(false, "{provider}: {event:?} normalized as {normalized:?}");
                }
            }
        }
    }

    /// Every instant from 1970 to 9999 reads back from its RFC 3339 text, in any offset, with
    /// or without fractions, and as unix seconds.
    #[test]
    fn event_times_round_trip(
        secs in 0u64..=253_402_300_799,
        offset_mins in -(23 * 60 + 59)..=(23i64 * 60 + 59),
        frac in "(\\.[0-9]{1,9})?",
    ) {
        prop_assert_eq!(parse_time(&secs.to_string()), Some(secs));
        let utc = rfc3339(secs);
        prop_assert_eq!(parse_time(&utc), Some(secs));
        let local = secs.checked_add_signed(offset_mins * 60);
        if let Some(local) = local.filter(|l| *l <= 253_402_300_799) {
            let text = rfc3339(local);
            let sign = if offset_mins < 0 { '-' } else { '+' };
            let (h, m) = (offset_mins.abs() / 60, offset_mins.abs() % 60);
            let with_offset = format!("{}{frac}{sign}{h:02}:{m:02}", &text[..19]);
            prop_assert_eq!(parse_time(&with_offset), Some(secs), "{}", with_offset);
        }
    }

    /// A time that is not RFC 3339's shape is no time: any single-byte change that breaks the
    /// shape (a sign in a field, another separator, a dangling offset) reads as `None`.
    #[test]
    fn event_times_of_the_wrong_shape_are_refused(
        secs in 0u64..=253_402_300_799,
        suffix in prop_oneof![Just("Z".to_owned()), "\\.[0-9]{1,3}Z", "[+-][01][0-9]:[0-5][0-9]"],
        at in any::<Index>(),
        to in prop_oneof![Just(b'-'), Just(b'+'), Just(b':'), Just(b'x'), Just(b' '), any::<u8>()],
    ) {
        let text = format!("{}{suffix}", &rfc3339(secs)[..19]);
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = if bytes[i] == to { to ^ 1 } else { to };
        if let Ok(mutated) = String::from_utf8(bytes) {
            let parsed = parse_time(&mutated);
            if mutated.parse::<u64>().is_err() && !rfc3339_shaped(&mutated) {
                prop_assert_eq!(parsed, None, "{:?}", mutated);
            }
        }
    }

    /// Arbitrary text: a time or `None`, never a panic.
    #[test]
    fn arbitrary_event_times_do_not_panic(text in prop_oneof![any::<String>(), "[0-9T:+.Zz -]{18,32}"]) {
        let _ = parse_time(&text);
    }
}
