//! OIDC access tokens as JWTs (RFC 9068), checked the way an OAuth 2.1 resource server must:
//! signature against the issuer's key set first, then `iss`, the audience bound to this
//! resource (RFC 8707: a token minted for another API is refused), and `exp` / `nbf` / `iat`
//! with a small skew. The token is never logged and never passed on.

use serde_json::Value;
use switchyard_core::identity::{AuthMethod, Principal};
use switchyard_providers::jwt::{self, JwkSet, JwtError};

use crate::settings::{Issuer, Settings};

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const SKEW_SECS: u64 = 60;

/// Why an access token does not authenticate an agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("the token names no client (client_id or azp)")]
    NoClient,
    #[error("the token's client is not mapped to an agent")]
    UnknownClient,
}

/// The agent (and user) a verified token stands for. `keys` is the issuer's current key set,
/// `now` unix seconds.
pub fn principal_of(
    token: &str,
    keys: &JwkSet,
    issuer: &Issuer,
    settings: &Settings,
    now: u64,
) -> Result<Principal, TokenError> {
    let parsed = jwt::parse(token)?;
    let claims = jwt::verify_signature(&parsed, keys)?;
    check_claims(&claims, issuer, &settings.resource, now)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let client = text("client_id")
        .or_else(|| text("azp"))
        .ok_or(TokenError::NoClient)?;
    let agent = settings
        .clients
        .get(&client)
        .ok_or(TokenError::UnknownClient)?;
    // A client-credentials token's subject is the client itself (RFC 9068 §2.2): no user.
    let user = text("sub").filter(|sub| *sub != client);
    Ok(Principal {
        agent_id: agent.agent_id.clone(),
        workspace: agent.workspace.clone(),
        user,
        method: AuthMethod::Oidc,
    })
}

fn check_claims(claims: &Value, issuer: &Issuer, resource: &str, now: u64) -> Result<(), JwtError> {
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as u64);
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
        return Err(JwtError::Issuer);
    }
    let bound = match claims.get("aud") {
        Some(Value::String(aud)) => same_resource(aud, resource),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|a| same_resource(a, resource)),
        _ => false,
    };
    if !bound {
        return Err(JwtError::Audience);
    }
    let exp = time("exp").ok_or(JwtError::Expired)?;
    if now > exp.saturating_add(SKEW_SECS) {
        return Err(JwtError::Expired);
    }
    for name in ["nbf", "iat"] {
        if time(name).is_some_and(|t| t > now.saturating_add(SKEW_SECS)) {
            return Err(JwtError::NotYetValid);
        }
    }
    Ok(())
}

/// Whether audience `aud` names `resource` (a trailing slash aside).
fn same_resource(aud: &str, resource: &str) -> bool {
    aud.trim_end_matches('/') == resource
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::RsaKeyPair;
    use serde_json::json;
    use switchyard_providers::jwt::sign;

    const NOW: u64 = 1_767_225_600;
    const RESOURCE: &str = "https://gw.example.com/mcp";
    const ISSUER: &str = "https://issuer.example.com";

    fn key() -> RsaKeyPair {
        RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key")
    }

    fn keys(key: &RsaKeyPair) -> JwkSet {
        JwkSet::parse(
            json!({"keys": [sign::jwk(key, "k1")]})
                .to_string()
                .as_bytes(),
        )
        .expect("jwks")
    }

    fn settings() -> Settings {
        Settings::from_values(
            Some(RESOURCE),
            Some(ISSUER),
            Some("https://issuer.example.com/jwks"),
            Some("desktop=agent-1@ws-1"),
            None,
        )
        .expect("settings")
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER,
            "aud": RESOURCE,
            "sub": "alice",
            "client_id": "desktop",
            "iat": NOW - 10,
            "exp": NOW + 600,
            "scope": "mcp:tools",
        })
    }

    fn check(key: &RsaKeyPair, keys: &JwkSet, claims: &Value) -> Result<Principal, TokenError> {
        let settings = settings();
        let token = sign::rs256(key, "k1", claims);
        principal_of(
            &token,
            keys,
            settings.issuer.as_ref().expect("issuer"),
            &settings,
            NOW,
        )
    }

    #[test]
    fn a_token_bound_to_this_resource_authenticates_the_clients_agent_for_its_user() {
        let key = key();
        let principal = check(&key, &keys(&key), &claims()).expect("principal");
        assert_eq!(
            principal,
            Principal {
                agent_id: "agent-1".into(),
                workspace: "ws-1".into(),
                user: Some("alice".into()),
                method: AuthMethod::Oidc,
            }
        );
    }

    #[test]
    fn a_client_credentials_token_has_no_user_and_azp_names_the_client() {
        let key = key();
        let mut c = claims();
        c["sub"] = json!("desktop");
        c["aud"] = json!(["https://other.example.com", RESOURCE]);
        let principal = check(&key, &keys(&key), &c).expect("principal");
        assert_eq!(principal.user, None);
        let mut c = claims();
        c.as_object_mut().expect("object").remove("client_id");
        c["azp"] = json!("desktop");
        assert_eq!(
            check(&key, &keys(&key), &c).expect("azp").agent_id,
            "agent-1"
        );
    }

    #[test]
    fn refuses_other_audiences_issuers_clients_and_expired_or_future_tokens() {
        let key = key();
        let set = keys(&key);
        let with = |field: &str, value: Value| {
            let mut c = claims();
            c[field] = value;
            c
        };
        let cases = [
            (
                with("aud", json!("https://other.example.com/mcp")),
                TokenError::Jwt(JwtError::Audience),
            ),
            (with("aud", json!([])), TokenError::Jwt(JwtError::Audience)),
            (
                with("iss", json!("https://evil.example.com")),
                TokenError::Jwt(JwtError::Issuer),
            ),
            (
                with("exp", json!(NOW - SKEW_SECS - 1)),
                TokenError::Jwt(JwtError::Expired),
            ),
            (
                with("nbf", json!(NOW + SKEW_SECS + 5)),
                TokenError::Jwt(JwtError::NotYetValid),
            ),
            (
                with("client_id", json!("stranger")),
                TokenError::UnknownClient,
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(check(&key, &set, &claims), Err(expected), "{claims}");
        }
        let mut no_exp = claims();
        no_exp.as_object_mut().expect("object").remove("exp");
        assert_eq!(
            check(&key, &set, &no_exp),
            Err(TokenError::Jwt(JwtError::Expired))
        );
        // Within the skew: accepted.
        assert!(check(&key, &set, &with("exp", json!(NOW - SKEW_SECS + 1))).is_ok());
    }

    #[test]
    fn refuses_a_token_signed_by_another_key() {
        let (signer, other) = (key(), key());
        assert_eq!(
            check(&signer, &keys(&other), &claims()),
            Err(TokenError::Jwt(JwtError::BadSignature))
        );
    }
}
