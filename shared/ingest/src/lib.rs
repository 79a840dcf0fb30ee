//! Webhook ingress: verify, answer handshakes, bind the tenant, claim, queue, acknowledge.
//!
//! [`handle`] is what the webhook Lambda and the local host call for
//! `POST|GET /webhooks/{provider}/{instance_id}`. The order matters:
//! 1. size limit (413) before any I/O;
//! 2. instance lookup (404 unknown, 503 store down), cached per warm process for a minute;
//! 3. the handshakes that come unsigned: Meta's `GET ?hub.challenge` (checked against the
//!    instance's verify token, 403 otherwise) and Notion's one-time verification token;
//! 4. signature over the raw bytes (401), then the provider's plugin says what the request is;
//!    schemes checked against fetched material first fetch it, within the request's deadline
//!    (an OIDC key set, cached; the stored push channel, read consistently, never cached);
//! 5. tenant binding: what the provider signed (team, app, shop, account) must match the
//!    instance, else a handshake gets 403 and a delivery is acknowledged, recorded, not queued;
//! 6. one conditional `PutItem` per event claims its delivery key (duplicate: acknowledged);
//! 7. the WorkItems go to SQS; if that fails the claims are released and the answer is 503, so
//!    the provider retries. A claim whose handler died before queueing blocks duplicates only
//!    for the claim window (`Limits::claim_secs`, longer than the function's timeout): a retry
//!    after it is accepted and queued, and the consumer's outcome record keeps publishing to
//!    exactly once. Nothing acknowledged is lost.

pub mod consumer;
mod context;
pub mod effects;
#[cfg(test)]
mod fuzz_tests;
mod handshake;
pub mod jwks;
pub mod uninstalled;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt as _};
use http::HeaderMap;

use crate::crypto::CryptoError;
use crate::deliveries::Claim;
use crate::instances::{Instance, InstanceError};
pub use crate::providers::plugin::{
    tenant_mismatch, Delivery, Inbound, Interpretation, Malformed, TenantFact,
};
use crate::providers::{ProviderDef, WebhookDef, WebhookPlugin, WebhookQueue};
pub use crate::reply::Reply;
use crate::secret::SecretString;
use crate::verify::{Fetched, KeyError, Lookup, StoredChannel, Verifier, VerifyError};
use crate::workitem::{WorkItem, WORK_ITEM_VERSION};
pub use context::{Consumer, Hooks, Ingress};
use switchyard_aws::{crypto, deliveries, events, instances, queue, sink};
use switchyard_core::{reply, secret, workitem};
use switchyard_providers as providers;
use switchyard_providers::verify;

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
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
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
            Self::Forbidden(_) => 403,
            Self::MethodNotAllowed(_) => 405,
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

/// A webhook request as the Lambda adapter or the local host received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `POST` for deliveries; `GET` only for handshakes (Meta's subscription check).
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub body: &'a [u8],
}

/// An instance ready to verify its webhooks.
#[derive(Debug)]
pub struct ResolvedInstance {
    pub instance: Instance,
    /// A configuration problem (no key yet, say) surfaces only when a signed request needs it:
    /// Notion's verification request comes before its key exists.
    pub verifier: Result<Verifier, KeyError>,
    /// The instance's secrets that handshakes compare against (Meta's verify token), by key.
    handshake_secrets: HashMap<String, SecretString>,
}

impl ResolvedInstance {
    /// An instance with its verifier and no handshake secrets (benches, tests).
    pub fn new(instance: Instance, verifier: Verifier) -> Self {
        Self {
            instance,
            verifier: Ok(verifier),
            handshake_secrets: HashMap::new(),
        }
    }
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

    /// Forgets every cached verifier of instance `id`.
    fn forget(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|key, _| key.rsplit_once('#').map(|(_, i)| i) != Some(id));
        }
    }
}

/// What [`accept`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    Reply(Reply),
    Queue {
        items: Vec<WorkItem>,
        /// Deliveries whose tenant did not match the instance: acknowledged, recorded, dropped.
        refused: Vec<WorkItem>,
        ack: Reply,
    },
}

/// The CPU-only part of ingress: verify, interpret, bind the tenant, build the WorkItems.
pub fn accept(
    def: &ProviderDef,
    plugin: &dyn WebhookPlugin,
    resolved: &ResolvedInstance,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<Accepted, IngestError> {
    accept_with(def, plugin, resolved, headers, body, now, Fetched::Nothing)
}

/// [`accept`] with the material the scheme's [`Verifier::lookup`] asked for.
pub fn accept_with(
    def: &ProviderDef,
    plugin: &dyn WebhookPlugin,
    resolved: &ResolvedInstance,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    fetched: Fetched<'_>,
) -> Result<Accepted, IngestError> {
    let verifier = resolved
        .verifier
        .as_ref()
        .map_err(|e| IngestError::from(e.clone()))?;
    let facts = &verifier.verify_with(headers, body, now, fetched)?;
    let instance = &resolved.instance;
    let (deliveries, ack) = match plugin.interpret(&Inbound {
        headers,
        body,
        facts,
    })? {
        Interpretation::Reply { reply, tenant } => {
            if let Some(mismatch) = tenant_mismatch(&instance.config, &tenant) {
                return Err(IngestError::Forbidden(mismatch));
            }
            return Ok(Accepted::Reply(reply));
        }
        Interpretation::Deliver { deliveries, ack } => (deliveries, ack),
    };
    let retry_num = headers
        .get("x-slack-retry-num")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut items = Vec::with_capacity(deliveries.len());
    let mut refused = Vec::new();
    for delivery in deliveries {
        let mismatch = tenant_mismatch(&instance.config, &delivery.tenant);
        let item = WorkItem {
            v: WORK_ITEM_VERSION,
            id: format!("wi_{}", uuid::Uuid::new_v4().simple()),
            delivery_key: format!("{}#{}#{}", def.id, instance.id, delivery.id),
            provider: def.id.clone(),
            instance_id: instance.id.clone(),
            kind: delivery.kind,
            received_at: now,
            retry_num,
            payload: Some(delivery.payload),
            payload_ref: None,
            event: delivery.event,
        };
        match mismatch {
            Some(why) => {
                tracing::warn!(provider = %def.id, instance_id = %instance.id, key = %item.delivery_key, why, "tenant mismatch: acknowledged, not delivered");
                refused.push(item);
            }
            None => items.push(item),
        }
    }
    Ok(Accepted::Queue {
        items,
        refused,
        ack,
    })
}

/// Handles one webhook request end to end; always produces an answer.
pub async fn handle(
    app: &Ingress,
    provider: &str,
    instance_id: &str,
    request: WebhookRequest<'_>,
) -> Reply {
    match handle_inner(app, provider, instance_id, request).await {
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
    app: &Ingress,
    provider: &str,
    instance_id: &str,
    request: WebhookRequest<'_>,
) -> Result<Reply, IngestError> {
    let unknown = || IngestError::UnknownProvider(provider.to_owned());
    let def = app.registry.get(provider).ok_or_else(unknown)?;
    let webhook = def.webhook.as_ref().ok_or_else(unknown)?;
    let plugin = app.registry.plugin(provider).ok_or_else(unknown)?;
    let limit = app.limits.max_body_bytes;
    if request.body.len() > limit {
        return Err(IngestError::TooLarge {
            size: request.body.len(),
            limit,
        });
    }
    let resolved = resolve(app, def, webhook, instance_id).await?;
    if request.method.eq_ignore_ascii_case("GET") {
        return handshake::hub_challenge(webhook, &resolved, request.query);
    }
    if !request.method.eq_ignore_ascii_case("POST") {
        return Err(IngestError::MethodNotAllowed(request.method.to_owned()));
    }
    if let Some(reply) = handshake::verification_token(app, webhook, &resolved, request).await? {
        return Ok(reply);
    }
    let deadline = tokio::time::Instant::now() + VERIFY_BUDGET;
    let material = fetch_material(app, &resolved, request.headers, deadline).await?;
    let fetched = material.as_fetched(&resolved.instance.id);
    let now = app.clock.now();
    let (items, refused, ack) = match accept_with(
        def,
        plugin,
        &resolved,
        request.headers,
        request.body,
        now,
        fetched,
    )? {
        Accepted::Reply(reply) => return Ok(reply),
        Accepted::Queue {
            items,
            refused,
            ack,
        } => (items, refused, ack),
    };
    for item in &refused {
        if let Err(e) = app
            .deliveries
            .record_unqueued(item, "refused_tenant_mismatch", webhook.dedup_ttl_secs, now)
            .await
        {
            tracing::warn!(key = %item.delivery_key, error = %e, "could not record a refused delivery");
        }
    }
    if let Some(reply) = plugin.unrouted_reply() {
        if !items.is_empty() && items.iter().all(|i| !routed(plugin, &resolved.instance, i)) {
            tracing::info!(
                provider,
                instance_id,
                "no granted agent takes it here; answered at once"
            );
            return Ok(reply);
        }
    }
    claim_and_queue(app, webhook, &items, now).await?;
    Ok(ack)
}

/// How long fetching verification material may take: the webhook function has 3 s, and the
/// claim and queue writes come after.
const VERIFY_BUDGET: Duration = Duration::from_millis(1500);

/// Verification material fetched for one request, owned.
#[derive(Debug)]
enum Material {
    Nothing,
    Jwks(Arc<providers::jwt::JwkSet>),
    Channel(Option<StoredChannel>),
}

impl Material {
    fn as_fetched<'a>(&'a self, instance_id: &'a str) -> Fetched<'a> {
        match self {
            Self::Nothing => Fetched::Nothing,
            Self::Jwks(keys) => Fetched::Jwks(keys),
            Self::Channel(channel) => Fetched::Channel {
                channel: channel.as_ref(),
                instance_id,
            },
        }
    }
}

/// Fetches what the instance's scheme checks against (nothing for signature schemes), by
/// `deadline`. A request the scheme refuses on its face (no token, a wrong algorithm) costs no
/// fetch; a store or key set that cannot answer is 503, so the provider retries.
async fn fetch_material(
    app: &Ingress,
    resolved: &ResolvedInstance,
    headers: &HeaderMap,
    deadline: tokio::time::Instant,
) -> Result<Material, IngestError> {
    let Ok(verifier) = resolved.verifier.as_ref() else {
        return Ok(Material::Nothing);
    };
    match verifier.lookup(headers)? {
        Lookup::Nothing => Ok(Material::Nothing),
        Lookup::Jwks { url, kid } => app
            .jwks
            .keys_for(url, &kid, deadline)
            .await
            .map(Material::Jwks)
            .map_err(|e| IngestError::Unavailable(e.to_string())),
        Lookup::Channel { id } => {
            let channel = tokio::time::timeout_at(deadline, app.watches.channel(&id))
                .await
                .map_err(|_| IngestError::Unavailable("watch store timed out".into()))?
                .map_err(|e| IngestError::Unavailable(e.to_string()))?;
            Ok(Material::Channel(channel.map(|c| StoredChannel {
                id: c.id,
                instance_id: c.instance_id,
                watch_id: c.watch_id,
                resource_id: c.resource_id,
                token_sha256: c.token_sha256,
                expires_at: c.expires_at,
            })))
        }
    }
}

/// Whether any granted agent's policy takes `item` (the consumer decides the same way later).
fn routed(plugin: &dyn WebhookPlugin, instance: &Instance, item: &WorkItem) -> bool {
    let Some(payload) = &item.payload else {
        return true;
    };
    plugin
        .normalize(item, payload)
        .is_some_and(|n| !crate::events::for_agents(item, instance, &n, payload).is_empty())
}

/// Claims every item's delivery key (one conditional write each) and queues the ones claimed;
/// duplicates are dropped. Used by webhooks and by pollers that produce the same events.
/// Returns how many were queued.
pub async fn claim_and_queue(
    app: &Ingress,
    webhook: &WebhookDef,
    items: &[WorkItem],
    now: u64,
) -> Result<usize, IngestError> {
    // Futures built first: a lazy `map` closure in the stream trips the Send check of handlers.
    let pending: Vec<_> = items
        .iter()
        .map(|item| claim(app, webhook, item, now))
        .collect();
    let claims = stream::iter(pending)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut claimed = Vec::with_capacity(claims.len());
    let mut failure = None;
    for result in claims {
        match result {
            Ok((item, true)) => claimed.push(item),
            Ok((item, false)) => {
                tracing::info!(key = %item.delivery_key, "duplicate delivery acknowledged");
            }
            Err(e) => failure = Some(e),
        }
    }
    if app.hooks.crash_after_claim() {
        return Err(IngestError::Unavailable(
            "injected crash after claim".into(),
        ));
    }
    let queue = match webhook.queue {
        WebhookQueue::Ingress => &app.queue,
        WebhookQueue::Sync => &app.sync_queue,
    };
    let unqueued = match queue.send_all(&claimed).await {
        Ok(()) => Vec::new(),
        Err(failed) => failed,
    };
    for (item, error) in &unqueued {
        tracing::error!(key = %item.delivery_key, %error, "could not queue; releasing the claim");
        if let Err(release) = app.deliveries.release(&item.delivery_key, &item.id).await {
            tracing::error!(key = %item.delivery_key, error = %release, "could not release claim after queue failure");
        }
    }
    for item in &claimed {
        if !unqueued.iter().any(|(u, _)| u.id == item.id) {
            tracing::info!(provider = %item.provider, instance_id = %item.instance_id, work_item = %item.id, kind = %item.kind, "queued");
        }
    }
    if let Some((_, error)) = unqueued.into_iter().next() {
        return Err(IngestError::Unavailable(error.to_string()));
    }
    // Some claims could not be written: the provider must retry (claimed ones dedup then).
    if let Some(e) = failure {
        return Err(IngestError::Unavailable(e.to_string()));
    }
    Ok(claimed.len())
}

async fn claim<'a>(
    app: &Ingress,
    webhook: &WebhookDef,
    item: &'a WorkItem,
    now: u64,
) -> Result<(&'a WorkItem, bool), crate::deliveries::DeliveryError> {
    let claim = Claim {
        key: &item.delivery_key,
        work_item_id: &item.id,
        provider: &item.provider,
        instance_id: &item.instance_id,
        kind: &item.kind,
        ttl_secs: webhook.dedup_ttl_secs,
        claim_secs: app.limits.claim_secs,
    };
    app.deliveries
        .claim(&claim, now)
        .await
        .map(|won| (item, won))
}

async fn resolve(
    app: &Ingress,
    def: &ProviderDef,
    webhook: &WebhookDef,
    instance_id: &str,
) -> Result<Arc<ResolvedInstance>, IngestError> {
    // The provider whose instances this definition serves (Google's push endpoints serve
    // `google` instances).
    let served = def.instance_provider();
    // Keyed by definition too: one instance is verified differently by each definition that
    // serves it (the local host serves them all from one process).
    let cache_key = format!("{}#{instance_id}", def.id);
    if let Some(hit) = app.verifiers.get(&cache_key) {
        if hit.instance.provider == served {
            return Ok(hit);
        }
        return Err(IngestError::UnknownInstance);
    }
    let instance = app
        .instances
        .get(instance_id)
        .await?
        .filter(|i| i.provider == served)
        .ok_or(IngestError::UnknownInstance)?;
    // Schemes whose key material is public or stored apart never open the instance's secrets.
    let secrets = match &instance.sealed {
        Some(sealed) if webhook.signature.reads_sealed_secrets() => {
            app.keyring.open(&instance.id, sealed).await?
        }
        _ => Default::default(),
    };
    let config: HashMap<&str, SecretString> = instance
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), SecretString::from(v.as_str())))
        .collect();
    let lookup = |key: &str| secrets.get(key).or_else(|| config.get(key));
    let verifier = Verifier::new(&webhook.signature, lookup);
    let handshake_secrets = handshake::fields(webhook)
        .filter_map(|field| Some((field.to_owned(), lookup(field)?.clone())))
        .collect();
    let resolved = Arc::new(ResolvedInstance {
        instance,
        verifier,
        handshake_secrets,
    });
    app.verifiers.put(&cache_key, resolved.clone());
    Ok(resolved)
}
