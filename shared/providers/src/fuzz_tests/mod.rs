//! Property-based fuzz suites of the webhook surface: every signature verifier, every plugin's
//! `interpret`/`normalize`, the event-time parser. Bad input must give the documented error
//! (a [`crate::verify::VerifyError`] or [`crate::plugin::Malformed`]), never a panic; signing then
//! verifying round-trips, and any single-byte change of a signed part is rejected.
//!
//! `make test` runs each property a few hundred to a few thousand times; `make fuzz` multiplies
//! that by `SWITCHYARD_FUZZ_MULTIPLIER` (see [`config`]).

mod jwt;
mod plugins;
mod verify;

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::Value;

pub(crate) use switchyard_core::fuzz::config;

use crate::Registry;

/// The built-in definitions, loaded once for all cases.
pub(crate) static REGISTRY: LazyLock<Registry> =
    LazyLock::new(|| Registry::load().expect("built-in definitions load"));

/// Any bytes a header value may hold (visible ASCII, space, tab and obs-text), or text shaped
/// like the signatures and timestamps the verifiers parse, so parsing gets past the first check.
pub(crate) fn header_value() -> impl Strategy<Value = HeaderValue> {
    let text = prop_oneof![
        prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..80),
        "[0-9]{0,12}".prop_map(String::into_bytes),
        "-?[0-9]{1,25}".prop_map(String::into_bytes),
        "(v0=|sha256=|v1,|v1a,|)[0-9a-fA-F]{0,130}".prop_map(String::into_bytes),
        "(v1,|v1a,|)[A-Za-z0-9+/]{0,90}={0,2}( v1,[A-Za-z0-9+/=]{0,50})?"
            .prop_map(String::into_bytes),
    ];
    text.prop_filter_map("not a header value", |bytes| {
        HeaderValue::from_bytes(&bytes).ok()
    })
}

/// Header maps whose names come from `names` (what the code under test reads) or are arbitrary.
pub(crate) fn headers(names: &'static [&'static str]) -> impl Strategy<Value = HeaderMap> {
    let name = prop_oneof![
        4 => prop::sample::select(names).prop_map(str::to_owned),
        1 => "[a-z0-9-]{1,20}",
    ];
    prop::collection::vec((name, header_value()), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                map.insert(name, value);
            }
        }
        map
    })
}

/// Keys the providers' plugins and definitions look up, so generated JSON reaches deep.
const KEYS: &[&str] = &[
    "type",
    "event",
    "event_id",
    "event_time",
    "team_id",
    "api_app_id",
    "team",
    "challenge",
    "token",
    "trigger_id",
    "channel",
    "channel_id",
    "channel_type",
    "channel_name",
    "container",
    "item",
    "ts",
    "thread_ts",
    "bot_id",
    "subtype",
    "id",
    "application_id",
    "guild_id",
    "data",
    "entry",
    "changes",
    "value",
    "messages",
    "statuses",
    "status",
    "metadata",
    "phone_number_id",
    "recipient_id",
    "from",
    "verification_token",
    "workspace_id",
    "entity",
    "email",
    "sg_event_id",
    "sg_message_id",
    "timestamp",
    "response_url",
    "0",
    "1",
];

/// String values the plugins branch on.
const WORDS: &[&str] = &[
    "url_verification",
    "event_callback",
    "app_mention",
    "message",
    "bot_message",
    "im",
    "mpim",
    "group",
    "channel",
    "directmessage",
    "privategroup",
    "C1",
    "D1",
    "G1",
    "T1",
    "block_actions",
    "delivered",
    "1767225600",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.5+02:00",
    "",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..8).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("not finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        any::<String>().prop_map(Value::String),
        "[0-9]{1,20}".prop_map(Value::String),
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned())),
    ]
}

/// Arbitrary JSON, its object keys mostly from [`KEYS`].
pub(crate) fn json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 5, |inner| {
        let key = prop_oneof![
            4 => prop::sample::select(KEYS).prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A body: arbitrary bytes, generated JSON, or a form (Slack's slash commands, interactions).
pub(crate) fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(
                        &[
                            "command",
                            "payload",
                            "ssl_check",
                            "trigger_id",
                            "team_id",
                            "channel_id"
                        ][..]
                    )
                    .prop_map(str::to_owned),
                    any::<String>()
                ],
                prop_oneof![json().prop_map(|v| v.to_string()), any::<String>()],
            ),
            0..5
        )
        .prop_map(|pairs| {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                form.append_pair(&k, &v);
            }
            form.finish().into_bytes()
        }),
    ]
}
