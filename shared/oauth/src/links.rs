//! Signed start links: the only way into an OAuth consent flow.
//!
//! An operator (`switchyard connection link`) or an agent issues a link for an instance and,
//! optionally, the principal who should connect (`for`, also sent to the provider as a login
//! hint). A link issued for a principal makes a connection owned by that person (a per-user
//! connection, see `connection_mode`); one without makes the instance's shared connection. The link carries its expiry and a random nonce and is signed with HMAC-SHA256 under the
//! stack's link key (a Secrets Manager secret CloudFormation generates; read once per warm
//! process and again after [`LINK_KEY_TTL`]). The start route checks the signature in constant
//! time and the expiry before any KMS call or write, then spends the nonce with a conditional put
//! so the link works once. Anonymous or forged hits cost a cached HMAC and nothing else.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::chain;
use crate::pkce;
use crate::secret::SecretString;
use crate::OAuth;

/// How long the link key is cached per warm process.
pub const LINK_KEY_TTL: Duration = Duration::from_secs(300);
/// A link's lifetime unless the issuer says otherwise.
pub const DEFAULT_LINK_TTL_SECS: u64 = 3600;
/// The longest lifetime a link may have.
pub const MAX_LINK_TTL_SECS: u64 = 7 * 24 * 3600;
/// Link keys shorter than this are refused (32 bytes of entropy, hex or base64).
const MIN_KEY_LEN: usize = 32;

/// Why a start link was refused or could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("this link is not a valid sign-in link; ask for a new one")]
    Invalid,
    #[error("this link expired; ask for a new one")]
    Expired,
    #[error("this link was already used; ask for a new one")]
    Used,
    #[error("a link lives between 1 s and {MAX_LINK_TTL_SECS} s, not {0} s")]
    BadTtl(u64),
    #[error("the link key is missing or shorter than {MIN_KEY_LEN} characters")]
    WeakKey,
    #[error("link key unavailable: {0}")]
    Unavailable(String),
}

/// What a verified link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartLink {
    pub provider: String,
    pub instance_id: String,
    /// Who should connect (an email or user id), when the issuer said.
    pub principal: Option<String>,
    pub expires_at: u64,
    pub nonce: String,
}

impl StartLink {
    /// The exact bytes signed: every field, newline-separated, after a version tag.
    fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "switchyard-start-link-v1\n{}\n{}\n{}\n{}\n{}",
            self.provider,
            self.instance_id,
            self.principal.as_deref().unwrap_or(""),
            self.expires_at,
            self.nonce
        )
        .into_bytes()
    }

    /// The query string of the start URL, signature included.
    pub fn query(&self, key: &SecretString) -> Result<String, LinkError> {
        let signature =
            URL_SAFE_NO_PAD.encode(mac(key, &self.signed_bytes())?.finalize().into_bytes());
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("instance_id", &self.instance_id);
        if let Some(principal) = &self.principal {
            query.append_pair("for", principal);
        }
        query
            .append_pair("exp", &self.expires_at.to_string())
            .append_pair("nonce", &self.nonce)
            .append_pair("sig", &signature);
        Ok(query.finish())
    }

    /// Reads and checks a start request's query for `provider` at `now`: signature first (in
    /// constant time), then expiry. Spending the nonce is the caller's next step.
    pub fn verify(
        provider: &str,
        query: &HashMap<String, String>,
        key: &SecretString,
        now: u64,
    ) -> Result<Self, LinkError> {
        let field = |name: &str| query.get(name).ok_or(LinkError::Invalid);
        let link = Self {
            provider: provider.to_owned(),
            instance_id: field("instance_id")?.clone(),
            principal: query.get("for").cloned(),
            expires_at: field("exp")?.parse().map_err(|_| LinkError::Invalid)?,
            nonce: field("nonce")?.clone(),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(field("sig")?)
            .map_err(|_| LinkError::Invalid)?;
        mac(key, &link.signed_bytes())?
            .verify_slice(&signature)
            .map_err(|_| LinkError::Invalid)?;
        if link.expires_at <= now {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

fn mac(key: &SecretString, bytes: &[u8]) -> Result<Hmac<Sha256>, LinkError> {
    if key.expose().len() < MIN_KEY_LEN {
        return Err(LinkError::WeakKey);
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).map_err(|_| LinkError::WeakKey)?;
    mac.update(bytes);
    Ok(mac)
}

/// The stack's link key, cached.
#[derive(Debug)]
pub struct LinkKey {
    client: switchyard_aws::secretsmanager::Client,
    secret_id: String,
    cache: Mutex<Option<(Instant, SecretString)>>,
}

impl LinkKey {
    pub fn new(
        client: switchyard_aws::secretsmanager::Client,
        secret_id: impl Into<String>,
    ) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            cache: Mutex::new(None),
        }
    }

    /// The key, from the cache while it is fresh.
    pub async fn get(&self) -> Result<SecretString, LinkError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, key)) = cache.as_ref() {
                if at.elapsed() < LINK_KEY_TTL {
                    return Ok(key.clone());
                }
            }
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| LinkError::Unavailable(chain(&e)))?;
        let key = SecretString::from(out.secret_string().unwrap_or_default().trim());
        if key.expose().len() < MIN_KEY_LEN {
            return Err(LinkError::WeakKey);
        }
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), key.clone()));
        }
        Ok(key)
    }
}

/// Issues a start link for `instance_id` (of `provider`), valid for `ttl_secs`: the full URL
/// under the stack's public base URL.
pub async fn issue(
    app: &OAuth,
    provider: &str,
    instance_id: &str,
    principal: Option<&str>,
    ttl_secs: u64,
) -> Result<String, LinkError> {
    sign(
        &app.link_key,
        &app.public_url,
        provider,
        instance_id,
        principal,
        ttl_secs,
        app.clock.now(),
    )
    .await
}

/// [`issue`] from its parts, for contexts that hold a [`LinkKey`] without the OAuth flow's
/// state store (a tool call answering `connection_required` with a link for its user).
pub async fn sign(
    key: &LinkKey,
    public_url: &str,
    provider: &str,
    instance_id: &str,
    principal: Option<&str>,
    ttl_secs: u64,
    now: u64,
) -> Result<String, LinkError> {
    if !(1..=MAX_LINK_TTL_SECS).contains(&ttl_secs) {
        return Err(LinkError::BadTtl(ttl_secs));
    }
    let link = StartLink {
        provider: provider.to_owned(),
        instance_id: instance_id.to_owned(),
        principal: principal.map(str::to_owned),
        expires_at: now + ttl_secs,
        nonce: pkce::random_token(),
    };
    let query = link.query(&key.get().await?)?;
    Ok(format!("{public_url}/oauth/{provider}/start?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from("0123456789abcdef0123456789abcdef0123456789abcdef")
    }

    fn link() -> StartLink {
        StartLink {
            provider: "google".into(),
            instance_id: "acme-google".into(),
            principal: Some("ada@example.com".into()),
            expires_at: 1_000,
            nonce: "n0nce".into(),
        }
    }

    fn parsed(query: &str) -> HashMap<String, String> {
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let query = parsed(&link().query(&key()).expect("signed"));
        assert_eq!(StartLink::verify("google", &query, &key(), 999), Ok(link()));
        assert_eq!(
            StartLink::verify("google", &query, &key(), 1_000),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn every_field_is_covered_by_the_signature() {
        let good = parsed(&link().query(&key()).expect("signed"));
        for (field, value) in [
            ("instance_id", "other-instance"),
            ("for", "mallory@example.com"),
            ("exp", "999999"),
            ("nonce", "another"),
            ("sig", "AAAA"),
        ] {
            let mut forged = good.clone();
            forged.insert(field.into(), value.into());
            assert_eq!(
                StartLink::verify("google", &forged, &key(), 10),
                Err(LinkError::Invalid),
                "{field}"
            );
        }
        let mut unprincipled = good.clone();
        unprincipled.remove("for");
        assert_eq!(
            StartLink::verify("google", &unprincipled, &key(), 10),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            StartLink::verify("slack", &good, &key(), 10),
            Err(LinkError::Invalid),
            "a link is for one provider's route"
        );
        let other_key = SecretString::from("another key of at least thirty-two characters");
        assert_eq!(
            StartLink::verify("google", &good, &other_key, 10),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn a_bare_instance_id_is_not_a_link() {
        let query = parsed("instance_id=acme-google");
        assert_eq!(
            StartLink::verify("google", &query, &key(), 10),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            link().query(&SecretString::from("short")),
            Err(LinkError::WeakKey)
        );
    }
}
