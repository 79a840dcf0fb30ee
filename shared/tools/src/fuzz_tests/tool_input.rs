//! JSON-Schema validation of tool input, over every method of the catalog: any input is valid
//! or refused with violations that each name a path into that input, never a panic; dropping a
//! required field of a valid input is a violation at the object that lacks it.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{config, json};
use crate::definitions::Catalog;

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog::load().expect("catalog loads"));

/// Every property name any input schema declares, so generated input reaches the schemas' rules.
static KEYS: LazyLock<&'static [&'static str]> = LazyLock::new(|| {
    fn walk(schema: &Value, keys: &mut Vec<&'static str>) {
        match schema {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for name in props.keys() {
                        keys.push(Box::leak(name.clone().into_boxed_str()));
                    }
                }
                map.values().for_each(|v| walk(v, keys));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    for method in CATALOG.methods() {
        walk(&method.def.input_schema, &mut keys);
    }
    keys.sort_unstable();
    keys.dedup();
    keys.leak()
});

/// A value shaped by `schema` from arbitrary `seeds`: its type, enum, length and range rules
/// followed where they are plain, so inputs are often valid and the rules past them run.
fn shaped<'a>(schema: &Value, seeds: &mut impl Iterator<Item = &'a Value>) -> Value {
    let seed = seeds.next().unwrap_or(&Value::Null);
    let rule = |name: &str| schema.get(name).and_then(Value::as_u64);
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        let pick = seed.to_string().len() % choices.len().max(1);
        return choices.get(pick).cloned().unwrap_or(Value::Null);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let props = schema.get("properties").and_then(Value::as_object);
            let mut object = Map::new();
            for (name, prop) in props.into_iter().flatten() {
                let wanted = required.contains(&name.as_str())
                    || seeds.next().is_some_and(|s| s.as_bool() == Some(true));
                if wanted {
                    object.insert(name.clone(), shaped(prop, seeds));
                }
            }
            Value::Object(object)
        }
        Some("array") => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            let count = rule("minItems")
                .unwrap_or(0)
                .max(u64::from(seed.is_array()));
            Value::Array((0..count.min(3)).map(|_| shaped(items, seeds)).collect())
        }
        Some("string") => {
            let mut text = match seed {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Some(max) = rule("maxLength") {
                text = text
                    .chars()
                    .take(usize::try_from(max).unwrap_or(usize::MAX))
                    .collect();
            }
            let min = usize::try_from(rule("minLength").unwrap_or(0)).unwrap_or(0);
            while text.chars().count() < min {
                text.push('x');
            }
            Value::String(text)
        }
        Some("integer") => {
            let low = schema
                .get("minimum")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MIN);
            let high = schema
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX);
            Value::from(seed.as_i64().unwrap_or(1).clamp(low, high.max(low)))
        }
        Some("number") => Value::from(seed.as_f64().unwrap_or(1.0)),
        Some("boolean") => Value::Bool(seed.as_bool().unwrap_or(true)),
        _ => seed.clone(),
    }
}

fn check_paths(input: &Value) -> Result<(), TestCaseError> {
    for method in CATALOG.methods() {
        if let Err(violations) = method.check_input(input) {
            prop_assert!(!violations.is_empty(), "{}", method.tool_id);
            for v in violations {
                prop_assert!(
                    input.pointer(&v.path).is_some(),
                    "{}: {:?} is no path into {}",
                    method.tool_id,
                    v.path,
                    input
                );
                prop_assert!(!v.message.is_empty());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(150))]

    /// Arbitrary input to every method: valid, or violations whose paths point into it.
    #[test]
    fn violations_name_a_path_into_arbitrary_input(input in json(&KEYS)) {
        check_paths(&input)?;
    }

    /// Input shaped by each method's schema (required fields, some optional ones) from arbitrary
    /// values: the properties' own rules (lengths, enums, patterns, nesting) run and name their
    /// paths; when such an input is valid, dropping any required field is a violation at the root.
    #[test]
    fn schema_shaped_input_is_checked_field_by_field(
        seeds in prop::collection::vec(json(&KEYS), 1..12),
    ) {
        for method in CATALOG.methods() {
            let schema = &method.def.input_schema;
            let input = shaped(schema, &mut seeds.iter().cycle());
            check_paths(&input)?;
            if method.check_input(&input).is_err() {
                continue;
            }
            let required = schema.get("required").and_then(Value::as_array);
            for field in required.into_iter().flatten().filter_map(Value::as_str) {
                let mut lacking = input.clone();
                if let Some(map) = lacking.as_object_mut() {
                    map.remove(field);
                }
                let violations = method.check_input(&lacking).err().unwrap_or_default();
                prop_assert!(
                    violations.iter().any(|v| v.path.is_empty()),
                    "{} without {field}: {violations:?}",
                    method.tool_id
                );
            }
        }
    }
}
