//! Guardrails: per-instance allow and deny lists, and the agent's channel grant, checked before
//! any provider call.
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
//!
//! Values and list entries are compared in canonical form, by the [`FieldKind`] the method's
//! definition declares for the pointer (`x-switchyard.guardrailKinds`): the same Notion page
//! written with or without dashes, in upper or lower case, is one page. A value that cannot be put
//! in canonical form (a Slack channel *name*, which only the provider could map to an id) is
//! refused rather than compared, wherever a list or a grant has to judge it.
//!
//! A guarded field of a channel kind is also held to the calling agent's grant: when the agent's
//! trigger policy allowlists channels (a non-empty list without `*`), a tool call may only target
//! those channels, exactly as inbound events are only delivered from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definitions::Method;
use crate::error::ErrorCode;
use crate::instances::Instance;
use crate::policy::TriggerPolicy;

/// What the values of a guarded field are, hence how they compare. Declared per guarded pointer
/// in the integration definition (`x-switchyard.guardrailKinds`), so shared code names no
/// provider; pointers without a declaration are [`FieldKind::Exact`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Compared byte for byte.
    #[default]
    Exact,
    /// Compared after Unicode lowercasing: for values the provider itself matches without regard
    /// to case (host names, RFC 3986 §3.2.2; e-mail domains).
    CaseInsensitive,
    /// A Notion id: a UUID, which Notion accepts with or without dashes ("IDs ... are UUIDv4;
    /// dashes may be omitted", developers.notion.com/reference/intro, Conventions) and whose hex
    /// digits are case-insensitive on input (RFC 4122 §3). Canonical: 32 lowercase hex digits.
    NotionId,
    /// A Slack conversation: `chat.postMessage`'s `channel` "Can be an encoded ID, or a name"
    /// (shared/specs/providers/slack-web-openapi-v2.json). Ids are uppercase letters and digits
    /// (`C…` channels, `G…` private groups, `D…` direct messages) and are compared exactly;
    /// channel names are lowercase (Slack forbids capitals in names), so any value with a
    /// lowercase letter or a `#` is a name. Names are never compared with ids: only Slack could
    /// map one to the other, so a name is refused wherever a list or grant must judge it.
    SlackChannel,
    /// A Discord channel: a snowflake, decimal digits (`SnowflakeType`, pattern
    /// `^(0|[1-9][0-9]*)$`, shared/specs/providers/discord-openapi.json); compared exactly.
    DiscordChannel,
}

/// Why a value has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotCanonical {
    #[error("is a channel name, not a conversation id: names are not resolved, use the id (C…, G… or D…)")]
    ChannelName,
    #[error("is not a Notion id (32 hex digits, dashes optional)")]
    NotNotionId,
    #[error("is not a Discord id (decimal digits)")]
    NotSnowflake,
}

impl FieldKind {
    /// `raw` in the form two equal values share.
    pub fn canonical(self, raw: &str) -> Result<String, NotCanonical> {
        match self {
            Self::Exact => Ok(raw.to_owned()),
            Self::CaseInsensitive => Ok(raw.to_lowercase()),
            Self::NotionId => {
                let hex: String = raw.chars().filter(|c| *c != '-').collect();
                if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(hex.to_ascii_lowercase())
                } else {
                    Err(NotCanonical::NotNotionId)
                }
            }
            Self::SlackChannel => {
                let mut chars = raw.chars();
                let id_like = chars.next().is_some_and(|c| c.is_ascii_uppercase())
                    && raw.len() > 1
                    && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if id_like {
                    Ok(raw.to_owned())
                } else {
                    Err(NotCanonical::ChannelName)
                }
            }
            Self::DiscordChannel => {
                if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(raw.to_owned())
                } else {
                    Err(NotCanonical::NotSnowflake)
                }
            }
        }
    }

    /// Whether values are channels, so the agent's channel grant applies to them.
    pub fn is_channel(self) -> bool {
        matches!(self, Self::SlackChannel | Self::DiscordChannel)
    }

    /// Whether a canonical value is a direct-message conversation (which a grant admits through
    /// its `dms` flag rather than its channel list): Slack's `D…` ids.
    fn is_direct_message(self, canonical: &str) -> bool {
        self == Self::SlackChannel && canonical.starts_with('D')
    }
}

/// An allow and a deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lists {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Lists {
    /// Whether the lists let every value through (nothing to compare).
    fn is_open(&self) -> bool {
        self.deny.is_empty() && (self.allow.is_empty() || self.allow.iter().any(|a| a == "*"))
    }

    /// Whether the canonical `value` passes; an entry without a canonical form is an error, as
    /// it could never be compared honestly.
    fn permits(&self, kind: FieldKind, value: &str) -> Result<bool, (String, NotCanonical)> {
        let matches = |entries: &[String]| -> Result<bool, (String, NotCanonical)> {
            let mut found = false;
            for entry in entries.iter().filter(|e| e.as_str() != "*") {
                let canonical = kind.canonical(entry).map_err(|e| (entry.clone(), e))?;
                found |= canonical == value;
            }
            Ok(found)
        };
        let denied = matches(&self.deny)?;
        let allowed = self.allow.is_empty() || self.allow.iter().any(|a| a == "*");
        let listed = matches(&self.allow)?;
        Ok(!denied && (allowed || listed))
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
    #[error(
        "{pointer} = {value:?} is outside the channels granted to this agent on this instance"
    )]
    Grant {
        tool: String,
        pointer: String,
        value: String,
    },
    #[error("{pointer} = {value:?} {reason}")]
    Unresolved {
        pointer: String,
        value: String,
        reason: NotCanonical,
    },
    #[error("the guardrail list of {tool} {pointer} holds {entry:?}, which {reason}; calls are refused until the list is fixed")]
    BadEntry {
        tool: String,
        pointer: String,
        entry: String,
        reason: NotCanonical,
    },
    #[error("instance guardrails are not valid JSON: {0}")]
    Corrupt(String),
}

impl Denied {
    /// The tool error code: `invalid_input` for a value that cannot be judged, `misconfigured`
    /// for unreadable guardrails, `denied` for every refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unresolved { .. } => ErrorCode::InvalidInput,
            Self::Corrupt(_) => ErrorCode::Misconfigured,
            Self::Tool(_) | Self::Field { .. } | Self::Grant { .. } | Self::BadEntry { .. } => {
                ErrorCode::Denied
            }
        }
    }
}

/// The instance config key holding guardrails.
pub const CONFIG_KEY: &str = "guardrails";

/// The channel allowlist of a grant, when it restricts channels at all: a grant without channels
/// (the default, which delivers only DMs and app surfaces) or with `*` does not narrow tool calls.
fn granted_channels(grant: &TriggerPolicy) -> Option<&[String]> {
    (!grant.channels.is_empty() && !grant.channels.iter().any(|c| c == "*"))
        .then_some(grant.channels.as_slice())
}

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
        if self.tools.permits(FieldKind::Exact, tool).unwrap_or(false) {
            Ok(())
        } else {
            Err(Denied::Tool(tool.to_owned()))
        }
    }

    /// Checks a call of `method` by an agent holding `grant`: the tool lists, then each guarded
    /// input value against its field lists and, for channels, the grant's channel allowlist.
    pub fn check_call(
        &self,
        method: &Method,
        grant: &TriggerPolicy,
        input: &Value,
    ) -> Result<(), Denied> {
        let tool = method.tool_id.as_str();
        self.check_tool(tool)?;
        let exec = &method.def.exec;
        for pointer in &exec.guardrails {
            // A guarded field the call leaves out is not checked; a present one must pass.
            let raw = match input.pointer(pointer) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let kind = exec
                .guardrail_kinds
                .get(pointer)
                .copied()
                .unwrap_or_default();
            let lists = self
                .fields
                .get(tool)
                .and_then(|fields| fields.get(pointer))
                .filter(|lists| !lists.is_open());
            let channels = if kind.is_channel() {
                granted_channels(grant)
            } else {
                None
            };
            if lists.is_none() && channels.is_none() {
                continue;
            }
            let value = kind.canonical(&raw).map_err(|reason| Denied::Unresolved {
                pointer: pointer.clone(),
                value: raw.clone(),
                reason,
            })?;
            if let Some(lists) = lists {
                let permitted =
                    lists
                        .permits(kind, &value)
                        .map_err(|(entry, reason)| Denied::BadEntry {
                            tool: tool.to_owned(),
                            pointer: pointer.clone(),
                            entry,
                            reason,
                        })?;
                if !permitted {
                    return Err(Denied::Field {
                        tool: tool.to_owned(),
                        pointer: pointer.clone(),
                        value: raw,
                    });
                }
            }
            if let Some(channels) = channels {
                let granted = (grant.dms && kind.is_direct_message(&value))
                    || channels
                        .iter()
                        .any(|c| kind.canonical(c).is_ok_and(|c| c == value));
                if !granted {
                    return Err(Denied::Grant {
                        tool: tool.to_owned(),
                        pointer: pointer.clone(),
                        value: raw,
                    });
                }
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
    use crate::definitions::Catalog;
    use serde_json::json;

    fn method(tool: &str) -> Method {
        Catalog::load()
            .expect("catalog")
            .method(tool)
            .expect("method")
            .clone()
    }

    fn open_grant() -> TriggerPolicy {
        TriggerPolicy::default()
    }

    fn code(result: Result<(), Denied>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(e) => e.code().as_str(),
        }
    }

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
        let post = method("slack.post_message");
        let check = |channel: &str| {
            code(g.check_call(
                &post,
                &open_grant(),
                &json!({"channel": channel, "text": "x"}),
            ))
        };
        assert_eq!(check("C1"), "ok");
        assert_eq!(check("C2"), "denied");
        assert_eq!(check("C3"), "denied");
        // Another tool's field is not judged by these lists.
        let history = method("slack.conversations_history");
        assert!(g
            .check_call(&history, &open_grant(), &json!({"channel": "C3"}))
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

    #[test]
    fn guardrails_match_notion_ids_with_or_without_dashes() {
        let dashed = "59833787-2cf9-4fdf-8782-e53db20768a5";
        let bare = "598337872cf94fdf8782e53db20768a5";
        let upper = "59833787-2CF9-4FDF-8782-E53DB20768A5";
        let retrieve = method("notion.retrieve_page");
        for (entry, list) in [(dashed, "deny"), (bare, "deny"), (upper, "deny")] {
            let mut g = Guardrails::default();
            g.set_field(
                "notion.retrieve_page",
                "/page_id",
                Lists {
                    allow: vec![],
                    deny: vec![entry.into()],
                },
            );
            for value in [dashed, bare, upper, &bare.to_ascii_uppercase()] {
                assert_eq!(
                    code(g.check_call(&retrieve, &open_grant(), &json!({"page_id": value}))),
                    "denied",
                    "{list} {entry} must catch {value}"
                );
            }
            let other = "00000000-0000-0000-0000-000000000001";
            assert_eq!(
                code(g.check_call(&retrieve, &open_grant(), &json!({"page_id": other}))),
                "ok"
            );
        }
        // An allowlist written without dashes admits the dashed form, and nothing else.
        let mut g = Guardrails::default();
        g.set_field(
            "notion.create_page",
            "/parent/page_id",
            Lists {
                allow: vec![bare.to_ascii_uppercase()],
                deny: vec![],
            },
        );
        let create = method("notion.create_page");
        let page = |id: &str| json!({"parent": {"page_id": id}, "properties": {}});
        assert_eq!(
            code(g.check_call(&create, &open_grant(), &page(dashed))),
            "ok"
        );
        assert_eq!(
            code(g.check_call(
                &create,
                &open_grant(),
                &page("11111111-2cf9-4fdf-8782-e53db20768a5")
            )),
            "denied"
        );
        // Something that is no Notion id cannot be judged: invalid input, not a silent miss.
        assert_eq!(
            code(g.check_call(&create, &open_grant(), &page("my-page"))),
            "invalid_input"
        );
    }

    #[test]
    fn slack_channel_names_are_resolved_or_refused() {
        let post = method("slack.post_message");
        let call = |channel: &str| json!({"channel": channel, "text": "x"});
        // A name in the tool input, against an id deny list: refused, not waved through because
        // "#general" differs from "C0GENERAL".
        let mut g = Guardrails::default();
        g.set_field(
            "slack.post_message",
            "/channel",
            Lists {
                allow: vec![],
                deny: vec!["C0GENERAL".into()],
            },
        );
        for name in ["#general", "general", "c0general"] {
            let err = g
                .check_call(&post, &open_grant(), &call(name))
                .expect_err("a name is refused");
            assert_eq!(err.code(), "invalid_input", "{name}");
            assert!(err.to_string().contains("channel name"), "{err}");
        }
        assert_eq!(
            code(g.check_call(&post, &open_grant(), &call("C0GENERAL"))),
            "denied"
        );
        assert_eq!(
            code(g.check_call(&post, &open_grant(), &call("C0OTHER"))),
            "ok"
        );

        // A name in an allowlist: never compared with ids, every call refused with a clear reason.
        let mut g = Guardrails::default();
        g.set_field(
            "slack.post_message",
            "/channel",
            Lists {
                allow: vec!["#general".into()],
                deny: vec![],
            },
        );
        let err = g
            .check_call(&post, &open_grant(), &call("C0GENERAL"))
            .expect_err("list with a name");
        assert!(
            matches!(&err, Denied::BadEntry { entry, .. } if entry == "#general"),
            "{err:?}"
        );
        assert_eq!(err.code(), "denied");

        // Nothing to judge (no lists, no channel grant): the value goes to Slack as given.
        let none = Guardrails::default();
        assert_eq!(
            code(none.check_call(&post, &open_grant(), &call("#general"))),
            "ok"
        );
    }

    #[test]
    fn case_insensitive_fields_ignore_case_and_exact_fields_do_not() {
        let lists = Lists {
            allow: vec!["Ops@Example.COM".into()],
            deny: vec![],
        };
        assert_eq!(
            lists.permits(
                FieldKind::CaseInsensitive,
                &FieldKind::CaseInsensitive
                    .canonical("ops@example.com")
                    .expect("c")
            ),
            Ok(true)
        );
        assert_eq!(
            lists.permits(FieldKind::Exact, "ops@example.com"),
            Ok(false)
        );
        assert_eq!(
            FieldKind::DiscordChannel.canonical("#general"),
            Err(NotCanonical::NotSnowflake)
        );
    }

    #[test]
    fn a_tool_call_outside_the_agents_granted_channels_is_denied() {
        let grant = TriggerPolicy {
            channels: vec!["C0SUPPORT".into()],
            ..TriggerPolicy::default()
        };
        let none = Guardrails::default();
        let post = method("slack.post_message");
        let history = method("slack.conversations_history");
        let call = |channel: &str| json!({"channel": channel, "text": "x"});
        assert_eq!(
            code(none.check_call(&post, &grant, &call("C0SUPPORT"))),
            "ok"
        );
        assert_eq!(
            code(none.check_call(&post, &grant, &call("C0FINANCE"))),
            "denied"
        );
        assert_eq!(
            code(none.check_call(&history, &grant, &json!({"channel": "C0FINANCE"}))),
            "denied"
        );
        assert_eq!(
            code(none.check_call(&post, &grant, &call("#support"))),
            "invalid_input"
        );
        // DMs follow the grant's dms flag.
        assert_eq!(
            code(none.check_call(&post, &grant, &call("D0DIRECT"))),
            "denied"
        );
        let with_dms = TriggerPolicy { dms: true, ..grant };
        assert_eq!(
            code(none.check_call(&post, &with_dms, &call("D0DIRECT"))),
            "ok"
        );
        // Discord channels too.
        let discord = method("discord.send_channel_message");
        let grant = TriggerPolicy {
            channels: vec!["400000000000000002".into()],
            ..TriggerPolicy::default()
        };
        let send = |id: &str| json!({"channel_id": id, "content": "x"});
        assert_eq!(
            code(none.check_call(&discord, &grant, &send("400000000000000002"))),
            "ok"
        );
        assert_eq!(
            code(none.check_call(&discord, &grant, &send("400000000000000003"))),
            "denied"
        );
        // A grant without a channel allowlist, or with `*`, does not narrow tool calls.
        for open in [
            TriggerPolicy::default(),
            TriggerPolicy {
                channels: vec!["*".into()],
                ..TriggerPolicy::default()
            },
        ] {
            assert_eq!(
                code(none.check_call(&post, &open, &call("C0FINANCE"))),
                "ok"
            );
        }
    }
}
