//! Providers: each is one place, its definition (data) plus code only for what data cannot say.
//!
//! A definition is one YAML file under `shared/providers/`: config keys (and which are
//! sensitive), OAuth, and the webhook section ([`webhook`]): signature scheme, handshakes, how a
//! request becomes events, tenant binding, dedup horizon. The files are compiled in and checked
//! once per cold start by [`Registry::load`], which also gives every webhook provider its
//! [`WebhookPlugin`]: the one listed in [`CODE_PLUGINS`], or [`declared::Declared`] reading the
//! definition's `events`. A provider with a webhook and nothing to interpret it fails the load
//! (and so the unit tests), never a delivery.

pub mod declared;
pub mod demo;
pub mod discord;
#[cfg(test)]
mod fuzz_tests;
pub mod google_push;
pub mod jwt;
pub mod plugin;
pub mod samples;
pub mod sendgrid;
pub mod slack;
pub mod template;
pub mod verify;
pub mod webhook;
pub mod whatsapp;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

pub use plugin::{Effect, WebhookPlugin};
pub use webhook::{Encoding, HandshakeDef, SignatureDef, WebhookDef, WebhookQueue};

/// The definitions shipped with this build (every `shared/providers/*.yaml`, converted to JSON
/// by `build.rs`), by file name.
const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/providers.rs"));

/// Makes a provider's code plugin.
pub type MakePlugin = fn() -> Arc<dyn WebhookPlugin>;

/// The providers whose webhooks need code, each registered once.
pub const CODE_PLUGINS: &[(&str, MakePlugin)] = &[
    ("slack", || Arc::new(slack::Slack)),
    ("discord", || Arc::new(discord::Discord)),
    ("google-pubsub", || Arc::new(google_push::PubsubPush)),
    ("google-channel", || {
        Arc::new(google_push::ChannelNotification)
    }),
];

/// What a declared provider's deliveries change in the gateway's state ([`Effect`]), computed
/// by code because data cannot say it.
pub type EffectsFn = fn(&switchyard_core::workitem::WorkItem, &serde_json::Value) -> Vec<Effect>;

/// Declared providers (events read from their definition) whose deliveries have effects, each
/// registered once.
pub const DECLARED_EFFECTS: &[(&str, EffectsFn)] = &[
    ("sendgrid", sendgrid::effects),
    ("whatsapp", whatsapp::effects),
];

/// Config keys every OAuth provider accepts (instance overrides of the definition's URLs and
/// scopes, and the OAuth app's credentials).
pub const OAUTH_CONFIG_KEYS: &[&str] = &[
    "client_id",
    "authorization_url",
    "token_url",
    "revocation_url",
    "scopes",
    "user_scopes",
    "redirect_uri",
    "scope_template",
];
/// Config keys every provider accepts for its tools: API base URL override (fakes, regional
/// endpoints), the OAuth connection tools act through, guardrails and circuit-breaker settings,
/// and approval gates (`switchyard_tools::approvals`).
pub const TOOL_CONFIG_KEYS: &[&str] = &[
    "api_base_url",
    "connection_id",
    "connection_mode",
    "guardrails",
    "breaker_threshold",
    "breaker_window_secs",
    "breaker_cooldown_secs",
    "approval_required",
    "approval_ttl_secs",
    "approval_slack_instance",
    "approval_channel",
];

/// The OAuth app's secret, always sealed.
pub const OAUTH_SECRET_KEY: &str = "client_secret";

/// Why a provider definition was rejected.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{file}: not a valid provider definition: {why}")]
    Parse { file: String, why: String },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
}

/// One provider's definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDef {
    pub id: String,
    pub name: String,
    pub config: ConfigKeys,
    /// The provider whose instances this definition's webhooks serve, when not its own: Google's
    /// push endpoints (`google-pubsub`, `google-channel`) serve instances of `google`, whose
    /// config keys they read. Such a definition has no config keys of its own.
    #[serde(default)]
    pub instances_of: Option<String>,
    /// How the provider's webhooks are signed, when it sends any.
    #[serde(default)]
    pub webhook: Option<WebhookDef>,
    /// How to connect a user's account, when the provider does OAuth.
    #[serde(default)]
    pub oauth: Option<OAuthDef>,
}

impl ProviderDef {
    /// The provider an instance served by this definition has (`Instance::provider`).
    pub fn instance_provider(&self) -> &str {
        self.instances_of.as_deref().unwrap_or(&self.id)
    }
}

/// A provider's OAuth 2.0 authorization-code flow, as data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthDef {
    /// May hold `{config_key}` placeholders (Shopify's per-shop URLs); the instance may override.
    #[serde(default)]
    pub authorization_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    /// RFC 7009 revocation endpoint, if the provider has one.
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// Default scopes (instance config `scopes` overrides, space- or comma-separated).
    #[serde(default)]
    pub scopes: Vec<String>,
    pub scope_separator: String,
    /// The parameter carrying user scopes, for providers with two kinds (Slack's `user_scope`).
    #[serde(default)]
    pub user_scopes_param: Option<String>,
    /// Named scope sets (Google's `send-mail`, `calendar`, ...). An instance's config
    /// `scope_template` (comma-separated names) asks for the default `scopes` plus the named
    /// sets' scopes, and nothing else, so consent asks only for what its tools use.
    #[serde(default)]
    pub scope_templates: BTreeMap<String, Vec<String>>,
    /// Extra authorization parameters, e.g. Google's `access_type=offline`.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Whether the provider accepts PKCE S256.
    pub pkce: bool,
    pub client_auth: ClientAuth,
    #[serde(default)]
    pub token_request: TokenRequestFormat,
    /// The name of the client id parameter (TikTok: `client_key`).
    #[serde(default = "default_client_id_param")]
    pub client_id_param: String,
    #[serde(default)]
    pub token_response: TokenResponseDef,
}

fn default_client_id_param() -> String {
    "client_id".into()
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// HTTP Basic with `client_id:client_secret`.
    Basic,
}

/// The token request's body encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRequestFormat {
    #[default]
    Form,
    Json,
}

/// Where non-standard facts sit in a token response. Each is a JSON pointer into the response
/// (`/team/id`), a claim of the ID token the token endpoint returned (`id_token#sub`), or an
/// instance config value (`config#shop`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponseDef {
    /// A boolean that must be true (Slack's `ok`): HTTP 200 is not success by itself.
    #[serde(default)]
    pub ok_flag: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub account_email: Option<String>,
}

/// The instance config keys a provider knows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKeys {
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub optional: Vec<String>,
    /// Keys stored only as KMS envelope ciphertext.
    #[serde(default)]
    pub sensitive: Vec<String>,
}

impl ConfigKeys {
    /// Whether `key` is a sensitive field of this provider.
    pub fn is_sensitive(&self, key: &str) -> bool {
        self.sensitive.iter().any(|k| k == key)
    }

    /// Whether any key is declared besides the ones every provider gets
    /// ([`TOOL_CONFIG_KEYS`]).
    fn knows_any_of_its_own(&self) -> bool {
        self.required
            .iter()
            .chain(&self.optional)
            .chain(&self.sensitive)
            .any(|k| !TOOL_CONFIG_KEYS.contains(&k.as_str()))
    }

    /// Whether `key` is any config key of this provider.
    pub fn knows(&self, key: &str) -> bool {
        self.required
            .iter()
            .chain(&self.optional)
            .chain(&self.sensitive)
            .any(|k| k == key)
    }
}

/// All provider definitions, checked, with their webhook plugins.
#[derive(Debug, Clone)]
pub struct Registry {
    providers: BTreeMap<String, ProviderDef>,
    plugins: BTreeMap<String, Arc<dyn WebhookPlugin>>,
}

impl Registry {
    /// Parses and checks the built-in definitions.
    pub fn load() -> Result<Self, DefinitionError> {
        Self::from_parsed(
            BUILTIN
                .iter()
                .map(|(file, json)| (*file, serde_json::from_str(json).map_err(|e| e.to_string()))),
        )
    }

    /// Parses and checks definitions given as `(file name, YAML text)` (tests, tools).
    #[cfg(any(test, feature = "yaml"))]
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, DefinitionError> {
        Self::from_parsed(
            sources
                .into_iter()
                .map(|(file, text)| (file, serde_yaml::from_str(text).map_err(|e| e.to_string()))),
        )
    }

    /// Checks parsed definitions and registers their plugins.
    fn from_parsed<'a>(
        parsed: impl IntoIterator<Item = (&'a str, Result<ProviderDef, String>)>,
    ) -> Result<Self, DefinitionError> {
        let mut providers = BTreeMap::new();
        let mut plugins = BTreeMap::new();
        let mut files = BTreeMap::new();
        for (file, def) in parsed {
            let mut def = def.map_err(|why| DefinitionError::Parse {
                file: file.to_owned(),
                why,
            })?;
            if def.oauth.is_some() {
                add_oauth_keys(&mut def.config);
            }
            for key in TOOL_CONFIG_KEYS {
                if !def.config.knows(key) {
                    def.config.optional.push((*key).to_owned());
                }
            }
            check(&def).map_err(|problem| DefinitionError::Invalid {
                file: file.to_owned(),
                problem,
            })?;
            if providers.contains_key(&def.id) {
                return Err(DefinitionError::Invalid {
                    file: file.to_owned(),
                    problem: format!("provider id {:?} defined twice", def.id),
                });
            }
            if let Some(webhook) = &def.webhook {
                let plugin =
                    plugin_for(&def.id, webhook).map_err(|problem| DefinitionError::Invalid {
                        file: file.to_owned(),
                        problem,
                    })?;
                plugins.insert(def.id.clone(), plugin);
            }
            files.insert(def.id.clone(), file.to_owned());
            providers.insert(def.id.clone(), def);
        }
        // Webhook sections name config keys of the provider whose instances they serve, so they
        // are checked once every definition is known.
        for def in providers.values() {
            let invalid = |problem| DefinitionError::Invalid {
                file: files[&def.id].clone(),
                problem,
            };
            let served = providers.get(def.instance_provider()).ok_or_else(|| {
                invalid(format!(
                    "instances_of names unknown provider {:?}",
                    def.instance_provider()
                ))
            })?;
            if def.instances_of.is_some() {
                if served.instances_of.is_some() {
                    return Err(invalid(
                        "instances_of must name a provider that serves its own instances".into(),
                    ));
                }
                if def.config.knows_any_of_its_own() {
                    return Err(invalid("a definition with instances_of uses that provider's config keys and declares none".into()));
                }
            }
            if let Some(webhook) = &def.webhook {
                webhook::check(&served.config, webhook).map_err(invalid)?;
            }
        }
        Ok(Self { providers, plugins })
    }

    /// The webhook plugin of `provider`, if it takes webhooks.
    pub fn plugin(&self, provider: &str) -> Option<&dyn WebhookPlugin> {
        self.plugins.get(provider).map(|p| p.as_ref())
    }

    /// The providers that take webhooks, sorted.
    pub fn webhook_ids(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    /// The definition of `provider`, if known.
    pub fn get(&self, provider: &str) -> Option<&ProviderDef> {
        self.providers.get(provider)
    }

    /// Every provider id, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }
}

/// The code plugin registered for `id`, else the declared one; an error when neither exists or
/// both would (a provider is interpreted in exactly one place).
fn plugin_for(id: &str, webhook: &WebhookDef) -> Result<Arc<dyn WebhookPlugin>, String> {
    let code = CODE_PLUGINS.iter().find(|(name, _)| *name == id);
    match (code, webhook.events.is_empty()) {
        (Some((_, make)), true) => Ok(make()),
        (Some(_), false) => Err(format!(
            "{id} has a code plugin and declared events: keep one"
        )),
        (None, false) => {
            let effects = DECLARED_EFFECTS
                .iter()
                .find(|(name, _)| *name == id)
                .map(|(_, effects)| *effects);
            Ok(Arc::new(
                declared::Declared::new(id, webhook)?.with_effects(effects),
            ))
        }
        (None, true) => Err(format!(
            "{id} has a webhook but nothing to interpret it: declare webhook.events or register a code plugin"
        )),
    }
}

fn add_oauth_keys(keys: &mut ConfigKeys) {
    for key in OAUTH_CONFIG_KEYS {
        if !keys.knows(key) {
            keys.optional.push((*key).to_owned());
        }
    }
    if !keys.is_sensitive(OAUTH_SECRET_KEY) {
        keys.sensitive.push(OAUTH_SECRET_KEY.to_owned());
    }
}

fn check(def: &ProviderDef) -> Result<(), String> {
    let valid_id = !def.id.is_empty()
        && def
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_id {
        return Err(format!(
            "id {:?} must be lowercase letters, digits or '-'",
            def.id
        ));
    }
    if let Some(oauth) = &def.oauth {
        check_oauth(def, oauth)?;
    }
    Ok(())
}

fn check_oauth(def: &ProviderDef, oauth: &OAuthDef) -> Result<(), String> {
    for url in [
        &oauth.authorization_url,
        &oauth.token_url,
        &oauth.revocation_url,
    ]
    .into_iter()
    .flatten()
    {
        if !url.starts_with("https://") {
            return Err(format!("OAuth URL {url:?} must be https"));
        }
        for placeholder in placeholders(url) {
            if !def.config.knows(placeholder) {
                return Err(format!(
                    "OAuth URL {url:?} names unknown config key {placeholder:?}"
                ));
            }
        }
    }
    let has_urls = oauth.authorization_url.is_some() && oauth.token_url.is_some();
    let from_config = ["authorization_url", "token_url"]
        .iter()
        .all(|k| def.config.required.iter().any(|r| r == k));
    if !has_urls && !from_config {
        return Err(
            "oauth needs authorization_url and token_url, or must require them in config".into(),
        );
    }
    if oauth.scope_separator.is_empty() {
        return Err("scope_separator must not be empty".into());
    }
    if let Some((name, _)) = oauth.scope_templates.iter().find(|(_, s)| s.is_empty()) {
        return Err(format!("scope template {name:?} names no scopes"));
    }
    let r = &oauth.token_response;
    for path in [&r.ok_flag, &r.account_id, &r.account_name, &r.account_email]
        .into_iter()
        .flatten()
    {
        let ok = path.starts_with('/')
            || path
                .strip_prefix("id_token#")
                .is_some_and(|c| !c.is_empty())
            || path
                .strip_prefix("config#")
                .is_some_and(|k| def.config.knows(k));
        if !ok {
            return Err(format!(
                "token_response path {path:?} must be a JSON pointer, id_token#<claim> or config#<key>"
            ));
        }
    }
    Ok(())
}

/// The `{name}` placeholders in `text`.
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_load() {
        let registry = Registry::load().expect("built-in definitions are valid");
        assert_eq!(
            registry.ids().collect::<Vec<_>>(),
            [
                "discord",
                "email",
                "generic-oauth2",
                "google",
                "google-channel",
                "google-pubsub",
                "http",
                "llm",
                "media",
                "notion",
                "pinecone",
                "sendgrid",
                "shopify",
                "slack",
                "standard-webhooks",
                "tiktok",
                "whatsapp"
            ]
        );
        assert_eq!(
            registry.webhook_ids().collect::<Vec<_>>(),
            [
                "discord",
                "google-channel",
                "google-pubsub",
                "notion",
                "sendgrid",
                "shopify",
                "slack",
                "standard-webhooks",
                "whatsapp"
            ]
        );
        let slack = registry.get("slack").expect("slack");
        assert!(slack.config.is_sensitive("client_secret"));
        assert!(slack.config.knows("client_id"));
        assert!(slack.config.is_sensitive("signing_secret"));
        assert!(!registry
            .get("discord")
            .expect("discord")
            .config
            .is_sensitive("public_key"));
    }

    #[test]
    fn rejects_unknown_placeholder_and_key_field() {
        let bad = include_str!("../slack.yaml").replace("{body}", "{raw}");
        let err =
            Registry::from_sources([("bad.yaml", bad.as_str())]).expect_err("must be rejected");
        assert!(err.to_string().contains("{body}"), "{err}");

        let bad = include_str!("../slack.yaml")
            .replace("secret_field: signing_secret", "secret_field: nope");
        let err =
            Registry::from_sources([("bad.yaml", bad.as_str())]).expect_err("must be rejected");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn oauth_urls_must_be_https_and_placeholders_known() {
        let google = include_str!("../google.yaml");
        let http = google.replace(
            "https://oauth2.googleapis.com/token",
            "http://oauth2.googleapis.com/token",
        );
        assert!(Registry::from_sources([("g.yaml", http.as_str())]).is_err());
        let shopify = include_str!("../shopify.yaml").replace(
            "{shop}/admin/oauth/authorize",
            "{store}/admin/oauth/authorize",
        );
        let err = Registry::from_sources([("s.yaml", shopify.as_str())])
            .expect_err("unknown placeholder");
        assert!(err.to_string().contains("store"), "{err}");
        assert_eq!(
            placeholders("https://{shop}/x/{a}").collect::<Vec<_>>(),
            ["shop", "a"]
        );
    }

    #[test]
    fn a_webhook_needs_something_to_interpret_it() {
        let shopify = include_str!("../shopify.yaml");
        let start = shopify.find("  events:").expect("events");
        let end = shopify.find("  tenant:").expect("tenant");
        let bare = format!("{}{}", &shopify[..start], &shopify[end..]);
        let err = Registry::from_sources([("s.yaml", bare.as_str())]).expect_err("refused");
        assert!(err.to_string().contains("nothing to interpret"), "{err}");
        // Code and declared events at once: one place only.
        let slack = include_str!("../slack.yaml").replace(
            "    tolerance_secs: 300\n",
            "    tolerance_secs: 300\n  events:\n    - {id: \"{/event_id}\", type: \"{/type}\"}\n",
        );
        let err = Registry::from_sources([("s.yaml", slack.as_str())]).expect_err("refused");
        assert!(err.to_string().contains("keep one"), "{err}");
        // Every code plugin belongs to a provider that takes webhooks.
        let registry = Registry::load().expect("registry");
        for (id, _) in CODE_PLUGINS {
            assert!(registry.plugin(id).is_some(), "{id}");
        }
    }

    #[test]
    fn bad_templates_and_handshake_fields_are_refused() {
        let shopify = include_str!("../shopify.yaml");
        let bad = shopify.replace("{header:x-shopify-topic}", "{header:X-Shopify-Topic}");
        assert!(Registry::from_sources([("s.yaml", bad.as_str())]).is_err());
        let bad = shopify.replace("{header:x-shopify-topic}", "{topic}");
        assert!(Registry::from_sources([("s.yaml", bad.as_str())]).is_err());
        let whatsapp = include_str!("../whatsapp.yaml");
        let bad = whatsapp.replace(
            "verify_token_field: verify_token",
            "verify_token_field: nope",
        );
        assert!(Registry::from_sources([("w.yaml", bad.as_str())]).is_err());
        let notion = include_str!("../notion.yaml");
        let bad = notion.replace(
            "sensitive: [token, verification_token]",
            "sensitive: [token]\n  optional: [verification_token]",
        );
        assert!(Registry::from_sources([("n.yaml", bad.as_str())]).is_err());
    }

    #[test]
    fn push_definitions_serve_google_instances_and_use_its_config() {
        let registry = Registry::load().expect("registry");
        for id in ["google-pubsub", "google-channel"] {
            let def = registry.get(id).expect(id);
            assert_eq!(def.instance_provider(), "google");
            let webhook = def.webhook.as_ref().expect("webhook");
            assert_eq!(webhook.queue, WebhookQueue::Sync);
            assert!(!webhook.signature.reads_sealed_secrets());
        }
        assert_eq!(
            registry.get("slack").expect("slack").instance_provider(),
            "slack"
        );
        let pubsub = include_str!("../google-pubsub.yaml");
        let google = include_str!("../google.yaml");
        // Its key fields are checked against google's config, not its own (empty) one.
        let bad = pubsub.replace("audience_field: push_audience", "audience_field: nope");
        let err = Registry::from_sources([("g.yaml", google), ("p.yaml", bad.as_str())])
            .expect_err("unknown key");
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(Registry::from_sources([("g.yaml", google), ("p.yaml", pubsub)]).is_ok());
        // The provider it serves must exist, serve its own instances, and the definition
        // declares no keys of its own.
        let err = Registry::from_sources([("p.yaml", pubsub)]).expect_err("no google");
        assert!(err.to_string().contains("instances_of"), "{err}");
        let own_keys = pubsub.replace("config: {}", "config: {optional: [x]}");
        assert!(
            Registry::from_sources([("g.yaml", google), ("p.yaml", own_keys.as_str())]).is_err()
        );
        let chained = include_str!("../google-channel.yaml")
            .replace("instances_of: google", "instances_of: google-pubsub");
        assert!(Registry::from_sources([
            ("g.yaml", google),
            ("p.yaml", pubsub),
            ("c.yaml", chained.as_str())
        ])
        .is_err());
        let plain_http = pubsub.replace("https://www.googleapis.com", "http://www.googleapis.com");
        assert!(
            Registry::from_sources([("g.yaml", google), ("p.yaml", plain_http.as_str())]).is_err()
        );
    }

    #[test]
    fn webhook_needs_follow_queue_and_scheme() {
        use switchyard_core::config::{needs, Need};
        let registry = Registry::load().expect("registry");
        let sorted = |mut v: Vec<Need>| {
            v.sort_by_key(|n| n.var());
            v
        };
        for id in registry.webhook_ids() {
            let webhook = registry
                .get(id)
                .and_then(|d| d.webhook.as_ref())
                .expect("webhook");
            let wanted = match id {
                "google-pubsub" => vec![
                    Need::Instances,
                    Need::Deliveries,
                    Need::SyncQueue,
                    Need::PayloadBucket,
                ],
                "google-channel" => vec![
                    Need::Instances,
                    Need::Deliveries,
                    Need::SyncQueue,
                    Need::PayloadBucket,
                    Need::Watches,
                ],
                // Every signed provider: exactly what the webhook binary always needed.
                _ => needs::WEBHOOK.to_vec(),
            };
            assert_eq!(sorted(webhook.needs()), sorted(wanted), "{id}");
        }
    }

    #[test]
    fn rejects_duplicate_ids_and_unknown_fields() {
        let slack = include_str!("../slack.yaml");
        assert!(Registry::from_sources([("a.yaml", slack), ("b.yaml", slack)]).is_err());
        let extra = format!("{slack}\nsurprise: 1\n");
        assert!(Registry::from_sources([("a.yaml", extra.as_str())]).is_err());
    }
}
