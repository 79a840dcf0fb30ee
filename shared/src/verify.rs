//! Webhook signature verification over the raw request bytes.
//!
//! A [`Verifier`] is built from a provider's [`SignatureDef`] and the instance's key material,
//! then checks a request's headers and raw body: timestamp inside the replay window, then the
//! signature over the payload template, compared in constant time.

use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::providers::{Encoding, SignatureDef};
use crate::secret::SecretString;

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
}

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
    timestamp_header: String,
    template: Template,
    encoding: Encoding,
    tolerance_secs: u64,
}

enum Scheme {
    Hmac { prefix: String, key: Hmac<Sha256> },
    Ed25519(VerifyingKey),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Hmac { .. } => "hmac-sha256",
            Scheme::Ed25519(_) => "ed25519",
        };
        f.debug_struct("Verifier")
            .field("scheme", &scheme)
            .field("signature_header", &self.signature_header)
            .finish_non_exhaustive()
    }
}

/// The parts of a request a verifier reads.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub signature: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub body: &'a [u8],
}

impl Verifier {
    /// Builds a verifier for `def` with the instance's key (`lookup` returns config values by key).
    pub fn new<'a>(
        def: &SignatureDef,
        lookup: impl Fn(&str) -> Option<&'a SecretString>,
    ) -> Result<Self, KeyError> {
        match def {
            SignatureDef::HmacSha256 {
                secret_field,
                signature_header,
                timestamp_header,
                signed_payload,
                prefix,
                encoding,
                tolerance_secs,
            } => {
                let secret = lookup(secret_field)
                    .filter(|s| !s.expose().trim().is_empty())
                    .ok_or_else(|| KeyError::Missing(secret_field.clone()))?;
                let key = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                    .map_err(|_| KeyError::Invalid(secret_field.clone()))?;
                Ok(Self {
                    scheme: Scheme::Hmac {
                        prefix: prefix.clone(),
                        key,
                    },
                    signature_header: signature_header.clone(),
                    timestamp_header: timestamp_header.clone(),
                    template: Template::parse(signed_payload),
                    encoding: *encoding,
                    tolerance_secs: *tolerance_secs,
                })
            }
            SignatureDef::Ed25519 {
                key_field,
                signature_header,
                timestamp_header,
                signed_payload,
                encoding,
                tolerance_secs,
            } => {
                let hex_key =
                    lookup(key_field).ok_or_else(|| KeyError::Missing(key_field.clone()))?;
                let bytes: [u8; 32] = hex::decode(hex_key.expose().trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| KeyError::Invalid(key_field.clone()))?;
                let key = VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| KeyError::Invalid(key_field.clone()))?;
                Ok(Self {
                    scheme: Scheme::Ed25519(key),
                    signature_header: signature_header.clone(),
                    timestamp_header: timestamp_header.clone(),
                    template: Template::parse(signed_payload),
                    encoding: *encoding,
                    tolerance_secs: *tolerance_secs,
                })
            }
        }
    }

    /// The (lowercase) header names this verifier reads: signature, then timestamp.
    pub fn header_names(&self) -> (&str, &str) {
        (&self.signature_header, &self.timestamp_header)
    }

    /// Verifies `req` at unix time `now`. The timestamp is checked first (cheap), then the
    /// signature over the raw body; a timestamp exactly `tolerance` seconds off is accepted.
    pub fn verify(&self, req: SignedRequest<'_>, now: u64) -> Result<(), VerifyError> {
        let timestamp = req
            .timestamp
            .ok_or_else(|| VerifyError::MissingHeader(self.timestamp_header.clone()))?;
        let signature = req
            .signature
            .ok_or_else(|| VerifyError::MissingHeader(self.signature_header.clone()))?;
        let sent: u64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
        let skew_secs = now.abs_diff(sent);
        if skew_secs > self.tolerance_secs {
            return Err(VerifyError::Stale { skew_secs });
        }
        match &self.scheme {
            Scheme::Hmac { prefix, key } => {
                let encoded = signature
                    .strip_prefix(prefix.as_str())
                    .ok_or(VerifyError::Malformed)?;
                let claimed = self.decode(encoded)?;
                let mut mac = key.clone();
                self.template
                    .feed(timestamp, req.body, |part| mac.update(part));
                let expected = mac.finalize().into_bytes();
                if expected.as_slice().ct_eq(&claimed).into() {
                    Ok(())
                } else {
                    Err(VerifyError::Mismatch)
                }
            }
            Scheme::Ed25519(key) => {
                let bytes: [u8; 64] = self
                    .decode(signature)?
                    .try_into()
                    .map_err(|_| VerifyError::Malformed)?;
                let signature = Signature::from_bytes(&bytes);
                let mut message = Vec::with_capacity(timestamp.len() + req.body.len() + 8);
                self.template
                    .feed(timestamp, req.body, |part| message.extend_from_slice(part));
                // verify_strict rejects small-order keys and malleable signatures.
                key.verify_strict(&message, &signature)
                    .map_err(|_| VerifyError::Mismatch)
            }
        }
    }

    fn decode(&self, text: &str) -> Result<Vec<u8>, VerifyError> {
        use base64::Engine as _;
        match self.encoding {
            Encoding::Hex => hex::decode(text).map_err(|_| VerifyError::Malformed),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| VerifyError::Malformed),
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Registry;

    // Official example: https://docs.slack.dev/authentication/verifying-requests-from-slack/,
    // reused in python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    // RFC 8032 section 7.1, TEST 1 secret key; its public key follows.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn slack() -> Verifier {
        let registry = Registry::load().expect("registry");
        let secret = SecretString::from(SLACK_SECRET);
        Verifier::new(
            &registry
                .get("slack")
                .expect("slack")
                .webhook
                .as_ref()
                .expect("webhook")
                .signature,
            |_| Some(&secret),
        )
        .expect("verifier")
    }

    fn discord() -> Verifier {
        let registry = Registry::load().expect("registry");
        let key = SecretString::from(RFC8032_PUBLIC);
        Verifier::new(
            &registry
                .get("discord")
                .expect("discord")
                .webhook
                .as_ref()
                .expect("webhook")
                .signature,
            |_| Some(&key),
        )
        .expect("verifier")
    }

    fn req<'a>(sig: &'a str, ts: &'a str, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest {
            signature: Some(sig),
            timestamp: Some(ts),
            body,
        }
    }

    #[test]
    fn slack_official_example_verifies() {
        let now = SLACK_TS.parse().expect("ts");
        assert_eq!(
            slack().verify(req(SLACK_SIG, SLACK_TS, SLACK_BODY.as_bytes()), now),
            Ok(())
        );
        assert_eq!(
            sign::slack(SLACK_SECRET, SLACK_TS, SLACK_BODY.as_bytes()),
            SLACK_SIG
        );
    }

    #[test]
    fn slack_rejects_changed_body_signature_and_prefix() {
        let now = SLACK_TS.parse().expect("ts");
        let v = slack();
        let changed = format!("{SLACK_BODY}------");
        assert_eq!(
            v.verify(req(SLACK_SIG, SLACK_TS, changed.as_bytes()), now),
            Err(VerifyError::Mismatch)
        );
        let flipped = SLACK_SIG.replace("a2114d", "a2114e");
        assert_eq!(
            v.verify(req(&flipped, SLACK_TS, SLACK_BODY.as_bytes()), now),
            Err(VerifyError::Mismatch)
        );
        let no_prefix = SLACK_SIG.trim_start_matches("v0=");
        assert_eq!(
            v.verify(req(no_prefix, SLACK_TS, SLACK_BODY.as_bytes()), now),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            v.verify(req("v0=zz", SLACK_TS, SLACK_BODY.as_bytes()), now),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn slack_window_is_300_seconds_inclusive_both_ways() {
        let ts: u64 = SLACK_TS.parse().expect("ts");
        let v = slack();
        let r = req(SLACK_SIG, SLACK_TS, SLACK_BODY.as_bytes());
        assert_eq!(v.verify(r, ts + 300), Ok(()));
        assert_eq!(v.verify(r, ts - 300), Ok(()));
        assert_eq!(
            v.verify(r, ts + 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            v.verify(r, ts - 301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
    }

    #[test]
    fn missing_or_garbage_headers_are_rejected() {
        let v = slack();
        let now = SLACK_TS.parse().expect("ts");
        let body = SLACK_BODY.as_bytes();
        let no_sig = SignedRequest {
            signature: None,
            timestamp: Some(SLACK_TS),
            body,
        };
        assert_eq!(
            v.verify(no_sig, now),
            Err(VerifyError::MissingHeader("x-slack-signature".into()))
        );
        let no_ts = SignedRequest {
            signature: Some(SLACK_SIG),
            timestamp: None,
            body,
        };
        assert_eq!(
            v.verify(no_ts, now),
            Err(VerifyError::MissingHeader(
                "x-slack-request-timestamp".into()
            ))
        );
        assert_eq!(
            v.verify(req(SLACK_SIG, "-1", body), now),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            v.verify(req(SLACK_SIG, "1e9", body), now),
            Err(VerifyError::BadTimestamp)
        );
    }

    #[test]
    fn empty_secret_is_a_key_error() {
        let registry = Registry::load().expect("registry");
        let blank = SecretString::from("  ");
        let err = Verifier::new(
            &registry
                .get("slack")
                .expect("slack")
                .webhook
                .as_ref()
                .expect("webhook")
                .signature,
            |_| Some(&blank),
        )
        .expect_err("must be rejected");
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
        let v = discord();
        assert_eq!(v.verify(req(&sig, ts, body), 1_700_000_000), Ok(()));
        assert_eq!(v.verify(req(&sig, ts, body), 1_700_000_300), Ok(()));
        assert_eq!(
            v.verify(req(&sig, ts, body), 1_700_000_301),
            Err(VerifyError::Stale { skew_secs: 301 })
        );
        // The timestamp is part of the signed message: a replay with a fresh timestamp fails.
        assert_eq!(
            v.verify(req(&sig, "1700000001", body), 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        let mut tampered = body.to_vec();
        tampered[9] = b'2';
        assert_eq!(
            v.verify(req(&sig, ts, &tampered), 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(req(&sig[..126], ts, body), 1_700_000_000),
            Err(VerifyError::Malformed)
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
