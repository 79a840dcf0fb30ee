//! Every signature scheme: arbitrary requests get a typed [`VerifyError`], a provider's own
//! signature verifies inside the window, and any single-byte change of body, signature,
//! timestamp or id is rejected.

use std::sync::LazyLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;

use super::{body, config, headers, REGISTRY};
use crate::verify::{sign, KeyError, Verifier, VerifyError};
use crate::SignatureDef;
use switchyard_core::secret::SecretString;

/// Every header a built-in scheme (or the channel-token one below) reads.
const SIGNATURE_HEADERS: &[&str] = &[
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-shopify-hmac-sha256",
    "x-notion-signature",
    "x-hub-signature-256",
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-goog-channel-token",
];

const TIMESTAMP_HEADERS: &[&str] = &[
    "x-slack-request-timestamp",
    "x-signature-timestamp",
    "x-twilio-email-event-webhook-timestamp",
    "webhook-timestamp",
];

/// A P-256 scalar that is a valid private key.
const P256_SCALAR: [u8; 32] = [7; 32];
const ED25519_SEED: [u8; 32] = [9; 32];

fn verifier(def: &SignatureDef, values: &[(&str, &str)]) -> Result<Verifier, KeyError> {
    let values: Vec<(String, SecretString)> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), SecretString::from(*v)))
        .collect();
    Verifier::new(def, |key| {
        values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    })
}

fn provider_signature(provider: &str) -> SignatureDef {
    REGISTRY
        .get(provider)
        .and_then(|p| p.webhook.as_ref())
        .map(|w| w.signature.clone())
        .expect("a webhook provider")
}

fn provider_verifier(provider: &str, values: &[(&str, &str)]) -> Verifier {
    verifier(&provider_signature(provider), values).expect("valid key material")
}

fn channel_token_def() -> SignatureDef {
    SignatureDef::ChannelToken {
        token_field: "channel_token".into(),
        header: "x-goog-channel-token".into(),
    }
}

/// One verifier per scheme and shape: HMAC with and without timestamp, prefix and previous
/// secret, Ed25519, ECDSA P-256, Standard Webhooks, channel token.
static ALL_VERIFIERS: LazyLock<Vec<(&'static str, Verifier)>> = LazyLock::new(all_verifiers);

fn all_verifiers() -> Vec<(&'static str, Verifier)> {
    let discord_key = sign::discord_public_key(&ED25519_SEED);
    let sendgrid_key = sign::ecdsa_p256_public_key(&P256_SCALAR);
    vec![
        (
            "slack",
            provider_verifier("slack", &[("signing_secret", "s3cret")]),
        ),
        (
            "shopify",
            provider_verifier(
                "shopify",
                &[("client_secret", "new"), ("client_secret_previous", "old")],
            ),
        ),
        (
            "notion",
            provider_verifier("notion", &[("verification_token", "tok")]),
        ),
        (
            "whatsapp",
            provider_verifier("whatsapp", &[("app_secret", "meta")]),
        ),
        (
            "discord",
            provider_verifier("discord", &[("public_key", &discord_key)]),
        ),
        (
            "sendgrid",
            provider_verifier("sendgrid", &[("verification_key", &sendgrid_key)]),
        ),
        (
            "standard-webhooks",
            provider_verifier(
                "standard-webhooks",
                &[("signing_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
            ),
        ),
        (
            "channel-token",
            verifier(&channel_token_def(), &[("channel_token", "chan-tok-1")]).expect("token"),
        ),
    ]
}

fn header_map(pairs: &[(&str, &[u8])]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_bytes(value).ok()?,
        );
    }
    Some(map)
}

/// `text` with the byte at `at` replaced by `to`, or by another byte when `to` is the same.
fn mutate(text: &[u8], at: &Index, to: u8) -> Vec<u8> {
    let mut out = text.to_vec();
    let i = at.index(out.len());
    out[i] = if out[i] == to { to ^ 1 } else { to };
    out
}

/// Whether `mutated` says the same hex digits as `original` after `prefix` (hex is
/// case-insensitive: `A` and `a` decode alike, so such a change is no change).
fn same_hex(original: &[u8], mutated: &[u8], prefix: &str) -> bool {
    original.len() == mutated.len()
        && mutated.starts_with(prefix.as_bytes())
        && original[prefix.len()..].eq_ignore_ascii_case(&mutated[prefix.len()..])
}

fn now_near(ts: u64, skew: i64) -> u64 {
    ts.saturating_add_signed(skew)
}

proptest! {
    #![proptest_config(config(1000))]

    /// No input panics a verifier, nothing arbitrary is accepted, and a missing header is named.
    #[test]
    fn arbitrary_requests_get_a_typed_rejection(
        headers in headers(SIGNATURE_HEADERS),
        body in body(),
        skew in -400i64..400,
        far in any::<u64>(),
    ) {
        for (scheme, v) in ALL_VERIFIERS.iter() {
            // Near the request's own timestamp (if any), so the signature gets checked too.
            let now = TIMESTAMP_HEADERS
                .iter()
                .find_map(|h| headers.get(*h)?.to_str().ok()?.parse::<u64>().ok())
                .map_or(far, |ts| now_near(ts, skew));
            match v.verify(&headers, &body, now) {
                Ok(()) => prop_assert!(false, "{scheme} accepted an arbitrary request"),
                Err(VerifyError::MissingHeader(name)) => {
                    prop_assert!(SIGNATURE_HEADERS.contains(&name.as_str()), "{scheme}: {name}");
                    let present = headers.get(&name).and_then(|v| v.to_str().ok()).is_some();
                    prop_assert!(!present, "{scheme}: {name} is there, as text");
                }
                Err(VerifyError::Stale { skew_secs }) => prop_assert!(skew_secs > 0),
                Err(_) => {}
            }
        }
    }

    /// Key material from instance config: a typed `KeyError` or a verifier, never a panic.
    #[test]
    fn arbitrary_key_material_is_a_key_error_or_a_verifier(key in ".{0,120}") {
        for (provider, field) in [
            ("slack", "signing_secret"),
            ("discord", "public_key"),
            ("sendgrid", "verification_key"),
            ("standard-webhooks", "signing_secret"),
        ] {
            let def = provider_signature(provider);
            match verifier(&def, &[(field, &key)]) {
                Ok(_) => {}
                Err(KeyError::Missing(f) | KeyError::Invalid(f)) => prop_assert_eq!(f, field),
            }
        }
        let _ = verifier(&channel_token_def(), &[("channel_token", &key)]);
    }

    /// Slack (HMAC, hex, `v0=` prefix, timestamp in the signed payload).
    #[test]
    fn slack_round_trips_and_rejects_any_single_byte_change(
        secret in "[!-~]{1,40}",
        ts in 1u64..4_000_000_000,
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        let v = provider_verifier("slack", &[("signing_secret", &secret)]);
        let ts_text = ts.to_string();
        let sig = sign::slack(&secret, &ts_text, &body);
        let now = now_near(ts, skew);
        let req = |sig: &[u8], ts: &[u8]| {
            header_map(&[("x-slack-signature", sig), ("x-slack-request-timestamp", ts)])
        };
        let h = req(sig.as_bytes(), ts_text.as_bytes()).expect("valid headers");
        prop_assert_eq!(v.verify(&h, &body, now), Ok(()));
        if !body.is_empty() {
            let changed = mutate(&body, &at, to);
            prop_assert_eq!(v.verify(&h, &changed, now), Err(VerifyError::Mismatch));
        }
        let bad_sig = mutate(sig.as_bytes(), &at, to);
        if let Some(h) = req(&bad_sig, ts_text.as_bytes()) {
            let verdict = v.verify(&h, &body, now);
            if same_hex(sig.as_bytes(), &bad_sig, "v0=") {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                prop_assert!(verdict.is_err());
            }
        }
        let bad_ts = mutate(ts_text.as_bytes(), &at, to);
        if let Some(h) = req(sig.as_bytes(), &bad_ts) {
            prop_assert!(v.verify(&h, &body, now).is_err());
        }
        prop_assert!(v.verify(&h, &body, now_near(ts, 301)).is_err());
    }

    /// Shopify (HMAC, base64, no timestamp) during a rotation: either secret, nothing else.
    #[test]
    fn shopify_accepts_both_rotation_secrets_and_nothing_else(
        current in "[!-~]{1,40}",
        previous in "[!-~]{1,40}",
        other in "[!-~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        let v = provider_verifier(
            "shopify",
            &[("client_secret", &current), ("client_secret_previous", &previous)],
        );
        let req = |sig: &[u8]| header_map(&[("x-shopify-hmac-sha256", sig)]);
        for secret in [&current, &previous] {
            let sig = sign::hmac_base64(secret, &body);
            let h = req(sig.as_bytes()).expect("valid header");
            prop_assert_eq!(v.verify(&h, &body, 0), Ok(()));
            if !body.is_empty() {
                prop_assert_eq!(v.verify(&h, &mutate(&body, &at, to), 0), Err(VerifyError::Mismatch));
            }
            if let Some(h) = req(&mutate(sig.as_bytes(), &at, to)) {
                prop_assert!(v.verify(&h, &body, 0).is_err());
            }
        }
        if other != current && other != previous {
            let h = req(sign::hmac_base64(&other, &body).as_bytes()).expect("valid header");
            prop_assert_eq!(v.verify(&h, &body, 0), Err(VerifyError::Mismatch));
        }
    }

    /// Notion and Meta (HMAC, hex, `sha256=` prefix, no timestamp).
    #[test]
    fn sha256_prefixed_hmac_round_trips_and_rejects_changes(
        secret in "[!-~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        for (provider, field, header) in [
            ("notion", "verification_token", "x-notion-signature"),
            ("whatsapp", "app_secret", "x-hub-signature-256"),
        ] {
            let v = provider_verifier(provider, &[(field, &secret)]);
            let sig = format!("sha256={}", sign::hmac_hex(&secret, &body));
            let h = header_map(&[(header, sig.as_bytes())]).expect("valid header");
            prop_assert_eq!(v.verify(&h, &body, 0), Ok(()));
            if !body.is_empty() {
                prop_assert_eq!(v.verify(&h, &mutate(&body, &at, to), 0), Err(VerifyError::Mismatch));
            }
            let bad = mutate(sig.as_bytes(), &at, to);
            if let Some(h) = header_map(&[(header, &bad)]) {
                let verdict = v.verify(&h, &body, 0);
                if same_hex(sig.as_bytes(), &bad, "sha256=") {
                    prop_assert_eq!(verdict, Ok(()));
                } else {
                    prop_assert!(verdict.is_err(), "{provider}");
                }
            }
        }
    }

    /// Standard Webhooks: id, timestamp and body are signed; rotation lists verify.
    #[test]
    fn standard_webhooks_round_trips_and_rejects_changes(
        key in prop::collection::vec(any::<u8>(), 1..64),
        id in "[A-Za-z0-9_]{1,32}",
        ts in 1u64..4_000_000_000,
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        use base64::Engine as _;
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let v = provider_verifier("standard-webhooks", &[("signing_secret", &secret)]);
        let ts_text = ts.to_string();
        let sig = sign::standard_webhooks(&secret, &id, &ts_text, &body);
        let now = now_near(ts, skew);
        let req = |id: &[u8], ts: &[u8], sig: &[u8]| {
            header_map(&[("webhook-id", id), ("webhook-timestamp", ts), ("webhook-signature", sig)])
        };
        let h = req(id.as_bytes(), ts_text.as_bytes(), sig.as_bytes()).expect("valid headers");
        prop_assert_eq!(v.verify(&h, &body, now), Ok(()));
        let rotation = format!("v1a,AAAA v1,Zm9v {sig}");
        let h2 = req(id.as_bytes(), ts_text.as_bytes(), rotation.as_bytes()).expect("valid");
        prop_assert_eq!(v.verify(&h2, &body, now), Ok(()));
        if !body.is_empty() {
            prop_assert_eq!(v.verify(&h, &mutate(&body, &at, to), now), Err(VerifyError::Mismatch));
        }
        for h in [
            req(&mutate(id.as_bytes(), &at, to), ts_text.as_bytes(), sig.as_bytes()),
            req(id.as_bytes(), &mutate(ts_text.as_bytes(), &at, to), sig.as_bytes()),
            req(id.as_bytes(), ts_text.as_bytes(), &mutate(sig.as_bytes(), &at, to)),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(v.verify(&h, &body, now).is_err());
        }
    }

    /// A channel token is accepted exactly; any single-byte change is a mismatch.
    #[test]
    fn channel_token_accepts_only_the_exact_token(
        token in "[!-~]{1,64}",
        at in any::<Index>(),
        to in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let v = verifier(&channel_token_def(), &[("channel_token", &token)]).expect("verifier");
        let req = |t: &[u8]| header_map(&[("x-goog-channel-token", t)]);
        prop_assert_eq!(v.verify(&req(token.as_bytes()).expect("valid"), &body, 0), Ok(()));
        let bad = mutate(token.as_bytes(), &at, to);
        if let Some(h) = req(&bad) {
            let expected = match h.get("x-goog-channel-token").map(HeaderValue::to_str) {
                Some(Ok(_)) => VerifyError::Mismatch,
                _ => VerifyError::MissingHeader("x-goog-channel-token".into()),
            };
            prop_assert_eq!(v.verify(&h, &body, 0), Err(expected));
        }
    }
}

proptest! {
    // Public-key schemes are slow in unoptimized test builds: fewer cases.
    #![proptest_config(config(64))]

    /// Discord (Ed25519, hex, `{timestamp}{body}`).
    #[test]
    fn ed25519_round_trips_and_rejects_any_single_byte_change(
        seed in any::<[u8; 32]>(),
        ts in 1u64..4_000_000_000,
        skew in -300i64..=300,
        body in prop::collection::vec(any::<u8>(), 0..200),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        let v = provider_verifier("discord", &[("public_key", &sign::discord_public_key(&seed))]);
        let ts_text = ts.to_string();
        let sig = sign::discord(&seed, &ts_text, &body);
        let now = now_near(ts, skew);
        let req = |sig: &[u8], ts: &[u8]| {
            header_map(&[("x-signature-ed25519", sig), ("x-signature-timestamp", ts)])
        };
        let h = req(sig.as_bytes(), ts_text.as_bytes()).expect("valid headers");
        prop_assert_eq!(v.verify(&h, &body, now), Ok(()));
        if !body.is_empty() {
            prop_assert_eq!(v.verify(&h, &mutate(&body, &at, to), now), Err(VerifyError::Mismatch));
        }
        let bad_sig = mutate(sig.as_bytes(), &at, to);
        if let Some(h) = req(&bad_sig, ts_text.as_bytes()) {
            let verdict = v.verify(&h, &body, now);
            if same_hex(sig.as_bytes(), &bad_sig, "") {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                prop_assert!(verdict.is_err());
            }
        }
        if let Some(h) = req(sig.as_bytes(), &mutate(ts_text.as_bytes(), &at, to)) {
            prop_assert!(v.verify(&h, &body, now).is_err());
        }
    }

    /// SendGrid (ECDSA P-256, base64 DER, `{timestamp}{body}`).
    #[test]
    fn ecdsa_p256_round_trips_and_rejects_any_single_byte_change(
        scalar in any::<[u8; 32]>().prop_filter("not a P-256 private key", |s| {
            p256::ecdsa::SigningKey::from_slice(s).is_ok()
        }),
        ts in 1u64..4_000_000_000,
        skew in -600i64..=600,
        body in prop::collection::vec(any::<u8>(), 0..200),
        at in any::<Index>(),
        to in any::<u8>(),
    ) {
        let key = sign::ecdsa_p256_public_key(&scalar);
        let v = provider_verifier("sendgrid", &[("verification_key", &key)]);
        let ts_text = ts.to_string();
        let sig = sign::ecdsa_p256(&scalar, &ts_text, &body);
        let now = now_near(ts, skew);
        let req = |sig: &[u8], ts: &[u8]| {
            header_map(&[
                ("x-twilio-email-event-webhook-signature", sig),
                ("x-twilio-email-event-webhook-timestamp", ts),
            ])
        };
        let h = req(sig.as_bytes(), ts_text.as_bytes()).expect("valid headers");
        prop_assert_eq!(v.verify(&h, &body, now), Ok(()));
        if !body.is_empty() {
            prop_assert_eq!(v.verify(&h, &mutate(&body, &at, to), now), Err(VerifyError::Mismatch));
        }
        for h in [
            req(&mutate(sig.as_bytes(), &at, to), ts_text.as_bytes()),
            req(sig.as_bytes(), &mutate(ts_text.as_bytes(), &at, to)),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(v.verify(&h, &body, now).is_err());
        }
    }
}
