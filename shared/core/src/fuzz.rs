//! Shared helpers of the property-based fuzz suites in every crate (feature `fuzz`, enabled
//! only by the crates' dev-dependencies): case counts and arbitrary JSON.
//!
//! `make test` runs each property a few hundred to a few thousand times; `make fuzz` multiplies
//! that by `SWITCHYARD_FUZZ_MULTIPLIER` (see [`config`]).

use proptest::prelude::*;
use serde_json::Value;

/// `base` cases in `make test`; `make fuzz` sets `SWITCHYARD_FUZZ_MULTIPLIER` to run more.
pub fn config(base: u32) -> ProptestConfig {
    let multiplier = std::env::var("SWITCHYARD_FUZZ_MULTIPLIER")
        .ok()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    ProptestConfig {
        cases: base.saturating_mul(multiplier),
        // A failure prints its minimal input; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON; object keys mostly from `keys`, so generated values reach what is read.
pub fn json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..8).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("not finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9_]{0,12}".prop_map(Value::String),
        "[1-9][0-9]{0,18}".prop_map(Value::String),
        "https://[a-z]{1,8}\\.test/[a-z]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, move |inner| {
        let key = prop_oneof![
            4 => prop::sample::select(keys).prop_map(str::to_owned),
            1 => any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}
