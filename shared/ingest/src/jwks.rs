//! The JSON Web Key Sets OIDC-signed webhooks are checked against (Google's signing keys for
//! Pub/Sub push), cached per warm process.
//!
//! - A set is kept for the `max-age` its response allowed (`Cache-Control`), bounded to
//!   [`MIN_MAX_AGE`]..[`MAX_MAX_AGE`]; [`DEFAULT_MAX_AGE`] when the response says nothing.
//! - A token whose `kid` the cached set lacks (Google rotated its keys) triggers one refetch,
//!   but at most one such refetch per [`UNKNOWN_KID_REFETCH_EVERY`]: a flood of tokens with
//!   made-up kids costs one fetch, not one each.
//! - A fetch is bounded by the request's deadline; a set that cannot be fetched makes the
//!   request fail with 503 (Pub/Sub retries), never pass.
//! - `SWITCHYARD_OIDC_JWKS_URL` (deployment configuration, read once at cold start) replaces
//!   every definition's `jwks_url`: the local stack and the tests point it at a loopback JWKS.
//!   Neither an instance nor a request can change where keys come from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use switchyard_providers::jwt::JwkSet;

/// A key set is cached for at least this long, whatever `max-age` says.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(60);
/// …and at most this long.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// When the response sets no `max-age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// At most one refetch for an unknown `kid` in this window.
pub const UNKNOWN_KID_REFETCH_EVERY: Duration = Duration::from_secs(60);
/// A key set is a few kilobytes; anything far larger is not one.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why no key set could be had (the request is retried later, not refused).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("key set URL {0:?} is not a valid URI")]
    BadUrl(String),
    #[error("key set fetch failed: {0}")]
    Fetch(String),
    #[error("key set fetch timed out")]
    Timeout,
    #[error("key set answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Parse(#[from] switchyard_providers::jwt::JwksError),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Key sets by URL, with the client that fetches them.
#[derive(Debug)]
pub struct JwksCache {
    /// Built at the first fetch: loading the TLS roots would cost every webhook function's cold
    /// start, and most never verify an OIDC token.
    client: OnceLock<Option<HttpsClient>>,
    /// Replaces every definition's URL (deployment configuration).
    url_override: Option<String>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Fetches so far (tests, metrics).
    fetches: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
struct Entry {
    keys: Arc<JwkSet>,
    expires: Instant,
    /// When a refetch for an unknown kid last happened.
    last_unknown_kid_refetch: Option<Instant>,
}

impl JwksCache {
    /// A cache whose sets come from `url_override` when set, else from each definition's URL.
    pub fn new(url_override: Option<String>) -> Self {
        Self {
            client: OnceLock::new(),
            url_override: url_override.filter(|u| !u.trim().is_empty()),
            entries: Mutex::new(HashMap::new()),
            fetches: Default::default(),
        }
    }

    /// From `SWITCHYARD_OIDC_JWKS_URL`: an `https://` URL, or plain `http://` on loopback only
    /// (a local stack's JWKS). Any other value is ignored, loudly, and the definitions' URLs
    /// stand: a typo must not send key fetches somewhere unauthenticated.
    pub fn from_env() -> Self {
        Self::new(override_url(
            std::env::var("SWITCHYARD_OIDC_JWKS_URL").ok().as_deref(),
        ))
    }

    fn client(&self) -> Option<&HttpsClient> {
        self.client
            .get_or_init(|| {
                let builder = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(Arc::new(
                        rustls::crypto::aws_lc_rs::default_provider(),
                    ))
                    .map_err(|e| {
                        tracing::error!(error = %e, "no TLS roots: OIDC key sets cannot be fetched");
                    })
                    .ok()?;
                let connector = builder.https_or_http().enable_http1().build();
                Some(Client::builder(TokioExecutor::new()).build(connector))
            })
            .as_ref()
    }

    /// How many key sets were fetched so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key set for `url` that should hold `kid`: the cached one while fresh (refetched once
    /// when it lacks `kid`, within the rate limit), else a new fetch, finished by `deadline`.
    pub async fn keys_for(
        &self,
        url: &str,
        kid: &str,
        deadline: Instant,
    ) -> Result<Arc<JwkSet>, JwksError> {
        let url = self.url_override.as_deref().unwrap_or(url);
        let now = Instant::now();
        let cached = self.entry(url);
        if let Some(entry) = &cached {
            let fresh = now < entry.expires;
            let rotated = !entry.keys.contains(kid);
            let may_refetch = entry
                .last_unknown_kid_refetch
                .is_none_or(|at| now.duration_since(at) >= UNKNOWN_KID_REFETCH_EVERY);
            if fresh && (!rotated || !may_refetch) {
                return Ok(entry.keys.clone());
            }
        }
        let unknown_kid = cached
            .as_ref()
            .is_some_and(|e| now < e.expires && !e.keys.contains(kid));
        let (keys, max_age) = self.fetch(url, deadline).await?;
        let keys = Arc::new(keys);
        let last_unknown_kid_refetch = if unknown_kid {
            Some(now)
        } else {
            cached.and_then(|e| e.last_unknown_kid_refetch)
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                url.to_owned(),
                Entry {
                    keys: keys.clone(),
                    expires: Instant::now() + max_age,
                    last_unknown_kid_refetch,
                },
            );
        }
        Ok(keys)
    }

    fn entry(&self, url: &str) -> Option<Entry> {
        self.entries.lock().ok()?.get(url).cloned()
    }

    async fn fetch(&self, url: &str, deadline: Instant) -> Result<(JwkSet, Duration), JwksError> {
        let client = self
            .client()
            .ok_or_else(|| JwksError::Fetch("no HTTPS client".into()))?;
        let uri: hyper::Uri = url.parse().map_err(|_| JwksError::BadUrl(url.to_owned()))?;
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request = async {
            let response = client
                .get(uri)
                .await
                .map_err(|e| JwksError::Fetch(e.to_string()))?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(JwksError::Status(status));
            }
            let max_age = response
                .headers()
                .get_all(http::header::CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(max_age);
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| JwksError::Fetch(e.to_string()))?
                .to_bytes();
            Ok((JwkSet::parse(&body)?, max_age))
        };
        let (keys, max_age) = tokio::time::timeout_at(deadline, request)
            .await
            .map_err(|_| JwksError::Timeout)??;
        let max_age = max_age
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(MIN_MAX_AGE, MAX_MAX_AGE);
        tracing::info!(
            url,
            keys = keys.len(),
            max_age_secs = max_age.as_secs(),
            "fetched OIDC key set"
        );
        Ok((keys, max_age))
    }
}

/// The override URL `value` names, if it is one a deployment may use.
fn override_url(value: Option<&str>) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let loopback = value
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .map(|authority| match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        })
        .is_some_and(|host| matches!(host, "127.0.0.1" | "[::1]" | "localhost"));
    if value.starts_with("https://") || loopback {
        Some(value.to_owned())
    } else {
        tracing::error!(
            value,
            "SWITCHYARD_OIDC_JWKS_URL must be https, or http on loopback; ignored"
        );
        None
    }
}

/// The `max-age` of one `Cache-Control` header value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, secs) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| secs.trim().trim_matches('"').parse().ok())?
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_is_https_or_loopback() {
        for ok in [
            "https://keys.example/certs",
            "http://127.0.0.1:8080/certs",
            "http://localhost/certs",
            "http://[::1]:9/certs",
        ] {
            assert_eq!(override_url(Some(ok)).as_deref(), Some(ok));
        }
        for refused in [
            "http://keys.example/certs",
            "http://127.0.0.1.evil.example/certs",
            "ftp://127.0.0.1/certs",
            "",
            "  ",
        ] {
            assert_eq!(override_url(Some(refused)), None, "{refused}");
        }
        assert_eq!(override_url(None), None);
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=23165, must-revalidate, no-transform"),
            Some(Duration::from_secs(23165))
        );
        assert_eq!(max_age("MAX-AGE=\"10\""), Some(Duration::from_secs(10)));
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
