//! Property-based fuzz suite of the WorkItem decoder (the queue message every consumer reads):
//! any message body is a WorkItem or a typed [`WorkItemError`], never a panic, and every WorkItem
//! ingress can build reads back as itself. Also the trigger-policy glob, against the textbook
//! matcher.
//!
//! `make fuzz` multiplies the case counts by `SWITCHYARD_FUZZ_MULTIPLIER`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;

use crate::policy::glob;
use crate::workitem::{EventMeta, WorkItem, WorkItemError, WORK_ITEM_VERSION};

use crate::fuzz::config;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("not finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn event_meta()(
        name in any::<String>(),
        attributes in prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        occurred_at in proptest::option::of(any::<u64>()),
    ) -> EventMeta {
        EventMeta { name, attributes, occurred_at }
    }
}

prop_compose! {
    /// A WorkItem as ingress builds one: a JSON payload inline (the parsed request body, never
    /// absent) or a reference to where it is stored.
    fn work_item()(
        id in any::<String>(),
        delivery_key in any::<String>(),
        provider in any::<String>(),
        instance_id in any::<String>(),
        kind in any::<String>(),
        received_at in any::<u64>(),
        retry_num in proptest::option::of(any::<u32>()),
        payload in prop_oneof![
            json().prop_map(|p| (Some(p), None)),
            any::<String>().prop_map(|r| (None, Some(r))),
        ],
        event in proptest::option::of(event_meta()),
    ) -> WorkItem {
        WorkItem {
            v: WORK_ITEM_VERSION,
            id,
            delivery_key,
            provider,
            instance_id,
            kind,
            received_at,
            retry_num,
            payload: payload.0,
            payload_ref: payload.1,
            event,
        }
    }
}

/// The textbook matcher `glob` must agree with: `*` matches any run, anything else itself.
fn reference_glob(pattern: &[char], text: &[char]) -> bool {
    // matches[i][j]: pattern[i..] matches text[j..].
    let mut matches = vec![vec![false; text.len() + 1]; pattern.len() + 1];
    matches[pattern.len()][text.len()] = true;
    for i in (0..pattern.len()).rev() {
        for j in (0..=text.len()).rev() {
            matches[i][j] = if pattern[i] == '*' {
                matches[i + 1][j] || (j < text.len() && matches[i][j + 1])
            } else {
                j < text.len() && pattern[i] == text[j] && matches[i + 1][j + 1]
            };
        }
    }
    matches[0][0]
}

proptest! {
    #![proptest_config(config(800))]

    /// Trigger-policy globs (event types, attributes) match exactly what the textbook
    /// definition matches; a small alphabet makes overlaps and repeats common.
    #[test]
    fn globs_match_like_the_reference(pattern in "[ab*./]{0,12}", text in "[ab./]{0,16}") {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(glob(&pattern, &text), reference_glob(&p, &t), "{} on {}", pattern, text);
    }

    /// Encode → decode is the identity for every WorkItem ingress can build.
    #[test]
    fn work_items_round_trip(item in work_item()) {
        let decoded = WorkItem::parse(&item.to_json());
        prop_assert_eq!(decoded.ok(), Some(item));
    }

    /// Arbitrary text: a WorkItem or a typed error; a wrong version is named as such.
    #[test]
    fn arbitrary_messages_get_a_typed_error(body in prop_oneof![
        any::<String>(),
        json().prop_map(|v| v.to_string()),
        (any::<u32>(), json()).prop_map(|(v, p)| format!(r#"{{"v":{v},"payload":{p}}}"#)),
    ]) {
        match WorkItem::parse(&body) {
            Ok(item) => {
                prop_assert_eq!(item.v, WORK_ITEM_VERSION);
                prop_assert!(item.payload.is_some() || item.payload_ref.is_some());
            }
            Err(WorkItemError::UnsupportedVersion(v)) => prop_assert_ne!(v, WORK_ITEM_VERSION),
            Err(WorkItemError::Malformed(why)) => prop_assert!(!why.is_empty()),
        }
    }

    /// Every field of a valid message, replaced by a value of the wrong JSON type, is refused
    /// as malformed (or as an unsupported version, for `v`).
    #[test]
    fn a_field_of_the_wrong_type_is_malformed(
        item in work_item(),
        field in prop::sample::select(&[
            "v", "id", "delivery_key", "provider", "instance_id", "kind", "received_at",
        ][..]),
        wrong in prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Array(Vec::new())),
            Just(Value::Object(serde_json::Map::new())),
            (-1000i64..-1).prop_map(Value::from),
            Just(Value::from(0.5)),
        ],
    ) {
        let mut message: BTreeMap<String, Value> =
            serde_json::from_str(&item.to_json()).expect("a WorkItem is a JSON object");
        let numeric = matches!(field, "v" | "received_at");
        // A string field given a string, or a number field a number, is not a wrong type.
        if numeric == wrong.is_u64() || (!numeric && wrong.is_string()) {
            return Ok(());
        }
        message.insert(field.to_owned(), wrong);
        let text = serde_json::to_string(&message).expect("json");
        prop_assert!(matches!(WorkItem::parse(&text), Err(WorkItemError::Malformed(_))));
    }
}
