//! Webhook ingress: verify, answer handshakes, claim, queue, acknowledge.
//!
//! [`handle`] is what the webhook Lambda and the local host call for
//! `POST /webhooks/{provider}/{instance_id}`. The order matters:
//! 1. size limit (413) before any I/O;
//! 2. instance lookup (404 unknown, 503 store down), cached per warm process for a minute;
//! 3. signature over the raw bytes (401), then the provider's handshakes;
//! 4. one conditional `PutItem` claims the delivery key (duplicate: acknowledged, nothing queued);
//! 5. the WorkItem goes to SQS; if that fails the claim is released and the answer is 503, so
//!    the provider retries: nothing is acknowledged that was not durably queued.

pub mod discord;
pub mod slack;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::Value;

use crate::app::App;
use crate::crypto::CryptoError;
use crate::deliveries::Claim;
use crate::instances::{Instance, InstanceError};
use crate::providers::{ProviderDef, WebhookDef};
use crate::secret::SecretString;
use crate::verify::{KeyError, SignedRequest, Verifier, VerifyError};
use crate::workitem::{WorkItem, WORK_ITEM_VERSION};

/// An HTTP answer to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    /// A `Location` header (redirects).
    pub location: Option<String>,
}

impl Reply {
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            body: Vec::new(),
            location: None,
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain"),
            body: text.as_bytes().to_vec(),
            location: None,
        }
    }

    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            body: serde_json::to_vec(value).unwrap_or_default(),
            location: None,
        }
    }

    pub fn html(status: u16, html: String) -> Self {
        Self {
            status,
            content_type: Some("text/html; charset=utf-8"),
            body: html.into_bytes(),
            location: None,
        }
    }

    /// A 302 to `location`.
    pub fn redirect(location: String) -> Self {
        Self {
            location: Some(location),
            ..Self::empty(302)
        }
    }
}

/// A verified body that is not what the provider sends (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// What a verified request asks of us.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpretation {
    /// Answer now, queue nothing (handshakes, health checks).
    Reply(Reply),
    /// Claim, queue, then answer with `ack`.
    Deliver(Delivery),
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The provider's stable id, prefixed by its kind (`ev:`, `cmd:`, `ia:`).
    pub id: String,
    pub kind: String,
    pub payload: Value,
    pub ack: Reply,
}

/// Why a webhook was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown provider {0}")]
    UnknownProvider(String),
    #[error("unknown instance")]
    UnknownInstance,
    #[error("body of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("bad signature: {0}")]
    Signature(#[from] VerifyError),
    #[error("malformed body: {0}")]
    Malformed(#[from] Malformed),
    #[error("instance is misconfigured: {0}")]
    Misconfigured(String),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl IngestError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownProvider(_) | Self::UnknownInstance => 404,
            Self::TooLarge { .. } => 413,
            Self::Signature(_) => 401,
            Self::Malformed(_) => 400,
            Self::Misconfigured(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    /// What the caller is told: precise, but never internal detail or secrets.
    fn public_message(&self) -> String {
        match self {
            Self::Misconfigured(_) => "instance is misconfigured".into(),
            Self::Unavailable(_) => "temporarily unavailable, retry".into(),
            other => other.to_string(),
        }
    }

    /// The error as the HTTP answer.
    pub fn reply(&self) -> Reply {
        Reply::json(
            self.status(),
            &serde_json::json!({"error": self.public_message()}),
        )
    }
}

impl From<InstanceError> for IngestError {
    fn from(e: InstanceError) -> Self {
        match e {
            InstanceError::NotFound(_) | InstanceError::BadId(_) => Self::UnknownInstance,
            InstanceError::Corrupt { .. } => Self::Misconfigured(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<CryptoError> for IngestError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Corrupt => Self::Misconfigured(e.to_string()),
            CryptoError::Kms { .. } => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<KeyError> for IngestError {
    fn from(e: KeyError) -> Self {
        Self::Misconfigured(e.to_string())
    }
}

/// An instance ready to verify its webhooks.
#[derive(Debug)]
pub struct ResolvedInstance {
    pub instance: Instance,
    pub verifier: Verifier,
}

/// Verifiers of recently seen instances, so a warm Lambda decrypts each secret once a minute
/// rather than once a request. Correctness never depends on it: a miss just reads the store.
#[derive(Debug, Default)]
pub struct VerifierCache(Mutex<HashMap<String, (Arc<ResolvedInstance>, Instant)>>);

const CACHE_TTL: Duration = Duration::from_secs(60);

impl VerifierCache {
    fn get(&self, id: &str) -> Option<Arc<ResolvedInstance>> {
        let map = self.0.lock().ok()?;
        map.get(id)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(r, _)| r.clone())
    }

    fn put(&self, id: &str, resolved: Arc<ResolvedInstance>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 1000 {
                map.clear();
            }
            map.insert(id.to_owned(), (resolved, Instant::now()));
        }
    }
}

/// What [`accept`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    Reply(Reply),
    Queue { item: WorkItem, ack: Reply },
}

/// The CPU-only part of ingress: verify, interpret, build the WorkItem. No I/O.
pub fn accept(
    def: &ProviderDef,
    resolved: &ResolvedInstance,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<Accepted, IngestError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (sig_header, ts_header) = resolved.verifier.header_names();
    resolved.verifier.verify(
        SignedRequest {
            signature: header(sig_header),
            timestamp: header(ts_header),
            body,
        },
        now,
    )?;
    let interpretation = match def.id.as_str() {
        "slack" => slack::interpret(header("content-type"), body)?,
        "discord" => discord::interpret(body)?,
        other => return Err(IngestError::UnknownProvider(other.to_owned())),
    };
    let delivery = match interpretation {
        Interpretation::Reply(reply) => return Ok(Accepted::Reply(reply)),
        Interpretation::Deliver(delivery) => delivery,
    };
    let instance = &resolved.instance;
    let item = WorkItem {
        v: WORK_ITEM_VERSION,
        id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
        delivery_key: format!("{}#{}#{}", def.id, instance.id, delivery.id),
        provider: def.id.clone(),
        instance_id: instance.id.clone(),
        kind: delivery.kind,
        received_at: now,
        retry_num: header("x-slack-retry-num").and_then(|v| v.parse().ok()),
        payload: Some(delivery.payload),
        payload_ref: None,
    };
    Ok(Accepted::Queue {
        item,
        ack: delivery.ack,
    })
}

/// Handles one webhook request end to end; always produces an answer.
pub async fn handle(
    app: &App,
    provider: &str,
    instance_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    match handle_inner(app, provider, instance_id, headers, body).await {
        Ok(reply) => reply,
        Err(e) => {
            let status = e.status();
            if status >= 500 {
                tracing::error!(provider, instance_id, status, error = %e, "webhook failed");
            } else {
                tracing::warn!(provider, instance_id, status, error = %e, "webhook refused");
            }
            e.reply()
        }
    }
}

async fn handle_inner(
    app: &App,
    provider: &str,
    instance_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, IngestError> {
    let def = app
        .registry
        .get(provider)
        .ok_or_else(|| IngestError::UnknownProvider(provider.to_owned()))?;
    let webhook = def
        .webhook
        .as_ref()
        .ok_or_else(|| IngestError::UnknownProvider(provider.to_owned()))?;
    let limit = app.limits.max_body_bytes;
    if body.len() > limit {
        return Err(IngestError::TooLarge {
            size: body.len(),
            limit,
        });
    }
    let resolved = resolve(app, def, webhook, instance_id).await?;
    let now = app.clock.now();
    let (item, ack) = match accept(def, &resolved, headers, body, now)? {
        Accepted::Reply(reply) => return Ok(reply),
        Accepted::Queue { item, ack } => (item, ack),
    };
    let claim = Claim {
        key: &item.delivery_key,
        work_item_id: &item.id,
        provider: &item.provider,
        instance_id: &item.instance_id,
        kind: &item.kind,
        ttl_secs: webhook.dedup_ttl_secs,
    };
    let claimed = app
        .deliveries
        .claim(&claim, now)
        .await
        .map_err(|e| IngestError::Unavailable(e.to_string()))?;
    if !claimed {
        tracing::info!(provider, instance_id, key = %item.delivery_key, "duplicate delivery acknowledged");
        return Ok(ack);
    }
    if let Err(e) = app.queue.send(&item).await {
        if let Err(release) = app.deliveries.release(&item.delivery_key, &item.id).await {
            tracing::error!(key = %item.delivery_key, error = %release, "could not release claim after queue failure");
        }
        return Err(IngestError::Unavailable(e.to_string()));
    }
    tracing::info!(provider, instance_id, work_item = %item.id, kind = %item.kind, "queued");
    Ok(ack)
}

async fn resolve(
    app: &App,
    def: &ProviderDef,
    webhook: &WebhookDef,
    instance_id: &str,
) -> Result<Arc<ResolvedInstance>, IngestError> {
    if let Some(hit) = app.verifiers.get(instance_id) {
        if hit.instance.provider == def.id {
            return Ok(hit);
        }
        return Err(IngestError::UnknownInstance);
    }
    let instance = app
        .instances
        .get(instance_id)
        .await?
        .filter(|i| i.provider == def.id)
        .ok_or(IngestError::UnknownInstance)?;
    let secrets = match &instance.sealed {
        Some(sealed) => app.keyring.open(&instance.id, sealed).await?,
        None => Default::default(),
    };
    let config: HashMap<&str, SecretString> = instance
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), SecretString::from(v.as_str())))
        .collect();
    let verifier = Verifier::new(&webhook.signature, |key| {
        secrets.get(key).or_else(|| config.get(key))
    })?;
    let resolved = Arc::new(ResolvedInstance { instance, verifier });
    app.verifiers.put(instance_id, resolved.clone());
    Ok(resolved)
}
