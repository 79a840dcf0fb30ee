//! Per-agent trigger policy: which of an instance's events reach an agent.
//!
//! A policy has two parts:
//! - generic rules for every provider: event types by glob (`shopify.orders/*`, `email.bounce`)
//!   and resource attributes by glob (`shop=acme.myshopify.com`); empty means any;
//! - chat rules for chat places: mentions or all messages, allowlisted channels, DMs, private
//!   channels. Resource events (an order, a page, an email) have no channel and are addressed.
//!
//! Default (what `instance grant` gives without flags): mentions only, no channel allowlisted, no
//! DMs, so a fresh grant delivers no chat message until channels are named. Explicit invocations
//! (slash commands, interactions, Discord commands) count as addressed like mentions do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which messages trigger the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Only events addressed to the app: mentions, DMs, commands, interactions.
    #[default]
    Mentions,
    /// Every message in allowlisted channels.
    All,
}

/// One agent's trigger policy on one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TriggerPolicy {
    pub trigger: Trigger,
    /// Allowlisted channel ids; `*` allows every public channel.
    pub channels: Vec<String>,
    /// Direct and group-direct messages.
    pub dms: bool,
    /// Private channels under `*` (a private channel named by id is always allowed).
    pub private_channels: bool,
    /// Event type globs (`*` matches any run of characters); empty: every type.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Attribute value globs every event must match; empty: any.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// What kind of place an event happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    PublicChannel,
    PrivateChannel,
    DirectMessage,
    /// The app's own surface (a modal, the home tab): no channel.
    AppSurface,
    /// Not a chat place: a resource changed (an order, a page, an email).
    Resource,
}

/// Where an event happened and whether it was addressed to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub place: Place,
    pub channel: Option<String>,
    /// Mention, DM to the bot, command or interaction.
    pub addressed: bool,
}

impl Scope {
    /// A resource event: no channel, addressed to whoever subscribed.
    pub fn resource() -> Self {
        Self {
            place: Place::Resource,
            channel: None,
            addressed: true,
        }
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl TriggerPolicy {
    /// Whether an event of `event_type` with `attributes` in `scope` goes to this agent.
    pub fn allows_event(
        &self,
        event_type: &str,
        attributes: &BTreeMap<String, String>,
        scope: &Scope,
    ) -> bool {
        let type_ok = self.events.is_empty() || self.events.iter().any(|g| glob(g, event_type));
        let attributes_ok = self.attributes.iter().all(|(key, pattern)| {
            attributes
                .get(key)
                .is_some_and(|value| glob(pattern, value))
        });
        type_ok && attributes_ok && self.allows(scope)
    }

    /// Whether the chat rules let an event in `scope` through.
    pub fn allows(&self, scope: &Scope) -> bool {
        let place_ok = match scope.place {
            Place::AppSurface | Place::Resource => true,
            Place::DirectMessage => self.dms,
            Place::PublicChannel => self.lists(scope.channel.as_deref(), true),
            Place::PrivateChannel => self.lists(scope.channel.as_deref(), self.private_channels),
        };
        place_ok && (scope.addressed || self.trigger == Trigger::All)
    }

    fn lists(&self, channel: Option<&str>, wildcard_applies: bool) -> bool {
        let Some(channel) = channel else {
            return false;
        };
        self.channels
            .iter()
            .any(|c| c == channel || (c == "*" && wildcard_applies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(place: Place, channel: &str, addressed: bool) -> Scope {
        Scope {
            place,
            channel: Some(channel.into()),
            addressed,
        }
    }

    #[test]
    fn default_grant_delivers_nothing() {
        let p = TriggerPolicy::default();
        assert!(!p.allows(&scope(Place::PublicChannel, "C1", true)));
        assert!(!p.allows(&scope(Place::DirectMessage, "D1", true)));
    }

    #[test]
    fn mentions_only_in_allowlisted_channels() {
        let p = TriggerPolicy {
            channels: vec!["C1".into()],
            ..Default::default()
        };
        assert!(p.allows(&scope(Place::PublicChannel, "C1", true)));
        assert!(!p.allows(&scope(Place::PublicChannel, "C1", false)));
        assert!(!p.allows(&scope(Place::PublicChannel, "C2", true)));
    }

    #[test]
    fn all_messages_and_wildcard() {
        let p = TriggerPolicy {
            trigger: Trigger::All,
            channels: vec!["*".into()],
            ..Default::default()
        };
        assert!(p.allows(&scope(Place::PublicChannel, "C9", false)));
        assert!(!p.allows(&scope(Place::PrivateChannel, "G1", false)));
        let with_private = TriggerPolicy {
            private_channels: true,
            ..p
        };
        assert!(with_private.allows(&scope(Place::PrivateChannel, "G1", false)));
    }

    #[test]
    fn globs() {
        assert!(glob("shopify.orders/*", "shopify.orders/create"));
        assert!(!glob("shopify.orders/*", "shopify.products/create"));
        assert!(glob("email.bounce", "email.bounce"));
        assert!(!glob("email.bounce", "email.bounced"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c"));
        assert!(glob("*.myshopify.com", "acme.myshopify.com"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn event_types_and_attributes_for_resource_events() {
        let p = TriggerPolicy {
            events: vec!["shopify.orders/*".into()],
            attributes: [("shop".to_owned(), "acme.*".to_owned())].into(),
            ..Default::default()
        };
        let attrs: BTreeMap<String, String> =
            [("shop".to_owned(), "acme.myshopify.com".to_owned())].into();
        let r = Scope::resource();
        assert!(p.allows_event("shopify.orders/create", &attrs, &r));
        assert!(!p.allows_event("shopify.products/update", &attrs, &r));
        assert!(!p.allows_event("shopify.orders/create", &BTreeMap::new(), &r));
        // A default grant takes every resource event but no chat message.
        let d = TriggerPolicy::default();
        assert!(d.allows_event("email.bounce", &BTreeMap::new(), &r));
        assert!(!d.allows_event(
            "slack.app_mention",
            &BTreeMap::new(),
            &scope(Place::PublicChannel, "C1", true)
        ));
    }

    #[test]
    fn private_channel_named_by_id_and_dms_flag() {
        let p = TriggerPolicy {
            channels: vec!["G1".into()],
            dms: true,
            ..Default::default()
        };
        assert!(p.allows(&scope(Place::PrivateChannel, "G1", true)));
        assert!(p.allows(&scope(Place::DirectMessage, "D1", true)));
        assert!(p.allows(&Scope {
            place: Place::AppSurface,
            channel: None,
            addressed: true
        }));
    }
}
