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
];

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
    pub webhook: WebhookDef,
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

    fn knows(&self, key: &str) -> bool {
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
            let def: ProviderDef =
                serde_yaml::from_str(text).map_err(|source| DefinitionError::Parse {
                    file: file.to_owned(),
                    source,
                })?;
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
    let sig = &def.webhook.signature;
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
    if def.webhook.dedup_ttl_secs == 0 {
        return Err("dedup_ttl_secs must be positive".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_load() {
        let registry = Registry::load().expect("built-in definitions are valid");
        assert_eq!(registry.ids().collect::<Vec<_>>(), ["discord", "slack"]);
        let slack = registry.get("slack").expect("slack");
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
    fn rejects_duplicate_ids_and_unknown_fields() {
        let slack = include_str!("../providers/slack.yaml");
        assert!(Registry::from_sources([("a.yaml", slack), ("b.yaml", slack)]).is_err());
        let extra = format!("{slack}\nsurprise: 1\n");
        assert!(Registry::from_sources([("a.yaml", extra.as_str())]).is_err());
    }
}
