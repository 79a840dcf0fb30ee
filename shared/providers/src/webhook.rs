//! The webhook section of a provider definition: how requests are signed, which handshakes the
//! provider performs, how one verified request becomes events, and what binds it to a tenant.
//!
//! ```yaml
//! webhook:
//!   dedup_ttl_secs: 14400
//!   signature: {scheme: hmac-sha256, secret_field: client_secret,
//!               signature_header: x-shopify-hmac-sha256, signed_payload: "{body}", encoding: base64}
//!   events:
//!     - id: "{header:x-shopify-webhook-id}"
//!       type: "{header:x-shopify-topic}"
//!   tenant:
//!     - {config: shop, value: "{header:x-shopify-shop-domain}"}
//! ```
//!
//! Templates (`id`, `type`, `name`, `time`, attribute and tenant values) are text with
//! placeholders, see [`super::template`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::template::{Source, Template};
use super::ConfigKeys;
use switchyard_core::config::Need;

/// How a provider's webhooks are delivered, signed and understood.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDef {
    /// How long a claimed delivery key blocks duplicates; longer than the retry horizon.
    pub dedup_ttl_secs: u64,
    pub signature: SignatureDef,
    /// Handshakes answered by the gateway itself (the provider's code answers its own).
    #[serde(default)]
    pub handshakes: Vec<HandshakeDef>,
    /// How a verified request becomes events. Empty when the provider's code interprets it.
    #[serde(default)]
    pub events: Vec<EventSource>,
    /// What the provider signs that binds a request to one tenant (shop, account, workspace).
    #[serde(default)]
    pub tenant: Vec<TenantRule>,
    /// Where accepted deliveries go: the ingress queue (events), or the sync queue
    /// (notifications that only say "something changed, pull it": Google push).
    #[serde(default)]
    pub queue: WebhookQueue,
    /// What a declared event changes in the gateway's state, by event name
    /// (`shopify.app/uninstalled: app_uninstalled`); see [`crate::Effect`].
    #[serde(default)]
    pub effects: std::collections::BTreeMap<String, DeclaredEffect>,
}

/// The effects a definition can declare: those that need nothing from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclaredEffect {
    /// [`crate::Effect::AppUninstalled`].
    AppUninstalled,
}

impl DeclaredEffect {
    pub fn effect(self) -> crate::Effect {
        match self {
            Self::AppUninstalled => crate::Effect::AppUninstalled,
        }
    }
}

/// The queue a provider's accepted deliveries are sent to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookQueue {
    /// Events, published by the ingress consumer.
    #[default]
    Ingress,
    /// Requests to sync, served by the sync worker (which queues the resulting events).
    Sync,
}

impl WebhookDef {
    /// The resources the webhook function of this provider needs: its queue, the instance
    /// secrets (KMS) and the handshake audit only where the scheme reads sealed secrets, the
    /// watches table only where the scheme checks stored channels.
    pub fn needs(&self) -> Vec<Need> {
        let mut needs = vec![Need::Instances, Need::Deliveries];
        needs.push(match self.queue {
            WebhookQueue::Ingress => Need::IngressQueue,
            WebhookQueue::Sync => Need::SyncQueue,
        });
        needs.push(Need::PayloadBucket);
        if self.signature.reads_sealed_secrets() {
            needs.extend([Need::KmsKey, Need::Audit]);
        }
        if matches!(self.signature, SignatureDef::WatchedChannel { .. }) {
            needs.push(Need::Watches);
        }
        needs
    }
}

/// A webhook signature scheme, as data.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SignatureDef {
    /// HMAC-SHA256 with a shared secret over a payload template, hex or base64, with or
    /// without a timestamp header and prefix (Slack, Shopify, Meta, Notion).
    HmacSha256 {
        secret_field: String,
        /// A second secret accepted too, for rotation (Shopify takes up to an hour to switch).
        #[serde(default)]
        previous_secret_field: Option<String>,
        signature_header: String,
        /// Without one there is no replay window: dedup on the event id is the defence.
        #[serde(default)]
        timestamp_header: Option<String>,
        signed_payload: String,
        #[serde(default)]
        prefix: String,
        encoding: Encoding,
        #[serde(default)]
        tolerance_secs: Option<u64>,
    },
    /// Ed25519 with the provider's hex public key over a payload template (Discord).
    Ed25519 {
        key_field: String,
        signature_header: String,
        timestamp_header: String,
        signed_payload: String,
        encoding: Encoding,
        tolerance_secs: u64,
    },
    /// ECDSA P-256 / SHA-256, base64 DER signature, base64 DER SubjectPublicKeyInfo key
    /// (SendGrid's Event Webhook).
    EcdsaP256 {
        key_field: String,
        signature_header: String,
        timestamp_header: String,
        signed_payload: String,
        tolerance_secs: u64,
    },
    /// Standard Webhooks v1: `whsec_` secret, `webhook-id`/`-timestamp`/`-signature` headers,
    /// HMAC-SHA256 over `{id}.{timestamp}.{body}`, several space-separated `v1,` signatures.
    StandardWebhooks {
        secret_field: String,
        tolerance_secs: u64,
    },
    /// A shared token the provider echoes in a header, compared in constant time (Google
    /// push channels).
    ChannelToken { token_field: String, header: String },
    /// An OpenID Connect ID token in `Authorization: Bearer` (Google Pub/Sub push): RS256 only,
    /// signed by a key of the JWKS at `jwks_url` (a deployment may point every such scheme at
    /// another JWKS with `SWITCHYARD_OIDC_JWKS_URL`, for a local stack), `iss` one of `issuers`,
    /// `aud` the instance's `audience_field`, `email` its `email_field` with `email_verified`,
    /// `exp` (and `iat`/`nbf` when present) within `skew_secs`.
    OidcJwt {
        jwks_url: String,
        issuers: Vec<String>,
        audience_field: String,
        email_field: String,
        skew_secs: u64,
    },
    /// A push channel the gateway opened (Google Drive and Calendar), stored in the watches
    /// table: the channel named by `channel_header` must be open, this instance's and not
    /// expired, `resource_header` must equal its stored resource id (when known) and
    /// `token_header` must hash to its token digest (constant time).
    WatchedChannel {
        channel_header: String,
        token_header: String,
        resource_header: String,
    },
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// A handshake the gateway answers from data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HandshakeDef {
    /// Meta's subscription check: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
    /// is answered with the challenge when the token equals the instance's `verify_token_field`.
    HubChallenge { verify_token_field: String },
    /// Notion's one-time unsigned `POST {"verification_token": "…"}`: the token is sealed as the
    /// instance's secret `field` (which then keys the signature) and audited.
    VerificationToken { field: String },
}

/// One kind of event a request carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSource {
    /// A JSON path whose every match is one event (`*` steps over every array element); the
    /// whole body when absent. `/*` for a body that is an array of events (SendGrid).
    #[serde(default)]
    pub each: Option<String>,
    /// The provider's stable id of the event: the dedup key.
    pub id: String,
    /// The provider's event type, e.g. `orders/create`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The PlatformEvent type; may use `{type}`. Default `<provider>.{type}`.
    #[serde(default)]
    pub name: Option<String>,
    /// When it happened: unix seconds or RFC 3339. Default: when it was received.
    #[serde(default)]
    pub time: Option<String>,
    /// Resource attributes trigger policies can match (`shop`, `email`, `phone_number_id`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Binds a request to a tenant: when the instance has config `config` set, the request's
/// `value` must be one of its (comma-separated) values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRule {
    pub config: String,
    pub value: String,
}

impl SignatureDef {
    /// The instance config fields holding key material.
    pub fn key_fields(&self) -> Vec<&str> {
        match self {
            Self::HmacSha256 {
                secret_field,
                previous_secret_field,
                ..
            } => std::iter::once(secret_field.as_str())
                .chain(previous_secret_field.as_deref())
                .collect(),
            Self::Ed25519 { key_field, .. } | Self::EcdsaP256 { key_field, .. } => {
                vec![key_field]
            }
            Self::StandardWebhooks { secret_field, .. } => vec![secret_field],
            Self::ChannelToken { token_field, .. } => vec![token_field],
            Self::OidcJwt {
                audience_field,
                email_field,
                ..
            } => vec![audience_field, email_field],
            Self::WatchedChannel { .. } => Vec::new(),
        }
    }

    /// Whether verifying needs the instance's sealed secrets (KMS): not for schemes whose key
    /// material is public (a JWKS) or stored apart (channel token digests), whose config
    /// values are plain.
    pub fn reads_sealed_secrets(&self) -> bool {
        !self.checks_fetched_material()
    }

    /// Whether verifying needs material fetched per request (a key set, a stored channel; see
    /// [`crate::verify::Verifier::lookup`]), so no fixed sample can exercise it.
    pub fn checks_fetched_material(&self) -> bool {
        matches!(self, Self::OidcJwt { .. } | Self::WatchedChannel { .. })
    }

    fn headers(&self) -> Vec<&str> {
        match self {
            Self::HmacSha256 {
                signature_header,
                timestamp_header,
                ..
            } => std::iter::once(signature_header.as_str())
                .chain(timestamp_header.as_deref())
                .collect(),
            Self::Ed25519 {
                signature_header,
                timestamp_header,
                ..
            }
            | Self::EcdsaP256 {
                signature_header,
                timestamp_header,
                ..
            } => vec![signature_header, timestamp_header],
            Self::StandardWebhooks { .. } | Self::OidcJwt { .. } => Vec::new(),
            Self::ChannelToken { header, .. } => vec![header],
            Self::WatchedChannel {
                channel_header,
                token_header,
                resource_header,
            } => vec![channel_header, token_header, resource_header],
        }
    }

    /// The payload template, e.g. `v0:{timestamp}:{body}`, where the scheme has one.
    pub fn signed_payload(&self) -> Option<&str> {
        match self {
            Self::HmacSha256 { signed_payload, .. }
            | Self::Ed25519 { signed_payload, .. }
            | Self::EcdsaP256 { signed_payload, .. } => Some(signed_payload),
            Self::StandardWebhooks { .. }
            | Self::ChannelToken { .. }
            | Self::OidcJwt { .. }
            | Self::WatchedChannel { .. } => None,
        }
    }

    fn has_timestamp(&self) -> bool {
        !matches!(
            self,
            Self::HmacSha256 {
                timestamp_header: None,
                ..
            } | Self::ChannelToken { .. }
                | Self::OidcJwt { .. }
                | Self::WatchedChannel { .. }
        )
    }
}

/// Checks a webhook section against its provider definition.
/// `config` is the config of the provider whose instances the definition serves (its own, or
/// the one it names in `instances_of`).
pub(super) fn check(config: &ConfigKeys, webhook: &WebhookDef) -> Result<(), String> {
    let sig = &webhook.signature;
    for header in sig.headers() {
        if header.is_empty() || header.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("header {header:?} must be non-empty and lowercase"));
        }
    }
    for field in sig.key_fields() {
        if !config.knows(field) {
            return Err(format!("signature key field {field:?} is not a config key"));
        }
    }
    if let SignatureDef::HmacSha256 {
        timestamp_header,
        tolerance_secs,
        ..
    } = sig
    {
        if timestamp_header.is_some() != tolerance_secs.is_some() {
            return Err("a timestamp_header needs a tolerance_secs, and only then".into());
        }
    }
    if let Some(template) = sig.signed_payload() {
        if !template.contains("{body}") {
            return Err(format!("signed_payload {template:?} must contain {{body}}"));
        }
        if template.contains("{timestamp}") && !sig.has_timestamp() {
            return Err(format!(
                "signed_payload {template:?} uses {{timestamp}} but there is no timestamp_header"
            ));
        }
        let stripped = template.replace("{timestamp}", "").replace("{body}", "");
        if stripped.contains('{') || stripped.contains('}') {
            return Err(format!(
                "signed_payload {template:?} has an unknown placeholder (known: {{timestamp}}, {{body}})"
            ));
        }
    }
    if let SignatureDef::OidcJwt {
        jwks_url, issuers, ..
    } = sig
    {
        if !jwks_url.starts_with("https://") {
            return Err(format!("jwks_url {jwks_url:?} must be https"));
        }
        if issuers.is_empty() {
            return Err("an OIDC scheme needs at least one issuer".into());
        }
    }
    if webhook.dedup_ttl_secs == 0 {
        return Err("dedup_ttl_secs must be positive".into());
    }
    for handshake in &webhook.handshakes {
        let field = match handshake {
            HandshakeDef::HubChallenge { verify_token_field } => verify_token_field,
            HandshakeDef::VerificationToken { field } => {
                if !config.is_sensitive(field) {
                    return Err(format!(
                        "verification token field {field:?} must be sensitive"
                    ));
                }
                field
            }
        };
        if !config.knows(field) {
            return Err(format!("handshake field {field:?} is not a config key"));
        }
    }
    for source in &webhook.events {
        check_source(source)?;
    }
    for rule in &webhook.tenant {
        if !config.knows(&rule.config) {
            return Err(format!(
                "tenant config {:?} is not a config key",
                rule.config
            ));
        }
        Template::parse(&rule.value, Source::Event).map_err(|e| format!("tenant value: {e}"))?;
    }
    Ok(())
}

fn check_source(source: &EventSource) -> Result<(), String> {
    if let Some(each) = &source.each {
        super::template::check_path(each).map_err(|e| format!("each: {e}"))?;
    }
    Template::parse(&source.id, Source::Event).map_err(|e| format!("id: {e}"))?;
    Template::parse(&source.event_type, Source::Event).map_err(|e| format!("type: {e}"))?;
    if let Some(name) = &source.name {
        Template::parse(name, Source::Name).map_err(|e| format!("name: {e}"))?;
    }
    if let Some(time) = &source.time {
        Template::parse(time, Source::Event).map_err(|e| format!("time: {e}"))?;
    }
    for (key, value) in &source.attributes {
        Template::parse(value, Source::Event).map_err(|e| format!("attribute {key}: {e}"))?;
    }
    Ok(())
}
