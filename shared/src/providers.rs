//! Provider definitions as data.
//!
//! Each provider is one YAML file under `shared/providers/`: its config keys (and which are
//! sensitive), its webhook signature scheme and its dedup horizon. The files are compiled in and
//! checked once per cold start by [`Registry::load`]; adding an HMAC or Ed25519 provider is a new
//! file plus, where the provider has handshakes or its own event shapes, a small ingest module.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The definitions shipped with this build, by file name.
const BUILTIN: &[(&str, &str)] = &[
    ("slack.yaml", include_str!("../providers/slack.yaml")),
    ("discord.yaml", include_str!("../providers/discord.yaml")),
    ("google.yaml", include_str!("../providers/google.yaml")),
    ("notion.yaml", include_str!("../providers/notion.yaml")),
    ("shopify.yaml", include_str!("../providers/shopify.yaml")),
    ("tiktok.yaml", include_str!("../providers/tiktok.yaml")),
    (
        "generic-oauth2.yaml",
        include_str!("../providers/generic-oauth2.yaml"),
    ),
    ("http.yaml", include_str!("../providers/http.yaml")),
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
];
/// Config keys every provider accepts for its tools: API base URL override (fakes, regional
/// endpoints), the OAuth connection tools act through, guardrails and circuit-breaker settings.
pub const TOOL_CONFIG_KEYS: &[&str] = &[
    "api_base_url",
    "connection_id",
    "guardrails",
    "breaker_threshold",
    "breaker_window_secs",
];

/// The OAuth app's secret, always sealed.
pub const OAUTH_SECRET_KEY: &str = "client_secret";

/// Why a provider definition was rejected.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{file}: not a valid provider definition: {source}")]
    Parse {
        file: String,
        source: serde_yaml::Error,
    },
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
    /// How the provider's webhooks are signed, when it sends any.
    #[serde(default)]
    pub webhook: Option<WebhookDef>,
    /// How to connect a user's account, when the provider does OAuth.
    #[serde(default)]
    pub oauth: Option<OAuthDef>,
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

    /// Whether `key` is any config key of this provider.
    pub fn knows(&self, key: &str) -> bool {
        self.required
            .iter()
            .chain(&self.optional)
            .chain(&self.sensitive)
            .any(|k| k == key)
    }
}

/// How a provider's webhooks are delivered and signed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDef {
    /// How long a claimed delivery key blocks duplicates; longer than the retry horizon.
    pub dedup_ttl_secs: u64,
    pub signature: SignatureDef,
}

/// A webhook signature scheme, as data.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SignatureDef {
    /// HMAC-SHA256 with a shared secret over a payload template.
    HmacSha256 {
        secret_field: String,
        signature_header: String,
        timestamp_header: String,
        signed_payload: String,
        #[serde(default)]
        prefix: String,
        encoding: Encoding,
        tolerance_secs: u64,
    },
    /// Ed25519 with the provider's public key over a payload template.
    Ed25519 {
        key_field: String,
        signature_header: String,
        timestamp_header: String,
        signed_payload: String,
        encoding: Encoding,
        tolerance_secs: u64,
    },
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

impl SignatureDef {
    fn headers(&self) -> [&str; 2] {
        match self {
            Self::HmacSha256 {
                signature_header,
                timestamp_header,
                ..
            }
            | Self::Ed25519 {
                signature_header,
                timestamp_header,
                ..
            } => [signature_header, timestamp_header],
        }
    }

    fn key_field(&self) -> &str {
        match self {
            Self::HmacSha256 { secret_field, .. } => secret_field,
            Self::Ed25519 { key_field, .. } => key_field,
        }
    }

    /// The payload template, e.g. `v0:{timestamp}:{body}`.
    pub fn signed_payload(&self) -> &str {
        match self {
            Self::HmacSha256 { signed_payload, .. } | Self::Ed25519 { signed_payload, .. } => {
                signed_payload
            }
        }
    }
}

/// All provider definitions, checked.
#[derive(Debug, Clone)]
pub struct Registry {
    providers: BTreeMap<String, ProviderDef>,
}

impl Registry {
    /// Parses and checks the built-in definitions.
    pub fn load() -> Result<Self, DefinitionError> {
        Self::from_sources(BUILTIN.iter().copied())
    }

    /// Parses and checks definitions given as `(file name, YAML text)`.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, DefinitionError> {
        let mut providers = BTreeMap::new();
        for (file, text) in sources {
            let mut def: ProviderDef =
                serde_yaml::from_str(text).map_err(|source| DefinitionError::Parse {
                    file: file.to_owned(),
                    source,
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
            providers.insert(def.id.clone(), def);
        }
        Ok(Self { providers })
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
    if let Some(webhook) = &def.webhook {
        check_webhook(def, webhook)?;
    }
    if let Some(oauth) = &def.oauth {
        check_oauth(def, oauth)?;
    }
    Ok(())
}

fn check_webhook(def: &ProviderDef, webhook: &WebhookDef) -> Result<(), String> {
    let sig = &webhook.signature;
    for header in sig.headers() {
        if header.is_empty() || header.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("header {header:?} must be non-empty and lowercase"));
        }
    }
    if !def.config.knows(sig.key_field()) {
        return Err(format!(
            "signature key field {:?} is not a config key",
            sig.key_field()
        ));
    }
    let template = sig.signed_payload();
    if !template.contains("{body}") {
        return Err(format!("signed_payload {template:?} must contain {{body}}"));
    }
    let stripped = template.replace("{timestamp}", "").replace("{body}", "");
    if stripped.contains('{') || stripped.contains('}') {
        return Err(format!(
            "signed_payload {template:?} has an unknown placeholder (known: {{timestamp}}, {{body}})"
        ));
    }
    if webhook.dedup_ttl_secs == 0 {
        return Err("dedup_ttl_secs must be positive".into());
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
                "generic-oauth2",
                "google",
                "http",
                "notion",
                "shopify",
                "slack",
                "tiktok"
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
        let bad = include_str!("../providers/slack.yaml").replace("{body}", "{raw}");
        let err =
            Registry::from_sources([("bad.yaml", bad.as_str())]).expect_err("must be rejected");
        assert!(err.to_string().contains("{body}"), "{err}");

        let bad = include_str!("../providers/slack.yaml")
            .replace("secret_field: signing_secret", "secret_field: nope");
        let err =
            Registry::from_sources([("bad.yaml", bad.as_str())]).expect_err("must be rejected");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn oauth_urls_must_be_https_and_placeholders_known() {
        let google = include_str!("../providers/google.yaml");
        let http = google.replace(
            "https://oauth2.googleapis.com/token",
            "http://oauth2.googleapis.com/token",
        );
        assert!(Registry::from_sources([("g.yaml", http.as_str())]).is_err());
        let shopify = include_str!("../providers/shopify.yaml").replace(
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
    fn rejects_duplicate_ids_and_unknown_fields() {
        let slack = include_str!("../providers/slack.yaml");
        assert!(Registry::from_sources([("a.yaml", slack), ("b.yaml", slack)]).is_err());
        let extra = format!("{slack}\nsurprise: 1\n");
        assert!(Registry::from_sources([("a.yaml", extra.as_str())]).is_err());
    }
}
