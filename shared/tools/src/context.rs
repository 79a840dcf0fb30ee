//! What tool Lambdas and the Notion poller hold per warm process.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use switchyard_aws::agents::AgentStore;
use switchyard_aws::approvals::ApprovalStore;
use switchyard_aws::artifacts::ArtifactStore;
use switchyard_aws::clients::AwsClients;
use switchyard_aws::cursors::CursorStore;
use switchyard_aws::deferred::JobsQueue;
use switchyard_aws::intents::{IntentSchedules, IntentStore};
use switchyard_aws::jobs::JobStore;
use switchyard_aws::sessions::SessionStore;
use switchyard_aws::{StartError, Startup};
use switchyard_core::config::{needs, Resources};
use switchyard_egress::outbound::Buckets;
use switchyard_egress::secure_http::SecureHttp;
use switchyard_ingest::Ingress;
use switchyard_oauth::keys::{Keys, PLATFORM_KEYS_TTL};
use switchyard_oauth::links::LinkKey;
use switchyard_oauth::Vault;
use switchyard_providers::Registry;

use crate::definitions::Catalog;
use crate::prices::PriceTable;
use crate::receipts::ReceiptStore;
use crate::state::ToolState;

/// The integration definitions could not be loaded (a build defect: a test loads them all).
#[derive(Debug, Clone, thiserror::Error)]
#[error("integration definitions: {0}")]
pub struct CatalogUnavailable(String);

/// Tool methods: the vault for credentials, tool state (breakers, idempotency keys), receipts,
/// the definitions, and the outbound HTTP clients.
#[derive(Debug)]
pub struct Tools {
    pub vault: Arc<Vault>,
    /// API keys of providers without OAuth (the `llm.*` and `media.*` tools): the workspace's
    /// own, else the platform's.
    pub keys: Keys,
    pub tool_state: ToolState,
    pub receipts: ReceiptStore,
    /// Discord rate-limit buckets seen by this warm process.
    pub buckets: Buckets,
    /// Tool method definitions, checked and compiled once per cold start, on first use (tool
    /// Lambdas load them during init).
    catalog: OnceLock<Result<Catalog, CatalogUnavailable>>,
    /// The SSRF-safe client behind `http.secure_http_request`, built on first use.
    secure_http: OnceLock<SecureHttp>,
    /// The price table with the definitions' `aiConfig` costs, checked once per cold start.
    prices: OnceLock<Result<PriceTable, PricesUnavailable>>,
    /// Media artifacts (S3 bytes + metadata).
    pub artifacts: ArtifactStore,
    /// Agents: token hashes, IAM principals and the grant index discovery reads.
    pub agents: AgentStore,
    /// The key that signs the connect link of a `connection_required` answer.
    pub link_key: LinkKey,
    /// Background jobs, gated calls, and the queue the media worker runs both from.
    pub jobs: JobStore,
    pub approvals: ApprovalStore,
    pub jobs_queue: JobsQueue,
    /// Agent sessions and checkpoints (the sessions function only).
    pub sessions: SessionStore,
    /// Messages the email tools sent, where delivery statuses are recorded.
    pub messages: switchyard_aws::messages::MessageLog,
    /// SES v2, for `email.*` instances whose service is `ses` (no I/O until used).
    pub ses: switchyard_aws::sesv2::Client,
    /// Messaging windows and opt-outs per recipient (tool state table, written by the consumer).
    pub recipients: switchyard_aws::recipients::RecipientStore,
    /// Per-instance daily request quotas of provider APIs (tool state table).
    pub quotas: switchyard_aws::quotas::DailyQuotas,
    /// Message template statuses this warm process looked up recently (WhatsApp).
    pub(crate) templates: crate::whatsapp::TemplateCache,
    /// Scheduled task intents and their schedules (the intents function and worker only).
    pub intents: IntentStore,
    pub schedules: IntentSchedules,
}

/// The price table could not be loaded (a build defect: a unit test loads it).
#[derive(Debug, Clone, thiserror::Error)]
#[error("price table: {0}")]
pub struct PricesUnavailable(String);

impl Tools {
    /// A tool function's context, from its environment.
    pub async fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::TOOL)?;
        let registry = Registry::load()?;
        let vault = Vault::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        );
        Ok(Self::new(&start.aws, &start.resources, Arc::new(vault)))
    }

    /// The sessions function's context ([`needs::SESSIONS`]): sessions, templates and the
    /// discovery their renders list.
    pub async fn sessions_from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::SESSIONS)?;
        let registry = Registry::load()?;
        let vault = Vault::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        );
        Ok(Self::new(&start.aws, &start.resources, Arc::new(vault)))
    }

    /// The intents function's context ([`needs::INTENTS`]).
    pub async fn intents_from_env() -> Result<Self, StartError> {
        Self::from_needs(needs::INTENTS).await
    }

    /// The intents worker's context ([`needs::INTENTS_WORKER`]).
    pub async fn intents_worker_from_env() -> Result<Self, StartError> {
        Self::from_needs(needs::INTENTS_WORKER).await
    }

    async fn from_needs(needs: &[switchyard_core::config::Need]) -> Result<Self, StartError> {
        let start = Startup::from_env(needs)?;
        let registry = Registry::load()?;
        let vault = Vault::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        );
        Ok(Self::new(&start.aws, &start.resources, Arc::new(vault)))
    }

    /// From parts: the vault plus a DynamoDB client.
    pub fn new(aws: &AwsClients, resources: &Resources, vault: Arc<Vault>) -> Self {
        let dynamodb = aws.dynamodb();
        let mut keys = Keys::new(aws, resources, vault.clock.clone(), PLATFORM_KEYS_TTL);
        keys.actor.clone_from(&vault.actor);
        Self {
            keys,
            artifacts: ArtifactStore::new(
                dynamodb.clone(),
                aws.s3(),
                &resources.artifacts_table,
                &resources.artifacts_bucket,
            ),
            jobs: JobStore::new(dynamodb.clone(), &resources.jobs_table),
            approvals: ApprovalStore::new(dynamodb.clone(), &resources.approvals_table),
            jobs_queue: JobsQueue::new(aws.sqs(), &resources.jobs_queue_url),
            tool_state: ToolState::new(dynamodb.clone(), &resources.tool_state_table),
            recipients: switchyard_aws::recipients::RecipientStore::new(
                dynamodb.clone(),
                &resources.tool_state_table,
            ),
            quotas: switchyard_aws::quotas::DailyQuotas::new(
                dynamodb.clone(),
                &resources.tool_state_table,
            ),
            templates: crate::whatsapp::TemplateCache::default(),
            agents: AgentStore::new(dynamodb.clone(), &resources.agents_table),
            sessions: SessionStore::new(dynamodb.clone(), &resources.sessions_table),
            messages: switchyard_aws::messages::MessageLog::new(
                dynamodb.clone(),
                &resources.messages_table,
            ),
            ses: aws.sesv2(),
            intents: IntentStore::new(dynamodb.clone(), &resources.intents_table),
            schedules: IntentSchedules::new(
                aws.scheduler(),
                &resources.intents_schedule_group,
                &resources.intents_worker_arn,
                &resources.intents_scheduler_role_arn,
            ),
            link_key: LinkKey::new(aws.secrets(), &resources.oauth_link_key_secret),
            receipts: ReceiptStore::new(dynamodb, &resources.receipts_table),
            buckets: Buckets::default(),
            catalog: OnceLock::new(),
            secure_http: OnceLock::new(),
            prices: OnceLock::new(),
            vault,
        }
    }

    /// The same context with `secure_http_request` allowed to reach these exact loopback
    /// addresses. For tests that run a fake upstream on 127.0.0.1 only; production never calls it.
    pub fn with_ssrf_exemptions(self, exempt: Vec<std::net::SocketAddr>) -> Self {
        let _ = self.secure_http.set(SecureHttp::new(exempt));
        self
    }

    /// The tool catalog, loaded on first use.
    pub fn catalog(&self) -> Result<&Catalog, CatalogUnavailable> {
        self.catalog
            .get_or_init(|| Catalog::load().map_err(|e| CatalogUnavailable(e.to_string())))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The price table (fed by the catalog's `aiConfig` costs), loaded on first use.
    pub fn prices(&self) -> Result<&PriceTable, PricesUnavailable> {
        self.prices
            .get_or_init(|| {
                let catalog = self
                    .catalog()
                    .map_err(|e| PricesUnavailable(e.to_string()))?;
                PriceTable::load(
                    catalog
                        .integrations()
                        .map(|i| (i.integration_id.as_str(), i.ai_config.as_ref())),
                )
                .map_err(|e| PricesUnavailable(e.to_string()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The SSRF-safe client for `http.secure_http_request`.
    pub fn secure_http(&self) -> &SecureHttp {
        self.secure_http.get_or_init(|| SecureHttp::new(Vec::new()))
    }
}

impl Deref for Tools {
    type Target = Vault;

    fn deref(&self) -> &Vault {
        &self.vault
    }
}

/// The scheduled Notion poller: a tool call (`notion.query_data_source`) plus ingress, and its
/// sync cursors.
#[derive(Debug)]
pub struct NotionPoller {
    pub tools: Tools,
    pub ingress: Ingress,
    pub cursors: CursorStore,
}

impl NotionPoller {
    /// The poller's context, from its environment.
    pub async fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::NOTION_POLLER)?;
        let (aws, resources) = (&start.aws, &start.resources);
        // One parse of the definitions for both halves.
        let registry = Registry::load()?;
        let vault = Vault::new(
            aws,
            resources,
            registry.clone(),
            start.limits,
            start.clock.clone(),
        );
        Ok(Self {
            tools: Tools::new(aws, resources, Arc::new(vault)),
            ingress: Ingress::new(aws, resources, registry, start.limits, start.clock),
            cursors: CursorStore::new(aws.dynamodb(), &resources.cursors_table),
        })
    }
}

impl Deref for NotionPoller {
    type Target = Tools;

    fn deref(&self) -> &Tools {
        &self.tools
    }
}
