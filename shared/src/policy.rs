//! Per-agent trigger policy: which of an instance's events reach an agent.
//!
//! Default (what `instance grant` gives without flags): mentions only, no channel allowlisted, no
//! DMs, so a fresh grant delivers nothing until channels are named. Explicit invocations (slash
//! commands, interactions, Discord commands) count as addressed to the agent like mentions do.

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
}

/// Where an event happened and whether it was addressed to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub place: Place,
    pub channel: Option<String>,
    /// Mention, DM to the bot, command or interaction.
    pub addressed: bool,
}

impl TriggerPolicy {
    /// Whether an event in `scope` goes to the agent holding this policy.
    pub fn allows(&self, scope: &Scope) -> bool {
        let place_ok = match scope.place {
            Place::AppSurface => true,
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
