//! Guardrails: per-instance allow and deny lists, checked before any provider call.
//!
//! Stored as JSON in the instance config key `guardrails`:
//! ```json
//! {"tools": {"deny": ["slack.schedule_message"]},
//!  "fields": {"slack.post_message": {"/channel": {"allow": ["C1", "C2"], "deny": ["C9"]}}}}
//! ```
//! `tools.allow` (if present) lists the only tools agents may call on the instance; `tools.deny`
//! removes tools. `fields` applies to the input values at the pointers a method declares as
//! guarded (`x-switchyard.guardrails`): a value on the deny list, or missing from a non-empty
//! allow list (`*` allows anything), is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::instances::Instance;

/// An allow and a deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lists {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Lists {
    fn permits(&self, value: &str) -> bool {
        !self.deny.iter().any(|d| d == value)
            && (self.allow.is_empty() || self.allow.iter().any(|a| a == value || a == "*"))
    }
}

/// One instance's guardrails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Guardrails {
    pub tools: Lists,
    pub fields: BTreeMap<String, BTreeMap<String, Lists>>,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("tool {0} is not allowed on this instance")]
    Tool(String),
    #[error("{pointer} = {value:?} is not allowed for {tool} on this instance")]
    Field {
        tool: String,
        pointer: String,
        value: String,
    },
    #[error("instance guardrails are not valid JSON: {0}")]
    Corrupt(String),
}

/// The instance config key holding guardrails.
pub const CONFIG_KEY: &str = "guardrails";

impl Guardrails {
    /// The guardrails of `instance` (none configured: everything allowed).
    pub fn of(instance: &Instance) -> Result<Self, Denied> {
        match instance.config.get(CONFIG_KEY) {
            Some(text) => serde_json::from_str(text).map_err(|e| Denied::Corrupt(e.to_string())),
            None => Ok(Self::default()),
        }
    }

    /// Whether `tool` may be called at all.
    pub fn check_tool(&self, tool: &str) -> Result<(), Denied> {
        if self.tools.permits(tool) {
            Ok(())
        } else {
            Err(Denied::Tool(tool.to_owned()))
        }
    }

    /// Checks the guarded input values of a call.
    pub fn check_input(&self, tool: &str, guarded: &[String], input: &Value) -> Result<(), Denied> {
        self.check_tool(tool)?;
        let Some(fields) = self.fields.get(tool) else {
            return Ok(());
        };
        for pointer in guarded {
            let Some(lists) = fields.get(pointer) else {
                continue;
            };
            // A guarded field the call leaves out is not checked; a present one must pass.
            let value = match input.pointer(pointer) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            if !lists.permits(&value) {
                return Err(Denied::Field {
                    tool: tool.to_owned(),
                    pointer: pointer.clone(),
                    value,
                });
            }
        }
        Ok(())
    }

    /// Sets the lists of one guarded field.
    pub fn set_field(&mut self, tool: &str, pointer: &str, lists: Lists) {
        self.fields
            .entry(tool.to_owned())
            .or_default()
            .insert(pointer.to_owned(), lists);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allow_and_deny_lists_apply_to_guarded_fields() {
        let mut g = Guardrails::default();
        g.set_field(
            "slack.post_message",
            "/channel",
            Lists {
                allow: vec!["C1".into(), "C2".into()],
                deny: vec!["C2".into()],
            },
        );
        let guarded = vec!["/channel".to_owned()];
        assert!(g
            .check_input("slack.post_message", &guarded, &json!({"channel": "C1"}))
            .is_ok());
        assert!(g
            .check_input("slack.post_message", &guarded, &json!({"channel": "C2"}))
            .is_err());
        assert!(g
            .check_input("slack.post_message", &guarded, &json!({"channel": "C3"}))
            .is_err());
        assert!(g
            .check_input("slack.other", &guarded, &json!({"channel": "C3"}))
            .is_ok());
    }

    #[test]
    fn tool_lists() {
        let g = Guardrails {
            tools: Lists {
                allow: vec![],
                deny: vec!["slack.schedule_message".into()],
            },
            ..Default::default()
        };
        assert!(g.check_tool("slack.post_message").is_ok());
        assert_eq!(
            g.check_tool("slack.schedule_message"),
            Err(Denied::Tool("slack.schedule_message".into()))
        );
    }
}
