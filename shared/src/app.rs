//! `App`: every function's context over one set of clients, for the CLI, the local host and the
//! tests (which play every function at once). The contexts are built on first use, so the
//! `with_*` settings apply to all of them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchyard_aws::artifacts::ArtifactStore;
use switchyard_aws::audit::AuditLog;
use switchyard_aws::clients::AwsClients;
use switchyard_aws::connections::ConnectionStore;
use switchyard_aws::crypto::Keyring;
use switchyard_aws::cursors::CursorStore;
use switchyard_aws::deliveries::DeliveryStore;
use switchyard_aws::instances::InstanceStore;
use switchyard_aws::queue::IngressQueue;
use switchyard_aws::sink::EventSink;
use switchyard_aws::watches::WatchStore;
use switchyard_aws::StartError;
use switchyard_core::clock::Clock;
use switchyard_core::config::{self, Limits, Resources};
use switchyard_google::GoogleSync;
use switchyard_ingest::{Consumer, Ingress};
use switchyard_oauth::keys::{Keys, PLATFORM_KEYS_TTL};
use switchyard_oauth::{OAuth, Vault};
use switchyard_providers::Registry;
use switchyard_tools::retention::Sweeper;
use switchyard_tools::{NotionPoller, Tools};

/// Why the app could not start.
pub type AppError = StartError;

/// Stores over one set of clients, and every function's context, built on first use.
#[derive(Debug)]
pub struct App {
    pub registry: Registry,
    pub resources: Resources,
    pub limits: Limits,
    pub aws: AwsClients,
    pub clock: Clock,
    pub instances: InstanceStore,
    pub deliveries: DeliveryStore,
    pub connections: ConnectionStore,
    pub cursors: CursorStore,
    pub watches: WatchStore,
    pub artifacts: ArtifactStore,
    pub queue: IngressQueue,
    pub keyring: Keyring,
    pub sink: EventSink,
    pub audit: AuditLog,
    /// The public base URL of the HTTP API (OAuth redirect URIs are built from it).
    pub public_url: String,
    /// Who is acting, for the audit log (`cli:<user>`, `function:<name>`, `local-host`).
    pub actor: String,
    platform_keys_ttl: Duration,
    /// Settings of the Google sync worker and renewer (from the environment; tests set them).
    google_settings: switchyard_google::Settings,
    ssrf_exemptions: Vec<std::net::SocketAddr>,
    /// The MCP endpoint's settings when set by `with_mcp` (else from the environment).
    mcp: Option<(
        switchyard_mcp::Settings,
        Option<Arc<dyn switchyard_mcp::AgentTokenAuthenticator>>,
    )>,
    contexts: Contexts,
}

#[derive(Debug, Default)]
struct Contexts {
    ingress: OnceLock<Ingress>,
    consumer: OnceLock<Consumer>,
    vault: OnceLock<Arc<Vault>>,
    oauth: OnceLock<OAuth>,
    tools: OnceLock<Tools>,
    poller: OnceLock<NotionPoller>,
    google: OnceLock<GoogleSync>,
    retention: OnceLock<Sweeper>,
    keys: OnceLock<Keys>,
    mcp: OnceLock<switchyard_mcp::Mcp>,
    dashboard: OnceLock<switchyard_dashboard::Dashboard>,
}

impl App {
    /// From parts (tests, the local host, the CLI).
    pub fn new(
        aws: AwsClients,
        resources: Resources,
        limits: Limits,
        clock: Clock,
    ) -> Result<Self, AppError> {
        // Tests and the local host build HTTP clients of their own beside the app's.
        switchyard_egress::install_crypto_provider();
        let dynamodb = aws.dynamodb();
        let s3 = aws.s3();
        Ok(Self {
            registry: Registry::load()?,
            instances: InstanceStore::new(&aws, &resources.instances_table),
            deliveries: DeliveryStore::new(&aws, &resources.deliveries_table),
            connections: ConnectionStore::new(dynamodb.clone(), &resources.connections_table),
            cursors: CursorStore::new(dynamodb.clone(), &resources.cursors_table),
            watches: WatchStore::new(&aws, &resources.watches_table),
            artifacts: ArtifactStore::new(
                dynamodb,
                s3,
                &resources.artifacts_table,
                &resources.artifacts_bucket,
            ),
            audit: AuditLog::new(&aws, &resources.audit_table),
            queue: IngressQueue::new(
                aws.wire(),
                &resources.ingress_queue_url,
                &resources.payload_bucket,
                limits.inline_payload_bytes,
            ),
            keyring: Keyring::new(aws.wire(), &resources.kms_key_id),
            sink: EventSink::new(aws.wire(), &resources.event_bus, &resources.payload_bucket),
            public_url: std::env::var("SWITCHYARD_PUBLIC_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:3000".into()),
            actor: config::actor(),
            platform_keys_ttl: PLATFORM_KEYS_TTL,
            google_settings: switchyard_google::Settings::from_env().unwrap_or_default(),
            ssrf_exemptions: Vec::new(),
            mcp: None,
            contexts: Contexts::default(),
            resources,
            limits,
            aws,
            clock,
        })
    }

    /// The same app with another public URL (the local host knows its port only once bound).
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self.contexts = Contexts::default();
        self
    }

    /// The same app caching platform keys for `ttl` (tests shorten it).
    pub fn with_platform_keys_ttl(mut self, ttl: Duration) -> Self {
        self.platform_keys_ttl = ttl;
        self.contexts = Contexts::default();
        self
    }

    /// The same app with `secure_http_request` allowed to reach these exact loopback addresses.
    /// For tests that run a fake upstream on 127.0.0.1 only; production never calls it.
    pub fn with_ssrf_exemptions(mut self, exempt: Vec<std::net::SocketAddr>) -> Self {
        self.ssrf_exemptions = exempt;
        self.contexts = Contexts::default();
        self
    }

    /// The same app with these Google sync settings (Gmail topic, sweep age, thresholds).
    pub fn with_google_settings(mut self, settings: switchyard_google::Settings) -> Self {
        self.google_settings = settings;
        self.contexts = Contexts::default();
        self
    }

    /// The same app acting as `actor` in the audit log.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self.contexts = Contexts::default();
        self
    }

    /// Webhook ingress.
    pub fn ingress(&self) -> &Ingress {
        self.contexts.ingress.get_or_init(|| {
            let mut ingress = Ingress::new(
                &self.aws,
                &self.resources,
                self.registry.clone(),
                self.limits,
                self.clock.clone(),
            );
            ingress.actor.clone_from(&self.actor);
            ingress
        })
    }

    /// The ingress consumer.
    pub fn consumer(&self) -> &Consumer {
        self.contexts.consumer.get_or_init(|| {
            Consumer::new(
                &self.aws,
                &self.resources,
                self.registry.clone(),
                self.limits,
                self.clock.clone(),
            )
        })
    }

    /// The token vault (the token refresher's context).
    pub fn vault(&self) -> &Arc<Vault> {
        self.contexts.vault.get_or_init(|| {
            let mut vault = Vault::new(
                &self.aws,
                &self.resources,
                self.registry.clone(),
                self.limits,
                self.clock.clone(),
            );
            vault.actor.clone_from(&self.actor);
            vault.public_url.clone_from(&self.public_url);
            Arc::new(vault)
        })
    }

    /// OAuth start and callback.
    pub fn oauth(&self) -> &OAuth {
        self.contexts
            .oauth
            .get_or_init(|| OAuth::new(&self.aws, &self.resources, self.vault().clone()))
    }

    /// The same app with these MCP endpoint settings and agent token store.
    pub fn with_mcp(
        mut self,
        settings: switchyard_mcp::Settings,
        agent_tokens: Option<Arc<dyn switchyard_mcp::AgentTokenAuthenticator>>,
    ) -> Self {
        self.mcp = Some((settings, agent_tokens));
        self.contexts = Contexts::default();
        self
    }

    /// The MCP endpoint: settings from `with_mcp`, else `SWITCHYARD_MCP_*`, else the resource
    /// `<public_url>/mcp` with agent tokens only. Agent tokens are the agents table's unless
    /// The operator dashboard's context (its session key cached across requests).
    pub fn dashboard(&self) -> &switchyard_dashboard::Dashboard {
        self.contexts.dashboard.get_or_init(|| {
            switchyard_dashboard::Dashboard::new(&self.aws, &self.resources, self.clock.clone())
        })
    }

    /// `with_mcp` gave another store.
    pub fn mcp(&self) -> &switchyard_mcp::Mcp {
        self.contexts.mcp.get_or_init(|| {
            let tools = self.tools();
            let table_tokens = || -> Arc<dyn switchyard_mcp::AgentTokenAuthenticator> {
                Arc::new(switchyard_mcp::agent_tokens::AgentsTableTokens::new(
                    tools.agents.clone(),
                    tools.clock.clone(),
                ))
            };
            if let Some((settings, agent_tokens)) = &self.mcp {
                let agent_tokens = agent_tokens.clone().unwrap_or_else(table_tokens);
                return switchyard_mcp::Mcp::new(settings.clone(), Some(agent_tokens));
            }
            let settings = switchyard_mcp::Settings::from_env()
                .or_else(|e| {
                    tracing::info!(reason = %e, "MCP settings from the public URL");
                    let resource = format!("{}/mcp", self.public_url);
                    switchyard_mcp::Settings::from_values(Some(&resource), None, None, None, None)
                })
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "MCP endpoint misconfigured; serving on loopback only");
                    switchyard_mcp::Settings::from_values(
                        Some("http://127.0.0.1:3000/mcp"),
                        None,
                        None,
                        None,
                        None,
                    )
                    .expect("a loopback resource is valid")
                });
            switchyard_mcp::Mcp::new(settings, Some(table_tokens()))
        })
    }

    /// Tool methods and discovery.
    pub fn tools(&self) -> &Tools {
        self.contexts.tools.get_or_init(|| {
            Tools::new(&self.aws, &self.resources, self.vault().clone())
                .with_ssrf_exemptions(self.ssrf_exemptions.clone())
        })
    }

    /// The Notion poller.
    pub fn poller(&self) -> &NotionPoller {
        self.contexts.poller.get_or_init(|| NotionPoller {
            tools: Tools::new(&self.aws, &self.resources, self.vault().clone()),
            ingress: Ingress::new(
                &self.aws,
                &self.resources,
                self.registry.clone(),
                self.limits,
                self.clock.clone(),
            ),
            cursors: self.cursors.clone(),
        })
    }

    /// The Google sync worker and watch renewer.
    pub fn google(&self) -> &GoogleSync {
        self.contexts.google.get_or_init(|| {
            GoogleSync::new(
                &self.aws,
                &self.resources,
                self.vault().clone(),
                self.registry.clone(),
            )
            .with_settings(self.google_settings.clone())
        })
    }

    /// The retention sweep (and the workspace settings it reads).
    pub fn retention(&self) -> &Sweeper {
        self.contexts.retention.get_or_init(|| {
            Sweeper::new(
                &self.aws,
                &self.resources,
                self.clock.clone(),
                self.actor.clone(),
            )
        })
    }

    /// API keys: workspace overrides and platform keys.
    pub fn keys(&self) -> &Keys {
        self.contexts.keys.get_or_init(|| {
            let mut keys = Keys::new(
                &self.aws,
                &self.resources,
                self.clock.clone(),
                self.platform_keys_ttl,
            );
            keys.actor.clone_from(&self.actor);
            keys
        })
    }
}
