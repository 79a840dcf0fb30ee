//! OpenID Connect ID tokens as Google signs them for Pub/Sub push (JWS compact serialization,
//! RS256), checked against a JSON Web Key Set.
//!
//! Only RS256 is accepted: `alg` is read from the token, so a token saying `none` or `HS256`
//! (the classic confusions, where the verifier is tricked into skipping the signature or using
//! the public key as an HMAC secret) is refused before any key is touched. The signature is
//! checked before any claim is read, and every claim the caller expects is required.

use std::collections::HashMap;

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// Why a token was refused. Every variant maps to 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("no bearer token")]
    Missing,
    #[error("token is not a well-formed JWS")]
    Malformed,
    #[error("token algorithm {0:?} is not RS256")]
    Algorithm(String),
    #[error("token names a critical extension")]
    Critical,
    #[error("token is signed by an unknown key")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token issuer is not accepted")]
    Issuer,
    #[error("token audience is not this instance's")]
    Audience,
    #[error("token is for another service account")]
    Email,
    #[error("token email is not verified")]
    EmailUnverified,
    #[error("token expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
}

/// Why a key set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON Web Key Set: {0}")]
pub struct JwksError(String);

/// The RSA signing keys of a JWKS, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: HashMap<String, RsaKey>,
}

#[derive(Debug, Clone)]
struct RsaKey {
    /// Big-endian, without leading zeros (what aws-lc requires).
    n: Vec<u8>,
    e: Vec<u8>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(rename = "use", default)]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl JwkSet {
    /// Parses a JWKS document, keeping the RSA signature keys that have a `kid` (keys of other
    /// types or uses are skipped; a malformed RSA key fails the set).
    pub fn parse(json: &[u8]) -> Result<Self, JwksError> {
        let raw: RawSet = serde_json::from_slice(json).map_err(|e| JwksError(e.to_string()))?;
        let mut keys = HashMap::new();
        for key in raw.keys {
            let usable = key.kty == "RSA"
                && key.alg.as_deref().is_none_or(|a| a == "RS256")
                && key.usage.as_deref().is_none_or(|u| u == "sig");
            let Some(kid) = key.kid.filter(|_| usable) else {
                continue;
            };
            let component = |value: Option<&str>, name: &str| {
                let bytes = URL_SAFE_NO_PAD
                    .decode(value.unwrap_or_default().trim_end_matches('='))
                    .map_err(|_| JwksError(format!("key {kid}: {name} is not base64url")))?;
                let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
                let trimmed = bytes[start..].to_vec();
                if trimmed.is_empty() {
                    return Err(JwksError(format!("key {kid}: {name} is empty")));
                }
                Ok(trimmed)
            };
            let n = component(key.n.as_deref(), "n")?;
            let e = component(key.e.as_deref(), "e")?;
            keys.insert(kid, RsaKey { n, e });
        }
        Ok(Self { keys })
    }

    /// Whether the set holds key `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What a token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuers: &'a [String],
    pub audience: &'a str,
    pub email: &'a str,
    /// Clock skew allowed on `exp`, `iat` and `nbf`.
    pub skew_secs: u64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// A token split into its parts, its header read.
#[derive(Debug)]
pub struct Parsed<'a> {
    signed: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
    /// The key the token says signed it.
    pub kid: String,
}

/// Splits `token` and checks its header: three base64url parts, `alg` RS256, a `kid`, no `crit`.
pub fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Malformed)?;
    if header.alg != "RS256" {
        return Err(JwtError::Algorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(JwtError::Critical);
    }
    let kid = header.kid.ok_or(JwtError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signed = &token[..header_len(token, payload)];
    Ok(Parsed {
        signed,
        payload,
        signature,
        kid,
    })
}

/// The length of `header.payload` within `token`.
fn header_len(token: &str, payload: &str) -> usize {
    token.find('.').map_or(0, |dot| dot + 1 + payload.len())
}

/// Verifies a parsed token's signature with `keys`, then its claims against `expected` at
/// unix time `now`. Returns the claims.
pub fn verify(
    token: &Parsed<'_>,
    keys: &JwkSet,
    expected: &Expected<'_>,
    now: u64,
) -> Result<Value, JwtError> {
    let claims = verify_signature(token, keys)?;
    check_claims(&claims, expected, now)?;
    Ok(claims)
}

/// Verifies a parsed token's signature with `keys` and returns its claims, unchecked: for
/// callers whose tokens carry other claims than Google's (OAuth access tokens), which must
/// check every claim they rely on themselves.
pub fn verify_signature(token: &Parsed<'_>, keys: &JwkSet) -> Result<Value, JwtError> {
    let key = keys.keys.get(&token.kid).ok_or(JwtError::UnknownKey)?;
    RsaPublicKeyComponents {
        n: key.n.as_slice(),
        e: key.e.as_slice(),
    }
    .verify(
        &RSA_PKCS1_2048_8192_SHA256,
        token.signed.as_bytes(),
        &token.signature,
    )
    .map_err(|_| JwtError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(token.payload)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)
}

fn check_claims(claims: &Value, expected: &Expected<'_>, now: u64) -> Result<(), JwtError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as u64);
    if !text("iss").is_some_and(|iss| expected.issuers.iter().any(|i| i == iss)) {
        return Err(JwtError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.audience)),
        _ => false,
    };
    if !audience_ok || expected.audience.is_empty() {
        return Err(JwtError::Audience);
    }
    if expected.email.is_empty() || text("email") != Some(expected.email) {
        return Err(JwtError::Email);
    }
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        // Some Google tokens have carried it as a string.
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    if !verified {
        return Err(JwtError::EmailUnverified);
    }
    let exp = time("exp").ok_or(JwtError::Expired)?;
    if now > exp.saturating_add(expected.skew_secs) {
        return Err(JwtError::Expired);
    }
    for name in ["iat", "nbf"] {
        if let Some(t) = time(name) {
            if t > now.saturating_add(expected.skew_secs) {
                return Err(JwtError::NotYetValid);
            }
        }
    }
    Ok(())
}

/// Signs tokens and builds key sets like Google does; for tests and the local stack.
pub mod sign {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::{json, Value};

    /// A compact RS256 JWS of `claims` with header `{"alg":"RS256","kid":kid,"typ":"JWT"}`.
    pub fn rs256(key: &RsaKeyPair, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signed.as_bytes(),
            &mut signature,
        )
        .expect("RSA signing with a valid key");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// An unsigned token with any header (`alg: none`, `HS256`…), for refusal tests.
    pub fn with_header(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The JWK of `key`'s public half (`kty`, `kid`, `alg`, `use`, `n`, `e`).
    pub fn jwk(key: &RsaKeyPair, kid: &str) -> Value {
        let (n, e) = rsa_public_components(key.public_key().as_ref())
            .expect("aws-lc encodes RSA public keys as RFC 8017 RSAPublicKey");
        json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e),
        })
    }

    /// `n` and `e` of a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
    fn rsa_public_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let (tag, body, _) = tlv(der)?;
        if tag != 0x30 {
            return None;
        }
        let (t1, n, rest) = tlv(body)?;
        let (t2, e, _) = tlv(rest)?;
        if t1 != 0x02 || t2 != 0x02 {
            return None;
        }
        let strip = |b: &[u8]| b[b.iter().position(|x| *x != 0).unwrap_or(b.len())..].to_vec();
        Some((strip(n), strip(e)))
    }

    /// One DER tag-length-value: (tag, value, rest).
    fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = der.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            let bytes = rest.get(..count)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[count..])
        };
        Some((tag, rest.get(..len)?, rest.get(len..)?))
    }
}

#[cfg(test)]
mod tests {
    use super::sign;
    use super::*;
    use aws_lc_rs::signature::RsaKeyPair;
    use serde_json::json;
    use std::sync::LazyLock;

    static KEY: LazyLock<RsaKeyPair> = LazyLock::new(|| {
        RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate an RSA key")
    });
    static OTHER: LazyLock<RsaKeyPair> = LazyLock::new(|| {
        RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate an RSA key")
    });
    const NOW: u64 = 1_767_225_600;

    fn keys() -> JwkSet {
        let set =
            json!({"keys": [sign::jwk(&KEY, "k1"), {"kty": "EC", "kid": "ec", "crv": "P-256"}]});
        JwkSet::parse(set.to_string().as_bytes()).expect("jwks")
    }

    fn issuers() -> Vec<String> {
        vec![
            "accounts.google.com".into(),
            "https://accounts.google.com".into(),
        ]
    }

    fn claims() -> Value {
        json!({
            "aud": "https://push.example.com/webhooks/google-pubsub/i1",
            "azp": "113774264463038321964",
            "email": "push@proj.iam.gserviceaccount.com",
            "sub": "113774264463038321964",
            "email_verified": true,
            "exp": NOW + 3600,
            "iat": NOW,
            "iss": "https://accounts.google.com",
        })
    }

    fn check(token: &str, now: u64) -> Result<Value, JwtError> {
        let issuers = issuers();
        let expected = Expected {
            issuers: &issuers,
            audience: "https://push.example.com/webhooks/google-pubsub/i1",
            email: "push@proj.iam.gserviceaccount.com",
            skew_secs: 60,
        };
        verify(&parse(token)?, &keys(), &expected, now)
    }

    fn with(change: impl FnOnce(&mut Value)) -> String {
        let mut claims = claims();
        change(&mut claims);
        sign::rs256(&KEY, "k1", &claims)
    }

    #[test]
    fn a_google_shaped_token_verifies() {
        let token = sign::rs256(&KEY, "k1", &claims());
        assert_eq!(
            check(&token, NOW).expect("valid")["sub"],
            "113774264463038321964"
        );
        assert_eq!(keys().len(), 1, "the EC key is skipped");
        // Both issuer spellings.
        assert!(check(&with(|c| c["iss"] = json!("accounts.google.com")), NOW).is_ok());
    }

    #[test]
    fn forged_and_foreign_signatures_are_refused() {
        let token = sign::rs256(&KEY, "k1", &claims());
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("b64");
        bytes[10] ^= 1;
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(check(&forged, NOW), Err(JwtError::BadSignature));
        // Claims swapped under a valid signature.
        let (header, _) = signed.split_once('.').expect("header");
        let mut claims = claims();
        claims["email"] = json!("attacker@evil.example");
        let swapped = format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert_eq!(check(&swapped, NOW), Err(JwtError::BadSignature));
        // Another key claiming k1, and an unknown kid.
        assert_eq!(
            check(&sign::rs256(&OTHER, "k1", &claims), NOW),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            check(&sign::rs256(&KEY, "k9", &claims), NOW),
            Err(JwtError::UnknownKey)
        );
    }

    #[test]
    fn only_rs256_is_accepted() {
        for alg in ["none", "HS256", "RS512", "ES256", "rs256"] {
            let token = sign::with_header(&json!({"alg": alg, "kid": "k1"}), &claims(), b"");
            assert_eq!(
                check(&token, NOW),
                Err(JwtError::Algorithm(alg.into())),
                "{alg}"
            );
        }
        let no_kid = sign::with_header(&json!({"alg": "RS256"}), &claims(), b"x");
        assert_eq!(check(&no_kid, NOW), Err(JwtError::UnknownKey));
        let crit = sign::with_header(
            &json!({"alg": "RS256", "kid": "k1", "crit": ["b64"]}),
            &claims(),
            b"x",
        );
        assert_eq!(check(&crit, NOW), Err(JwtError::Critical));
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.e30", "e30.e30.e30"] {
            assert!(check(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_claim_is_checked() {
        type Case = (&'static str, fn(&mut Value), JwtError);
        let cases: [Case; 9] = [
            (
                "iss",
                |c| c["iss"] = json!("https://evil.example"),
                JwtError::Issuer,
            ),
            ("no iss", |c| c["iss"] = Value::Null, JwtError::Issuer),
            (
                "aud",
                |c| c["aud"] = json!("https://other.example"),
                JwtError::Audience,
            ),
            (
                "email",
                |c| c["email"] = json!("x@proj.iam.gserviceaccount.com"),
                JwtError::Email,
            ),
            ("no email", |c| c["email"] = Value::Null, JwtError::Email),
            (
                "unverified",
                |c| c["email_verified"] = json!(false),
                JwtError::EmailUnverified,
            ),
            (
                "no email_verified",
                |c| c["email_verified"] = Value::Null,
                JwtError::EmailUnverified,
            ),
            ("no exp", |c| c["exp"] = Value::Null, JwtError::Expired),
            (
                "future iat",
                |c| c["iat"] = json!(NOW + 61),
                JwtError::NotYetValid,
            ),
        ];
        for (what, change, error) in cases {
            assert_eq!(check(&with(change), NOW), Err(error), "{what}");
        }
        assert_eq!(
            check(&with(|c| c["nbf"] = json!(NOW + 61)), NOW),
            Err(JwtError::NotYetValid)
        );
        // An audience list containing ours is accepted.
        let listed = with(|c| {
            c["aud"] = json!(["x", "https://push.example.com/webhooks/google-pubsub/i1"]);
        });
        assert!(check(&listed, NOW).is_ok());
    }

    #[test]
    fn expiry_has_a_sixty_second_skew() {
        let token = sign::rs256(&KEY, "k1", &claims());
        assert!(check(&token, NOW + 3600 + 60).is_ok());
        assert_eq!(check(&token, NOW + 3600 + 61), Err(JwtError::Expired));
        let early = with(|c| c["iat"] = json!(NOW + 60));
        assert!(check(&early, NOW).is_ok());
    }

    #[test]
    fn key_sets_are_checked() {
        assert!(JwkSet::parse(b"{}").is_err());
        assert!(
            JwkSet::parse(br#"{"keys":[{"kty":"RSA","kid":"a","n":"!","e":"AQAB"}]}"#).is_err()
        );
        let hmac =
            JwkSet::parse(br#"{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}"#).expect("parses");
        assert!(hmac.is_empty(), "symmetric keys are never used");
        let mut encryption = sign::jwk(&KEY, "enc");
        encryption["use"] = json!("enc");
        let set =
            JwkSet::parse(json!({"keys": [encryption]}).to_string().as_bytes()).expect("parses");
        assert!(
            !set.contains("enc"),
            "encryption keys do not verify signatures"
        );
    }
}
