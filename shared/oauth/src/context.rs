//! What the OAuth function, the token refresher and token users (tools) hold per warm process.

use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use switchyard_aws::audit::AuditLog;
use switchyard_aws::clients::AwsClients;
use switchyard_aws::connections::ConnectionStore;
use switchyard_aws::crypto::Keyring;
use switchyard_aws::instances::InstanceStore;
use switchyard_aws::sink::EventSink;
use switchyard_aws::{StartError, Startup};
use switchyard_core::clock::Clock;
use switchyard_core::config::{self, needs, Limits, Resources};
use switchyard_providers::Registry;

use crate::links::LinkKey;
use crate::opened::OpenedTokens;
use crate::state::StateStore;
use crate::turns::Turns;

/// The token vault: connections and their sealed tokens, refresh leases, the provider HTTP
/// client, and the integration events a lost grant publishes.
#[derive(Debug)]
pub struct Vault {
    pub registry: Registry,
    pub limits: Limits,
    pub clock: Clock,
    pub instances: InstanceStore,
    pub connections: ConnectionStore,
    pub keyring: Keyring,
    pub sink: EventSink,
    pub audit: AuditLog,
    /// Who is acting, for the audit log.
    pub actor: String,
    /// The public base URL of the HTTP API (OAuth redirect URIs are built from it).
    pub public_url: String,
    /// Failure-injection points; nothing is set outside tests.
    pub hooks: Hooks,
    /// One HTTP client per cold start for provider calls, built on first use: loading the
    /// system's certificates costs milliseconds of cold start.
    http: OnceLock<reqwest::Client>,
    /// Which connection this process is refreshing (one lease attempt per burst of callers).
    pub(crate) refresh_turns: Turns,
    /// Access tokens this process decrypted, by connection version (one KMS call per version).
    pub(crate) opened_tokens: OpenedTokens,
}

impl Vault {
    /// The token refresher's context, from its environment.
    pub async fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::TOKEN_REFRESHER)?;
        let registry = Registry::load()?;
        Ok(Self::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        ))
    }

    /// From parts: DynamoDB, KMS, EventBridge and S3 (large events) clients.
    pub fn new(
        aws: &AwsClients,
        resources: &Resources,
        registry: Registry,
        limits: Limits,
        clock: Clock,
    ) -> Self {
        let dynamodb = aws.dynamodb();
        Self {
            registry,
            instances: InstanceStore::new(aws, &resources.instances_table),
            connections: ConnectionStore::new(dynamodb, &resources.connections_table),
            keyring: Keyring::new(aws.wire(), &resources.kms_key_id),
            sink: EventSink::new(aws.wire(), &resources.event_bus, &resources.payload_bucket),
            audit: AuditLog::new(aws, &resources.audit_table),
            actor: config::actor(),
            public_url: std::env::var("SWITCHYARD_PUBLIC_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:3000".into()),
            hooks: Hooks::default(),
            http: OnceLock::new(),
            refresh_turns: Turns::default(),
            opened_tokens: OpenedTokens::default(),
            limits,
            clock,
        }
    }

    /// The HTTP client for provider calls.
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(switchyard_egress::http_client)
    }
}

/// The OAuth function (consent start and callback): the vault, pending authorizations and the
/// key that signs start links.
#[derive(Debug)]
pub struct OAuth {
    pub vault: Arc<Vault>,
    pub states: StateStore,
    /// The key signing OAuth start links, read on first use.
    pub link_key: LinkKey,
}

impl OAuth {
    /// The OAuth function's context, from its environment; refuses to start without an
    /// absolute public base URL (every redirect URI would be relative).
    pub async fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::OAUTH)?;
        let url = std::env::var("SWITCHYARD_PUBLIC_URL").ok();
        let registry = Registry::load()?;
        let mut vault = Vault::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        );
        vault.public_url = config::public_base_url(url.as_deref())?;
        Ok(Self::new(&start.aws, &start.resources, Arc::new(vault)))
    }

    /// From parts: the vault plus a DynamoDB and a Secrets Manager client.
    pub fn new(aws: &AwsClients, resources: &Resources, vault: Arc<Vault>) -> Self {
        Self {
            states: StateStore::new(aws.dynamodb(), &resources.states_table),
            link_key: LinkKey::new(aws.secrets(), &resources.oauth_link_key_secret),
            vault,
        }
    }
}

impl Deref for OAuth {
    type Target = Vault;

    fn deref(&self) -> &Vault {
        &self.vault
    }
}

/// A callback run at a named point of a flow (tests simulate crashes with it).
type Hook = Arc<dyn Fn() + Send + Sync>;

/// Failure-injection points of the vault. Nothing is registered outside tests.
#[derive(Default)]
pub struct Hooks {
    after_refresh_persisted: Mutex<Option<Hook>>,
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
