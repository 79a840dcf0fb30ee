//! Idempotency keys bound to their request.
//!
//! A key is namespaced per instance, tool and agent: another agent's key of the same text is a
//! different key and never replays the first agent's result. The stored claim also holds a hash
//! of (agent, tool, canonical input), so the same key with another input is refused as
//! `idempotency_conflict` instead of replaying an answer to a question that was not asked.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// One request's claim on an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The stored key: `<instance>#<tool>#<hash of agent and the caller's key>`.
    pub key: String,
    /// What the key is bound to: hash of (agent, tool, canonical input).
    pub request_hash: String,
}

impl IdempotencyKey {
    pub fn new(instance: &str, tool: &str, agent: &str, key: &str, input: &Value) -> Self {
        let scope = digest(&[agent.as_bytes(), key.as_bytes()]);
        Self {
            key: format!("{instance}#{tool}#{}", &scope[..32]),
            request_hash: digest(&[
                agent.as_bytes(),
                tool.as_bytes(),
                canonical_json(input).as_bytes(),
            ]),
        }
    }
}

/// SHA-256 of the parts, each length-prefixed so that no two part lists collide.
fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// JSON with object keys sorted at every depth and no whitespace, so that two inputs that mean
/// the same thing hash the same whatever order the caller wrote the keys in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [2, {"d": 1, "c": 0}], "x": "s"}}"#)
                .expect("json");
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"s","y":[2,{"c":0,"d":1}]},"b":1}"#
        );
    }

    #[test]
    fn the_same_request_in_another_key_order_binds_the_same() {
        let one = IdempotencyKey::new("i", "t", "a", "k", &json!({"channel": "C1", "text": "x"}));
        let two: Value = serde_json::from_str(r#"{"text": "x", "channel": "C1"}"#).expect("json");
        assert_eq!(one, IdempotencyKey::new("i", "t", "a", "k", &two));
    }

    #[test]
    fn keys_are_bound_to_agent_tool_and_input() {
        let input = json!({"channel": "C1", "text": "x"});
        let base = IdempotencyKey::new("i", "t", "a", "k", &input);
        let other_input = IdempotencyKey::new("i", "t", "a", "k", &json!({"channel": "C2"}));
        assert_eq!(base.key, other_input.key);
        assert_ne!(base.request_hash, other_input.request_hash);
        let other_agent = IdempotencyKey::new("i", "t", "b", "k", &input);
        assert_ne!(base.key, other_agent.key, "namespaced per agent");
        assert_ne!(base.request_hash, other_agent.request_hash);
        // Agent "a#b" with key "c" is not agent "a" with key "b#c".
        assert_ne!(
            IdempotencyKey::new("i", "t", "a#b", "c", &input).key,
            IdempotencyKey::new("i", "t", "a", "b#c", &input).key
        );
    }
}
