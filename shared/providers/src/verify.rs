//! Webhook signature verification over the raw request bytes.
//!
//! A [`Verifier`] is built from a provider's [`SignatureDef`] and the instance's key material,
//! then checks a request's headers and raw body: timestamp inside the replay window (where the
//! scheme has one), then the signature over the payload template, compared in constant time.
//!
//! Two schemes check against material fetched per request instead: `oidc-jwt` (a key set, by
//! the token's `kid`) and `watched-channel` (the stored channel the notification names).
//! [`Verifier::lookup`] says what to fetch (refusing on its face what nothing fetched could
//! pass), the caller fetches it (asynchronously, within its deadline), and
//! [`Verifier::verify_with`] decides; without the material such a scheme never passes.

use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::jwt::{self, JwkSet, JwtError};
use crate::{Encoding, SignatureDef};
use switchyard_core::secret::SecretString;

/// Why a request's signature was rejected. Every variant maps to 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("timestamp header is not unix seconds")]
    BadTimestamp,
    #[error("timestamp outside the replay window ({skew_secs} s off)")]
    Stale { skew_secs: u64 },
    #[error("signature is not well-formed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    #[error(transparent)]
    Token(#[from] JwtError),
    #[error("unknown push channel")]
    UnknownChannel,
    #[error("push channel belongs to another instance or resource")]
    ChannelMismatch,
    #[error("push channel expired")]
    ChannelExpired,
    /// The scheme checks against fetched material (a key set, a stored channel) that was not
    /// given: never a pass.
    #[error("verification material was not fetched")]
    Unfetched,
}

/// What a scheme must have fetched before it can decide (ingress fetches it, asynchronously).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Nothing: the instance's key material is enough.
    Nothing,
    /// The key set at `url`, which should hold `kid`.
    Jwks { url: &'a str, kid: String },
    /// The stored push channel `id`.
    Channel { id: String },
}

/// A push channel as the watches table stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    pub id: String,
    pub instance_id: String,
    pub watch_id: String,
    /// Unknown until the watch call answered (a `sync` notification may come first).
    pub resource_id: Option<String>,
    pub token_sha256: [u8; 32],
    pub expires_at: u64,
}

/// What ingress fetched for [`Verifier::verify_with`].
#[derive(Debug, Clone, Copy)]
pub enum Fetched<'a> {
    Nothing,
    Jwks(&'a JwkSet),
    /// The channel read (`None`: no such channel) and the instance the request is for.
    Channel {
        channel: Option<&'a StoredChannel>,
        instance_id: &'a str,
    },
}

/// What verification established beyond "it is authentic", for the plugin (the channel's
/// `watch_id`), by name.
pub type Facts = std::collections::BTreeMap<String, String>;

/// Why key material could not make a verifier (a configuration problem, not the caller's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("instance has no {0} configured")]
    Missing(String),
    #[error("instance {0} is not a valid key")]
    Invalid(String),
}

/// Checks signatures of one instance's webhooks.
pub struct Verifier {
    scheme: Scheme,
    signature_header: String,
    /// The timestamp header and its replay window, where the scheme has one.
    timestamp: Option<(String, u64)>,
    template: Template,
}

enum Scheme {
    /// One key, or two during a rotation.
    Hmac {
        prefix: String,
        encoding: Encoding,
        keys: Vec<Hmac<Sha256>>,
    },
    Ed25519 {
        encoding: Encoding,
        key: VerifyingKey,
    },
    EcdsaP256(p256::ecdsa::VerifyingKey),
    StandardWebhooks(Hmac<Sha256>),
    ChannelToken(SecretString),
    OidcJwt {
        jwks_url: String,
        issuers: Vec<String>,
        audience: String,
        email: String,
        skew_secs: u64,
    },
    WatchedChannel {
        channel_header: String,
        resource_header: String,
    },
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Hmac { .. } => "hmac-sha256",
            Scheme::Ed25519 { .. } => "ed25519",
            Scheme::EcdsaP256(_) => "ecdsa-p256",
            Scheme::StandardWebhooks(_) => "standard-webhooks",
            Scheme::ChannelToken(_) => "channel-token",
            Scheme::OidcJwt { .. } => "oidc-jwt",
            Scheme::WatchedChannel { .. } => "watched-channel",
        };
        f.debug_struct("Verifier")
            .field("scheme", &scheme)
            .field("signature_header", &self.signature_header)
            .finish_non_exhaustive()
    }
}

const AUTHORIZATION: &str = "authorization";

fn required_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, VerifyError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| VerifyError::MissingHeader(name.to_owned()))
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, VerifyError> {
    let value = required_header(headers, AUTHORIZATION)?;
    let (scheme, token) = value.split_once(' ').ok_or(JwtError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(JwtError::Missing.into());
    }
    Ok(token.trim())
}

/// Standard Webhooks' fixed header names.
const WEBHOOK_ID: &str = "webhook-id";
const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
const WEBHOOK_SIGNATURE: &str = "webhook-signature";

fn secret<'a>(
    lookup: &impl Fn(&str) -> Option<&'a SecretString>,
    field: &str,
) -> Result<&'a SecretString, KeyError> {
    lookup(field)
        .filter(|s| !s.expose().trim().is_empty())
        .ok_or_else(|| KeyError::Missing(field.to_owned()))
}

fn hmac_key(bytes: &[u8], field: &str) -> Result<Hmac<Sha256>, KeyError> {
    Hmac::<Sha256>::new_from_slice(bytes).map_err(|_| KeyError::Invalid(field.to_owned()))
}

impl Verifier {
    /// Builds a verifier for `def` with the instance's key (`lookup` returns config values by key).
    pub fn new<'a>(
        def: &SignatureDef,
        lookup: impl Fn(&str) -> Option<&'a SecretString>,
    ) -> Result<Self, KeyError> {
        let verifier = |scheme, signature_header: &str, timestamp, template: &str| Self {
            scheme,
            signature_header: signature_header.to_owned(),
            timestamp,
            template: Template::parse(template),
        };
        Ok(match def {
            SignatureDef::HmacSha256 {
                secret_field,
                previous_secret_field,
                signature_header,
                timestamp_header,
                signed_payload,
                prefix,
                encoding,
                tolerance_secs,
            } => {
                let mut keys = vec![hmac_key(
                    secret(&lookup, secret_field)?.expose().as_bytes(),
                    secret_field,
                )?];
                if let Some(field) = previous_secret_field {
                    if let Ok(previous) = secret(&lookup, field) {
                        keys.push(hmac_key(previous.expose().as_bytes(), field)?);
                    }
                }
                let timestamp = timestamp_header
                    .clone()
                    .map(|h| (h, tolerance_secs.unwrap_or(0)));
                let scheme = Scheme::Hmac {
                    prefix: prefix.clone(),
                    encoding: *encoding,
                    keys,
                };
                verifier(scheme, signature_header, timestamp, signed_payload)
            }
            SignatureDef::Ed25519 {
                key_field,
                signature_header,
                timestamp_header,
                signed_payload,
                encoding,
                tolerance_secs,
            } => {
                let bytes: [u8; 32] = hex::decode(secret(&lookup, key_field)?.expose().trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| KeyError::Invalid(key_field.clone()))?;
                let key = VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| KeyError::Invalid(key_field.clone()))?;
                let scheme = Scheme::Ed25519 {
                    encoding: *encoding,
                    key,
                };
                let timestamp = Some((timestamp_header.clone(), *tolerance_secs));
                verifier(scheme, signature_header, timestamp, signed_payload)
            }
            SignatureDef::EcdsaP256 {
                key_field,
                signature_header,
                timestamp_header,
                signed_payload,
                tolerance_secs,
            } => {
                use p256::pkcs8::DecodePublicKey as _;
                let der = base64::engine::general_purpose::STANDARD
                    .decode(strip_pem(secret(&lookup, key_field)?.expose()))
                    .map_err(|_| KeyError::Invalid(key_field.clone()))?;
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&der)
                    .map_err(|_| KeyError::Invalid(key_field.clone()))?;
                let timestamp = Some((timestamp_header.clone(), *tolerance_secs));
                verifier(
                    Scheme::EcdsaP256(key),
                    signature_header,
                    timestamp,
                    signed_payload,
                )
            }
            SignatureDef::StandardWebhooks {
                secret_field,
                tolerance_secs,
            } => {
                let text = secret(&lookup, secret_field)?.expose().trim();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.strip_prefix("whsec_").unwrap_or(text))
                    .map_err(|_| KeyError::Invalid(secret_field.clone()))?;
                let scheme = Scheme::StandardWebhooks(hmac_key(&bytes, secret_field)?);
                let timestamp = Some((WEBHOOK_TIMESTAMP.to_owned(), *tolerance_secs));
                verifier(scheme, WEBHOOK_SIGNATURE, timestamp, "{body}")
            }
            SignatureDef::ChannelToken {
                token_field,
                header,
            } => {
                let token = secret(&lookup, token_field)?.clone();
                verifier(Scheme::ChannelToken(token), header, None, "{body}")
            }
            SignatureDef::OidcJwt {
                jwks_url,
                issuers,
                audience_field,
                email_field,
                skew_secs,
            } => {
                let scheme = Scheme::OidcJwt {
                    jwks_url: jwks_url.clone(),
                    issuers: issuers.clone(),
                    audience: secret(&lookup, audience_field)?.expose().trim().to_owned(),
                    email: secret(&lookup, email_field)?.expose().trim().to_owned(),
                    skew_secs: *skew_secs,
                };
                verifier(scheme, AUTHORIZATION, None, "{body}")
            }
            SignatureDef::WatchedChannel {
                channel_header,
                token_header,
                resource_header,
            } => {
                let scheme = Scheme::WatchedChannel {
                    channel_header: channel_header.clone(),
                    resource_header: resource_header.clone(),
                };
                verifier(scheme, token_header, None, "{body}")
            }
        })
    }

    /// What must be fetched before [`Self::verify_with`] can decide. A request that cannot
    /// pass whatever is fetched (no token, a token whose algorithm is not RS256) is refused
    /// here, so it costs no fetch.
    pub fn lookup(&self, headers: &HeaderMap) -> Result<Lookup<'_>, VerifyError> {
        match &self.scheme {
            Scheme::OidcJwt { jwks_url, .. } => {
                let token = bearer(headers)?;
                let kid = jwt::parse(token)?.kid;
                Ok(Lookup::Jwks { url: jwks_url, kid })
            }
            Scheme::WatchedChannel { channel_header, .. } => {
                let id = required_header(headers, channel_header)?;
                // Google's channel ids are at most 64 characters; nothing longer was ours.
                let plausible = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic());
                if !plausible {
                    return Err(VerifyError::UnknownChannel);
                }
                Ok(Lookup::Channel { id: id.to_owned() })
            }
            _ => Ok(Lookup::Nothing),
        }
    }

    /// Verifies a request at unix time `now` with what [`Self::lookup`] asked for.
    pub fn verify_with(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
        fetched: Fetched<'_>,
    ) -> Result<Facts, VerifyError> {
        match (&self.scheme, fetched) {
            (
                Scheme::OidcJwt {
                    issuers,
                    audience,
                    email,
                    skew_secs,
                    ..
                },
                Fetched::Jwks(keys),
            ) => {
                let token = jwt::parse(bearer(headers)?)?;
                let expected = jwt::Expected {
                    issuers,
                    audience,
                    email,
                    skew_secs: *skew_secs,
                };
                jwt::verify(&token, keys, &expected, now)?;
                Ok(Facts::new())
            }
            (
                Scheme::WatchedChannel {
                    channel_header,
                    resource_header,
                },
                Fetched::Channel {
                    channel,
                    instance_id,
                },
            ) => {
                let id = required_header(headers, channel_header)?;
                let token = required_header(headers, &self.signature_header)?;
                let channel = channel
                    .filter(|c| c.id == id)
                    .ok_or(VerifyError::UnknownChannel)?;
                // The token first, so the other answers tell nothing to whom lacks it.
                let digest: [u8; 32] = <Sha256 as sha2::Digest>::digest(token.as_bytes()).into();
                if !bool::from(digest.ct_eq(&channel.token_sha256)) {
                    return Err(VerifyError::Mismatch);
                }
                if channel.instance_id != instance_id {
                    return Err(VerifyError::ChannelMismatch);
                }
                if let Some(stored) = &channel.resource_id {
                    if headers
                        .get(resource_header.as_str())
                        .and_then(|v| v.to_str().ok())
                        != Some(stored.as_str())
                    {
                        return Err(VerifyError::ChannelMismatch);
                    }
                }
                if now >= channel.expires_at {
                    return Err(VerifyError::ChannelExpired);
                }
                Ok(Facts::from([(
                    "watch_id".to_owned(),
                    channel.watch_id.clone(),
                )]))
            }
            (Scheme::OidcJwt { .. } | Scheme::WatchedChannel { .. }, _) => {
                Err(VerifyError::Unfetched)
            }
            (_, _) => self
                .verify_signature(headers, body, now)
                .map(|()| Facts::new()),
        }
    }

    /// The (lowercase) signature header this verifier reads.
    pub fn signature_header(&self) -> &str {
        &self.signature_header
    }

    /// Verifies a request at unix time `now`. The timestamp is checked first (cheap), then the
    /// signature over the raw body; a timestamp exactly `tolerance` seconds off is accepted.
    /// A scheme that needs fetched material ([`Self::lookup`]) always fails here.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: u64) -> Result<(), VerifyError> {
        self.verify_with(headers, body, now, Fetched::Nothing)
            .map(|_| ())
    }

    fn verify_signature(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| VerifyError::MissingHeader(name.to_owned()))
        };
        let timestamp = match &self.timestamp {
            Some((name, tolerance)) => {
                let text = header(name)?;
                let sent: u64 = text.parse().map_err(|_| VerifyError::BadTimestamp)?;
                let skew_secs = now.abs_diff(sent);
                if skew_secs > *tolerance {
                    return Err(VerifyError::Stale { skew_secs });
                }
                text
            }
            None => "",
        };
        let signature = header(&self.signature_header)?;
        match &self.scheme {
            Scheme::Hmac {
                prefix,
                encoding,
                keys,
            } => {
                let encoded = signature
                    .strip_prefix(prefix.as_str())
                    .ok_or(VerifyError::Malformed)?;
                let claimed = decode(*encoding, encoded)?;
                let mut matched = false;
                for key in keys {
                    let mut mac = key.clone();
                    self.template.feed(timestamp, body, |part| mac.update(part));
                    matched |= bool::from(mac.finalize().into_bytes().as_slice().ct_eq(&claimed));
                }
                matched.then_some(()).ok_or(VerifyError::Mismatch)
            }
            Scheme::Ed25519 { encoding, key } => {
                let bytes: [u8; 64] = decode(*encoding, signature)?
                    .try_into()
                    .map_err(|_| VerifyError::Malformed)?;
                let signature = Signature::from_bytes(&bytes);
                // verify_strict rejects small-order keys and malleable signatures.
                key.verify_strict(&self.message(timestamp, body), &signature)
                    .map_err(|_| VerifyError::Mismatch)
            }
            Scheme::EcdsaP256(key) => {
                use p256::ecdsa::signature::Verifier as _;
                let der = decode(Encoding::Base64, signature)?;
                let signature =
                    p256::ecdsa::Signature::from_der(&der).map_err(|_| VerifyError::Malformed)?;
                key.verify(&self.message(timestamp, body), &signature)
                    .map_err(|_| VerifyError::Mismatch)
            }
            Scheme::StandardWebhooks(key) => {
                let id = header(WEBHOOK_ID)?;
                let mut mac = key.clone();
                for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
                    mac.update(part);
                }
                let expected = mac.finalize().into_bytes();
                let mut matched = false;
                let mut well_formed = false;
                // Several signatures during a key rotation; `v1a` (asymmetric) ones are skipped.
                for candidate in signature.split(' ') {
                    let Some(encoded) = candidate.strip_prefix("v1,") else {
                        continue;
                    };
                    let Ok(claimed) = decode(Encoding::Base64, encoded) else {
                        continue;
                    };
                    well_formed = true;
                    matched |= bool::from(expected.as_slice().ct_eq(&claimed));
                }
                match (matched, well_formed) {
                    (true, _) => Ok(()),
                    (false, true) => Err(VerifyError::Mismatch),
                    (false, false) => Err(VerifyError::Malformed),
                }
            }
            Scheme::ChannelToken(token) => {
                if signature.as_bytes().ct_eq(token.expose().as_bytes()).into() {
                    Ok(())
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
            Scheme::OidcJwt { .. } | Scheme::WatchedChannel { .. } => Err(VerifyError::Unfetched),
        }
    }

    fn message(&self, timestamp: &str, body: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(timestamp.len() + body.len() + 8);
        self.template
            .feed(timestamp, body, |part| message.extend_from_slice(part));
        message
    }
}

/// A base64 key, with or without PEM armour.
fn strip_pem(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect()
}

fn decode(encoding: Encoding, text: &str) -> Result<Vec<u8>, VerifyError> {
    match encoding {
        Encoding::Hex => hex::decode(text).map_err(|_| VerifyError::Malformed),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| VerifyError::Malformed),
    }
}

/// A parsed `signed_payload` template: literal text, `{timestamp}` and `{body}` pieces.
#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Timestamp,
    Body,
}

#[derive(Debug, Clone)]
struct Template(Vec<Piece>);

impl Template {
    fn parse(text: &str) -> Self {
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = [("{timestamp}", Piece::Timestamp), ("{body}", Piece::Body)]
                .into_iter()
                .filter_map(|(tag, piece)| rest.find(tag).map(|at| (at, tag.len(), piece)))
                .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, len, piece)) => {
                    if at > 0 {
                        pieces.push(Piece::Literal(rest[..at].to_owned()));
                    }
                    pieces.push(piece);
                    rest = &rest[at + len..];
                }
                None => {
                    pieces.push(Piece::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        Self(pieces)
    }

    fn feed(&self, timestamp: &str, body: &[u8], mut sink: impl FnMut(&[u8])) {
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => sink(text.as_bytes()),
                Piece::Timestamp => sink(timestamp.as_bytes()),
                Piece::Body => sink(body),
            }
        }
    }
}

/// Signs like the provider does; for tests, sample events and the CLI's `sign` command.
pub mod sign {
    use ed25519_dalek::{Signer, SigningKey};
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// Slack v0: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
    pub fn slack(secret: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Discord: hex Ed25519 signature of `{timestamp}{body}` with a 32-byte seed.
    pub fn discord(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
        let key = SigningKey::from_bytes(seed);
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(key.sign(&message).to_bytes())
    }

    /// The hex public key of a 32-byte seed.
    pub fn discord_public_key(seed: &[u8; 32]) -> String {
        hex::encode(SigningKey::from_bytes(seed).verifying_key().to_bytes())
    }

    /// HMAC-SHA256 of `body` as lowercase hex (Notion and Meta prefix it with `sha256=`).
    pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
        hex::encode(hmac(secret.as_bytes(), &[body]))
    }

    /// HMAC-SHA256 of `body` as standard base64 (Shopify).
    pub fn hmac_base64(secret: &str, body: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(hmac(secret.as_bytes(), &[body]))
    }

    /// Standard Webhooks: `v1,` + base64 HMAC of `{id}.{timestamp}.{body}` with a `whsec_` secret.
    pub fn standard_webhooks(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let key = engine
            .decode(secret.trim_start_matches("whsec_"))
            .unwrap_or_default();
        let mac = hmac(
            &key,
            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        );
        format!("v1,{}", engine.encode(mac))
    }

    /// SendGrid: base64 DER ECDSA P-256 signature of `{timestamp}{body}` with a 32-byte scalar.
    pub fn ecdsa_p256(scalar: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
        use base64::Engine as _;
        use p256::ecdsa::signature::Signer as _;
        let key = p256::ecdsa::SigningKey::from_slice(scalar).expect("a valid P-256 scalar");
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        let signature: p256::ecdsa::Signature = key.sign(&message);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    /// The base64 DER SubjectPublicKeyInfo of a 32-byte P-256 scalar (SendGrid's key format).
    pub fn ecdsa_p256_public_key(scalar: &[u8; 32]) -> String {
        use base64::Engine as _;
        // SubjectPublicKeyInfo for id-ecPublicKey / prime256v1, then the uncompressed point.
        const SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
        let key = p256::ecdsa::SigningKey::from_slice(scalar).expect("a valid P-256 scalar");
        let mut der = hex::decode(SPKI_PREFIX).expect("hex");
        der.extend_from_slice(key.verifying_key().to_encoded_point(false).as_bytes());
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    // Official example: https://docs.slack.dev/authentication/verifying-requests-from-slack/,
    // reused in python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    // RFC 8032 section 7.1, TEST 1 secret key; its public key follows.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn verifier(provider: &str, values: &[(&str, &str)]) -> Result<Verifier, KeyError> {
        let registry = Registry::load().expect("registry");
        let values: Vec<(String, SecretString)> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretString::from(*v)))
            .collect();
        let signature = &registry
            .get(provider)
            .expect("provider")
            .webhook
            .as_ref()
            .expect("webhook")
            .signature;
        Verifier::new(signature, |key| {
            values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        map
    }

    fn slack() -> Verifier {
        verifier("slack", &[("signing_secret", SLACK_SECRET)]).expect("verifier")
    }

    fn slack_req(sig: &str, ts: &str) -> HeaderMap {
        headers(&[
            ("x-slack-signature", sig),
            ("x-slack-request-timestamp", ts),
        ])
    }

    fn discord_req(sig: &str, ts: &str) -> HeaderMap {
        headers(&[("x-signature-ed25519", sig), ("x-signature-timestamp", ts)])
    }

    #[test]
    fn slack_official_example_verifies() {
        let now = SLACK_TS.parse().expect("ts");
        let h = slack_req(SLACK_SIG, SLACK_TS);
        assert_eq!(slack().verify(&h, SLACK_BODY.as_bytes(), now), Ok(()));
        assert_eq!(
            sign::slack(SLACK_SECRET, SLACK_TS, SLACK_BODY.as_bytes()),
            SLACK_SIG
        );
    }

    #[test]
    fn slack_rejects_changed_body_signature_and_prefix() {
        let now = SLACK_TS.parse().expect("ts");
        let v = slack();
        let body = SLACK_BODY.as_bytes();
        let changed = format!("{SLACK_BODY}------");
        let h = slack_req(SLACK_SIG, SLACK_TS);
        assert_eq!(
            v.verify(&h, changed.as_bytes(), now),
            Err(VerifyError::Mismatch)
        );
        let flipped = SLACK_SIG.replace("a2114d", "a2114e");
        assert_eq!(
            v.verify(&slack_req(&flipped, SLACK_TS), body, now),
            Err(VerifyError::Mismatch)
        );
        let no_prefix = SLACK_SIG.trim_start_matches("v0=");
        assert_eq!(
            v.verify(&slack_req(no_prefix, SLACK_TS), body, now),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            v.verify(&slack_req("v0=zz", SLACK_TS), body, now),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn slack_window_is_300_seconds_inclusive_both_ways() {
        let ts: u64 = SLACK_TS.parse().expect("ts");
        let v = slack();
        let h = slack_req(SLACK_SIG, SLACK_TS);
        let body = SLACK_BODY.as_bytes();
        assert_eq!(v.verify(&h, body, ts + 300), Ok(()));
        assert_eq!(v.verify(&h, body, ts - 300), Ok(()));
        assert_eq!(
            v.verify(&h, body, ts + 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            v.verify(&h, body, ts - 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
    }

    #[test]
    fn missing_or_garbage_headers_are_rejected() {
        let v = slack();
        let now = SLACK_TS.parse().expect("ts");
        let body = SLACK_BODY.as_bytes();
        let no_sig = headers(&[("x-slack-request-timestamp", SLACK_TS)]);
        assert_eq!(
            v.verify(&no_sig, body, now),
            Err(VerifyError::MissingHeader("x-slack-signature".into()))
        );
        let no_ts = headers(&[("x-slack-signature", SLACK_SIG)]);
        assert_eq!(
            v.verify(&no_ts, body, now),
            Err(VerifyError::MissingHeader(
                "x-slack-request-timestamp".into()
            ))
        );
        assert_eq!(
            v.verify(&slack_req(SLACK_SIG, "-1"), body, now),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            v.verify(&slack_req(SLACK_SIG, "1e9"), body, now),
            Err(VerifyError::BadTimestamp)
        );
    }

    #[test]
    fn empty_secret_is_a_key_error() {
        let err = verifier("slack", &[("signing_secret", "  ")]).expect_err("must be rejected");
        assert_eq!(err, KeyError::Missing("signing_secret".into()));
    }

    #[test]
    fn rfc8032_public_key_matches_seed() {
        let seed: [u8; 32] = hex::decode(RFC8032_SEED)
            .expect("hex")
            .try_into()
            .expect("32");
        assert_eq!(sign::discord_public_key(&seed), RFC8032_PUBLIC);
    }

    #[test]
    fn rfc8032_test1_empty_message_signature_verifies() {
        // TEST 1: the empty message; Discord's template with an empty timestamp and body.
        let sig = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        let key = VerifyingKey::from_bytes(
            &hex::decode(RFC8032_PUBLIC)
                .expect("hex")
                .try_into()
                .expect("32"),
        )
        .expect("key");
        let sig = Signature::from_bytes(&hex::decode(sig).expect("hex").try_into().expect("64"));
        assert!(key.verify_strict(b"", &sig).is_ok());
    }

    #[test]
    fn discord_signature_over_timestamp_and_body() {
        let seed: [u8; 32] = hex::decode(RFC8032_SEED)
            .expect("hex")
            .try_into()
            .expect("32");
        let body = br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
        let ts = "1700000000";
        let sig = sign::discord(&seed, ts, body);
        let v = verifier("discord", &[("public_key", RFC8032_PUBLIC)]).expect("verifier");
        let h = discord_req(&sig, ts);
        assert_eq!(v.verify(&h, body, 1_700_000_000), Ok(()));
        assert_eq!(v.verify(&h, body, 1_700_000_300), Ok(()));
        assert_eq!(
            v.verify(&h, body, 1_700_000_301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        // The timestamp is part of the signed message: a replay with a fresh timestamp fails.
        assert_eq!(
            v.verify(&discord_req(&sig, "1700000001"), body, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        let mut tampered = body.to_vec();
        tampered[9] = b'2';
        assert_eq!(
            v.verify(&h, &tampered, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(&discord_req(&sig[..126], ts), body, 1_700_000_000),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn shopify_sdk_vector_and_rotation() {
        // Shopify/shopify-app-js, packages/apps/shopify-api (webhook validation tests):
        // secret `test_secret_key`, body `{"foo": "bar"}`.
        let body = br#"{"foo": "bar"}"#;
        let expected = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";
        assert_eq!(sign::hmac_base64("test_secret_key", body), expected);
        let h = headers(&[("x-shopify-hmac-sha256", expected)]);
        let v = verifier("shopify", &[("client_secret", "test_secret_key")]).expect("verifier");
        assert_eq!(v.verify(&h, body, 0), Ok(()));
        assert_eq!(
            v.verify(&h, br#"{"foo": "baz"}"#, 0),
            Err(VerifyError::Mismatch)
        );
        // During a rotation either secret verifies.
        let rotating = verifier(
            "shopify",
            &[
                ("client_secret", "new"),
                ("client_secret_previous", "test_secret_key"),
            ],
        )
        .expect("verifier");
        assert_eq!(rotating.verify(&h, body, 0), Ok(()));
        let new_only = verifier("shopify", &[("client_secret", "new")]).expect("verifier");
        assert_eq!(new_only.verify(&h, body, 0), Err(VerifyError::Mismatch));
    }

    #[test]
    fn notion_documented_example() {
        // https://developers.notion.com/reference/webhooks: the verification request's own
        // signature with its token.
        let token = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
        let body = format!(r#"{{"verification_token":"{token}"}}"#);
        let sig = "sha256=461e8cbcba8a75c3edd866f0e71280f5a85cbf21eff040ebd10fe266df38a735";
        let v = verifier("notion", &[("verification_token", token)]).expect("verifier");
        let h = headers(&[("x-notion-signature", sig)]);
        assert_eq!(v.verify(&h, body.as_bytes(), 0), Ok(()));
        assert_eq!(
            v.verify(&h, body.replace("secret_", "secret-").as_bytes(), 0),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(&headers(&[]), body.as_bytes(), 0),
            Err(VerifyError::MissingHeader("x-notion-signature".into()))
        );
    }

    #[test]
    fn meta_signs_the_escaped_bytes_as_received() {
        let secret = "meta-app-secret";
        // Meta escapes non-ASCII as \u00e4: verification is over those bytes, not the decoded text.
        let body = br#"{"text":"\u00e4\u00f6\u00e5"}"#;
        let sig = format!("sha256={}", sign::hmac_hex(secret, body));
        let v = verifier("whatsapp", &[("app_secret", secret), ("verify_token", "t")])
            .expect("verifier");
        let h = headers(&[("x-hub-signature-256", &sig)]);
        assert_eq!(v.verify(&h, body, 0), Ok(()));
        assert_eq!(
            v.verify(&h, r#"{"text":"äöå"}"#.as_bytes(), 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn sendgrid_sdk_vector() {
        // sendgrid/sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js.
        let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
        let sig = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
        let ts = "1588788367";
        let body =
            br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
        let v = verifier("sendgrid", &[("verification_key", key)]).expect("verifier");
        let req = |sig: &str, ts: &str| {
            headers(&[
                ("x-twilio-email-event-webhook-signature", sig),
                ("x-twilio-email-event-webhook-timestamp", ts),
            ])
        };
        assert_eq!(v.verify(&req(sig, ts), body, 1_588_788_367), Ok(()));
        assert_eq!(
            v.verify(&req(sig, ts), b"payload", 1_588_788_367),
            Err(VerifyError::Mismatch)
        );
        let bad = sig.replace("NH2j/0=", "NH3j/0=");
        assert!(v.verify(&req(&bad, ts), body, 1_588_788_367).is_err());
        assert_eq!(
            v.verify(&req(sig, "timestamp"), body, 1_588_788_367),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            v.verify(&req(sig, ts), body, 1_588_788_367 + 601),
            Err(VerifyError::Stale { skew_secs: 601 })
        );
        // The SDK's "invalid key" case.
        let other = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
        let v = verifier("sendgrid", &[("verification_key", other)]).expect("verifier");
        assert_eq!(
            v.verify(&req(sig, ts), body, 1_588_788_367),
            Err(VerifyError::Mismatch)
        );
        assert!(verifier("sendgrid", &[("verification_key", "not base64!")]).is_err());
    }

    #[test]
    fn sendgrid_signing_helper_round_trips() {
        let scalar = [7u8; 32];
        let key = sign::ecdsa_p256_public_key(&scalar);
        let sig = sign::ecdsa_p256(&scalar, "1767225600", b"[]");
        let v = verifier("sendgrid", &[("verification_key", &key)]).expect("verifier");
        let h = headers(&[
            ("x-twilio-email-event-webhook-signature", &sig),
            ("x-twilio-email-event-webhook-timestamp", "1767225600"),
        ]);
        assert_eq!(v.verify(&h, b"[]", 1_767_225_600), Ok(()));
    }

    #[test]
    fn standard_webhooks_official_vector() {
        // standard-webhooks/standard-webhooks libraries/javascript/src/webhook.test.ts.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = "1614265330";
        let body = br#"{"test": 2432232314}"#;
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(sign::standard_webhooks(secret, id, ts, body), expected);
        let v = verifier("standard-webhooks", &[("signing_secret", secret)]).expect("verifier");
        let req = |sig: &str, id: &str| {
            headers(&[
                ("webhook-id", id),
                ("webhook-timestamp", ts),
                ("webhook-signature", sig),
            ])
        };
        let now = 1_614_265_330;
        assert_eq!(v.verify(&req(expected, id), body, now), Ok(()));
        // Several signatures (rotation): any match verifies; v1a ones are skipped.
        let several = format!("v1a,AAAA v1,Zm9v {expected}");
        assert_eq!(v.verify(&req(&several, id), body, now), Ok(()));
        assert_eq!(
            v.verify(&req("v1,Zm9v", id), body, now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(&req("v2,abc", id), body, now),
            Err(VerifyError::Malformed)
        );
        // The id is signed: another id does not verify.
        assert_eq!(
            v.verify(&req(expected, "msg_other"), body, now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(&req(expected, id), body, now + 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            v.verify(&req(expected, id), body, now - 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
    }

    fn stored_channel(expires_at: u64) -> StoredChannel {
        StoredChannel {
            id: "ch-1".into(),
            instance_id: "inst-1".into(),
            watch_id: "wch_1".into(),
            resource_id: Some("res-1".into()),
            token_sha256: <Sha256 as sha2::Digest>::digest(b"tok-1").into(),
            expires_at,
        }
    }

    #[test]
    fn a_watched_channel_is_checked_against_the_stored_one() {
        let v = verifier("google-channel", &[]).expect("no key material needed");
        let req = |channel: &str, resource: &str, token: &str| {
            headers(&[
                ("x-goog-channel-id", channel),
                ("x-goog-resource-id", resource),
                ("x-goog-channel-token", token),
            ])
        };
        let good = req("ch-1", "res-1", "tok-1");
        assert_eq!(v.lookup(&good), Ok(Lookup::Channel { id: "ch-1".into() }));
        let stored = stored_channel(1000);
        let check = |h: &HeaderMap, channel: Option<&StoredChannel>, instance_id: &str, now| {
            v.verify_with(
                h,
                b"",
                now,
                Fetched::Channel {
                    channel,
                    instance_id,
                },
            )
        };
        let facts = check(&good, Some(&stored), "inst-1", 999).expect("verified");
        assert_eq!(facts.get("watch_id").map(String::as_str), Some("wch_1"));
        assert_eq!(
            check(&req("ch-1", "res-1", "tok-2"), Some(&stored), "inst-1", 999),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&good, None, "inst-1", 999),
            Err(VerifyError::UnknownChannel)
        );
        assert_eq!(
            check(&good, Some(&stored), "inst-2", 999),
            Err(VerifyError::ChannelMismatch)
        );
        assert_eq!(
            check(&req("ch-1", "res-2", "tok-1"), Some(&stored), "inst-1", 999),
            Err(VerifyError::ChannelMismatch)
        );
        assert_eq!(
            check(&good, Some(&stored), "inst-1", 1000),
            Err(VerifyError::ChannelExpired)
        );
        // A channel stored for another id (a confused caller) is not this one.
        assert_eq!(
            check(&req("ch-9", "res-1", "tok-1"), Some(&stored), "inst-1", 999),
            Err(VerifyError::UnknownChannel)
        );
        // Resource id not known yet (the watch call has not answered): the token decides.
        let early = StoredChannel {
            resource_id: None,
            ..stored
        };
        assert!(check(
            &req("ch-1", "anything", "tok-1"),
            Some(&early),
            "inst-1",
            999
        )
        .is_ok());
        // Without fetched material the scheme never passes.
        assert_eq!(v.verify(&good, b"", 999), Err(VerifyError::Unfetched));
        assert_eq!(
            v.lookup(&req(&"c".repeat(65), "res-1", "tok-1")),
            Err(VerifyError::UnknownChannel)
        );
        assert_eq!(
            v.lookup(&headers(&[])),
            Err(VerifyError::MissingHeader("x-goog-channel-id".into()))
        );
    }

    #[test]
    fn an_oidc_verifier_needs_its_audience_and_account_and_a_bearer_token() {
        assert_eq!(
            verifier("google-pubsub", &[("push_audience", "https://a")]).expect_err("no account"),
            KeyError::Missing("push_service_account".into())
        );
        let v = verifier(
            "google-pubsub",
            &[
                ("push_audience", "https://a"),
                ("push_service_account", "p@x"),
            ],
        )
        .expect("verifier");
        assert_eq!(
            v.lookup(&headers(&[])),
            Err(VerifyError::MissingHeader("authorization".into()))
        );
        assert_eq!(
            v.lookup(&headers(&[("authorization", "Basic dXNlcjpwYXNz")])),
            Err(VerifyError::Token(JwtError::Missing))
        );
        let none = jwt::sign::with_header(
            &serde_json::json!({"alg": "none", "kid": "k"}),
            &serde_json::json!({}),
            b"",
        );
        assert_eq!(
            v.lookup(&headers(&[("authorization", &format!("Bearer {none}"))])),
            Err(VerifyError::Token(JwtError::Algorithm("none".into()))),
            "refused before any key set is fetched"
        );
        let rs = jwt::sign::with_header(
            &serde_json::json!({"alg": "RS256", "kid": "k7"}),
            &serde_json::json!({}),
            b"sig",
        );
        let h = headers(&[("authorization", &format!("bearer {rs}"))]);
        assert_eq!(
            v.lookup(&h),
            Ok(Lookup::Jwks {
                url: "https://www.googleapis.com/oauth2/v3/certs",
                kid: "k7".into()
            })
        );
        assert_eq!(v.verify(&h, b"", 0), Err(VerifyError::Unfetched));
        assert_eq!(
            v.verify_with(&h, b"", 0, Fetched::Jwks(&JwkSet::default())),
            Err(VerifyError::Token(JwtError::UnknownKey))
        );
    }

    #[test]
    fn template_parses_literals_and_placeholders() {
        let t = Template::parse("v0:{timestamp}:{body}");
        let mut out = Vec::new();
        t.feed("12", b"xy", |p| out.extend_from_slice(p));
        assert_eq!(out, b"v0:12:xy");
        let t = Template::parse("{timestamp}{body}");
        let mut out = Vec::new();
        t.feed("12", b"xy", |p| out.extend_from_slice(p));
        assert_eq!(out, b"12xy");
    }
}
