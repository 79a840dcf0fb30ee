//! OIDC ID tokens: arbitrary tokens and key sets never verify and never panic, and a token Google
//! would sign is refused after any single-byte change.

use std::sync::LazyLock;

use aws_lc_rs::signature::RsaKeyPair;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

use super::config;
use crate::jwt::{self, sign, Expected, JwkSet};

static KEY: LazyLock<RsaKeyPair> = LazyLock::new(|| {
    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate an RSA key")
});
static KEYS: LazyLock<JwkSet> = LazyLock::new(|| {
    JwkSet::parse(
        json!({"keys": [sign::jwk(&KEY, "k1")]})
            .to_string()
            .as_bytes(),
    )
    .expect("jwks")
});
static ISSUERS: LazyLock<Vec<String>> =
    LazyLock::new(|| vec!["https://accounts.google.com".into()]);
const NOW: u64 = 1_767_225_600;

fn expected() -> Expected<'static> {
    Expected {
        issuers: &ISSUERS,
        audience: "aud",
        email: "push@p.iam.gserviceaccount.com",
        skew_secs: 60,
    }
}

fn claims() -> Value {
    json!({"iss": "https://accounts.google.com", "aud": "aud",
           "email": "push@p.iam.gserviceaccount.com", "email_verified": true,
           "iat": NOW, "exp": NOW + 3600})
}

fn check(token: &str) -> Result<Value, jwt::JwtError> {
    jwt::verify(&jwt::parse(token)?, &KEYS, &expected(), NOW)
}

/// Tokens shaped like JWS: three base64url parts of arbitrary JSON or bytes.
fn token() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        prop::sample::select(&["RS256", "none", "HS256", "ES256", ""][..]).prop_flat_map(|alg| {
            prop::option::of(prop::sample::select(&["k1", "k2", ""][..]))
                .prop_map(move |kid| json!({"alg": alg, "kid": kid}).to_string().into_bytes())
        }),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    let part = prop::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (header, part.clone(), part).prop_map(|(h, p, s)| format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(h),
            URL_SAFE_NO_PAD.encode(p),
            URL_SAFE_NO_PAD.encode(s)
        )),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(500))]

    /// Nothing arbitrary verifies, whatever it claims to be.
    #[test]
    fn arbitrary_tokens_never_verify(token in token()) {
        prop_assert!(check(&token).is_err());
    }

    /// Arbitrary key sets parse or are refused, without a panic.
    #[test]
    fn arbitrary_key_sets_are_refused_or_parsed(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = JwkSet::parse(&bytes);
    }
}

proptest! {
    // RSA signing per case: fewer cases.
    #![proptest_config(config(64))]

    /// A valid token verifies; any single-byte change of it does not.
    #[test]
    fn any_single_byte_change_is_refused(at in any::<Index>(), to in any::<u8>()) {
        let token = sign::rs256(&KEY, "k1", &claims());
        prop_assert!(check(&token).is_ok());
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to);
        bytes[i] = to;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        // Base64url's last character may carry unused bits; a change that decodes to the same
        // bytes is the same token.
        prop_assume!(changed.split('.').map(|p| URL_SAFE_NO_PAD.decode(p).ok()).collect::<Vec<_>>()
            != token.split('.').map(|p| URL_SAFE_NO_PAD.decode(p).ok()).collect::<Vec<_>>());
        prop_assert!(check(&changed).is_err(), "{changed}");
    }
}
