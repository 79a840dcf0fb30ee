//! `App`: everything a function needs, built once per cold start.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::audit::AuditLog;
use crate::aws::AwsClients;
use crate::clock::Clock;
use crate::config::{ConfigError, Limits, Resources};
use crate::connections::ConnectionStore;
use crate::crypto::Keyring;
use crate::deliveries::DeliveryStore;
use crate::ingest::VerifierCache;
use crate::instances::InstanceStore;
use crate::oauth::state::StateStore;
use crate::providers::{DefinitionError, Registry};
use crate::queue::IngressQueue;
use crate::sink::EventSink;

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Definitions(#[from] DefinitionError),
    #[error("integration definitions: {0}")]
    Tools(String),
}

/// Clients, stores, definitions and limits, shared by every invocation of a warm function.
#[derive(Debug)]
pub struct App {
    pub registry: Registry,
    pub resources: Resources,
    pub limits: Limits,
    pub aws: AwsClients,
    pub instances: InstanceStore,
    pub deliveries: DeliveryStore,
    pub queue: IngressQueue,
    pub keyring: Keyring,
    pub sink: EventSink,
    pub clock: Clock,
    pub states: StateStore,
    pub connections: ConnectionStore,
    pub audit: AuditLog,
    pub platform_keys: crate::keys::PlatformKeys,
    /// The key signing OAuth start links, read on first use.
    pub link_key: crate::oauth::links::LinkKey,
    /// Tool method definitions, checked and compiled once per cold start, on first use (tool
    /// Lambdas load them during init).
    catalog: OnceLock<Result<crate::tools::definitions::Catalog, String>>,
    pub tool_state: crate::tools::state::ToolState,
    pub receipts: crate::tools::receipts::ReceiptStore,
    pub cursors: crate::cursors::CursorStore,
    /// Which connection this process is refreshing (one lease attempt per burst of callers).
    pub(crate) refresh_turns: crate::oauth::turns::Turns,
    /// Access tokens this process decrypted, by connection version (one KMS call per version).
    pub(crate) opened_tokens: crate::oauth::opened::OpenedTokens,
    /// Discord rate-limit buckets seen by this warm process.
    pub buckets: crate::tools::outbound::Buckets,
    /// The SSRF-safe client behind `http.secure_http_request`, built on first use.
    secure_http: OnceLock<crate::tools::secure_http::SecureHttp>,
    /// One HTTP client per cold start for provider calls (token endpoints, tools), built on
    /// first use: a webhook never needs it, and loading the system's certificates costs
    /// milliseconds of cold start.
    http: OnceLock<reqwest::Client>,
    /// The public base URL of the HTTP API (OAuth redirect URIs are built from it).
    pub public_url: String,
    /// Who is acting, for the audit log (`cli:<user>`, `function:<name>`, `local-host`).
    pub actor: String,
    /// Failure-injection points for tests; empty in production.
    pub hooks: Hooks,
    pub(crate) verifiers: VerifierCache,
}

/// A callback run at a named point of a flow (tests simulate crashes with it).
type Hook = Arc<dyn Fn() + Send + Sync>;

/// Failure-injection points. Nothing is registered outside tests.
#[derive(Default)]
pub struct Hooks {
    after_refresh_persisted: Mutex<Option<Hook>>,
    crash_after_claim: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}

impl Hooks {
    /// Runs `hook` right after refreshed tokens were persisted, before they are used.
    pub fn set_after_refresh_persisted(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut slot) = self.after_refresh_persisted.lock() {
            *slot = Some(Arc::new(hook));
        }
    }

    /// Makes webhook ingress stop right after claiming, as a function killed there would: the
    /// claims stay, nothing is queued or released, the provider sees an error.
    pub fn set_crash_after_claim(&self, crash: bool) {
        self.crash_after_claim
            .store(crash, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn crash_after_claim(&self) -> bool {
        self.crash_after_claim
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn after_refresh_persisted(&self) {
        let hook = self
            .after_refresh_persisted
            .lock()
            .ok()
            .and_then(|slot| slot.clone());
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// The HTTP client for provider calls: rustls on the AWS SDK's crypto provider, short timeouts.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

fn default_actor() -> String {
    if let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        return format!("function:{function}");
    }
    match std::env::var("SWITCHYARD_ACTOR").or_else(|_| std::env::var("USER")) {
        Ok(user) => format!("cli:{user}"),
        Err(_) => "unknown".into(),
    }
}

impl App {
    /// From the environment, as a Lambda of the given `needs` has it: only the resources its
    /// template entry names. (The CLI and local host also accept a stack prefix:
    /// `switchyard_ops::app_from_env`.)
    pub async fn from_env(needs: &[crate::config::Need]) -> Result<Self, AppError> {
        let aws = AwsClients::from_env().await;
        let resources = Resources::from_env_for(needs)?;
        let clock = crate::config::clock(
            std::env::var("SWITCHYARD_CLOCK_PIN").ok().as_deref(),
            std::env::var("AWS_ENDPOINT_URL").ok().as_deref(),
        )?;
        let app = Self::new(aws, resources, Limits::from_env()?, clock)?;
        // The OAuth function builds redirect URIs: refuse to start without an absolute base.
        if needs.contains(&crate::config::Need::OAuthStates) {
            let url = std::env::var("SWITCHYARD_PUBLIC_URL").ok();
            return Ok(app.with_public_url(crate::config::public_base_url(url.as_deref())?));
        }
        Ok(app)
    }

    /// The same app with another public URL (the local host knows its port only once bound).
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self
    }

    /// The same app caching platform keys for `ttl` (tests shorten it).
    pub fn with_platform_keys_ttl(mut self, ttl: Duration) -> Self {
        self.platform_keys = crate::keys::PlatformKeys::new(
            self.aws.secrets.clone(),
            &self.resources.platform_keys_secret,
            ttl,
        );
        self
    }

    /// The same app with `secure_http_request` allowed to reach these exact loopback addresses.
    /// For tests that run a fake upstream on 127.0.0.1 only; production never calls it.
    pub fn with_ssrf_exemptions(self, exempt: Vec<std::net::SocketAddr>) -> Self {
        let _ = self
            .secure_http
            .set(crate::tools::secure_http::SecureHttp::new(exempt));
        self
    }

    /// The HTTP client for provider calls.
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(http_client)
    }

    /// The tool catalog, loaded on first use.
    pub fn catalog(&self) -> Result<&crate::tools::definitions::Catalog, AppError> {
        self.catalog
            .get_or_init(|| crate::tools::definitions::Catalog::load().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| AppError::Tools(e.clone()))
    }

    /// The SSRF-safe client for `http.secure_http_request`.
    pub fn secure_http(&self) -> &crate::tools::secure_http::SecureHttp {
        self.secure_http
            .get_or_init(|| crate::tools::secure_http::SecureHttp::new(Vec::new()))
    }

    /// The same app acting as `actor` in the audit log.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// From parts (tests, the local host).
    pub fn new(
        aws: AwsClients,
        resources: Resources,
        limits: Limits,
        clock: Clock,
    ) -> Result<Self, AppError> {
        // Both the SDK and reqwest use rustls: install the one crypto provider they share
        // (cheap; the clients themselves are built on first use).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Ok(Self {
            registry: Registry::load()?,
            instances: InstanceStore::new(aws.dynamodb.clone(), &resources.instances_table),
            deliveries: DeliveryStore::new(aws.dynamodb.clone(), &resources.deliveries_table),
            queue: IngressQueue::new(
                aws.sqs.clone(),
                aws.s3.clone(),
                &resources.ingress_queue_url,
                &resources.payload_bucket,
                limits.inline_payload_bytes,
            ),
            keyring: Keyring::new(aws.kms.clone(), &resources.kms_key_id),
            sink: EventSink::new(
                aws.events.clone(),
                &resources.event_bus,
                aws.s3.clone(),
                &resources.payload_bucket,
            ),
            states: StateStore::new(aws.dynamodb.clone(), &resources.states_table),
            connections: ConnectionStore::new(aws.dynamodb.clone(), &resources.connections_table),
            audit: AuditLog::new(aws.dynamodb.clone(), &resources.audit_table),
            platform_keys: crate::keys::PlatformKeys::new(
                aws.secrets.clone(),
                &resources.platform_keys_secret,
                crate::keys::PLATFORM_KEYS_TTL,
            ),
            link_key: crate::oauth::links::LinkKey::new(
                aws.secrets.clone(),
                &resources.oauth_link_key_secret,
            ),
            http: OnceLock::new(),
            catalog: OnceLock::new(),
            tool_state: crate::tools::state::ToolState::new(
                aws.dynamodb.clone(),
                &resources.tool_state_table,
            ),
            receipts: crate::tools::receipts::ReceiptStore::new(
                aws.dynamodb.clone(),
                &resources.receipts_table,
            ),
            cursors: crate::cursors::CursorStore::new(
                aws.dynamodb.clone(),
                &resources.cursors_table,
            ),
            refresh_turns: Default::default(),
            opened_tokens: Default::default(),
            buckets: crate::tools::outbound::Buckets::default(),
            secure_http: OnceLock::new(),
            public_url: std::env::var("SWITCHYARD_PUBLIC_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:3000".into()),
            actor: default_actor(),
            hooks: Hooks::default(),
            verifiers: VerifierCache::default(),
            resources,
            limits,
            aws,
            clock,
        })
    }
}
