//! What webhook ingress and the ingress consumer hold per warm process: only the clients and
//! stores they use, built from only the variables their template entries set.

use std::sync::atomic::{AtomicBool, Ordering};

use switchyard_aws::audit::AuditLog;
use switchyard_aws::clients::{AwsClients, CallCounter};
use switchyard_aws::crypto::Keyring;
use switchyard_aws::deliveries::DeliveryStore;
use switchyard_aws::instances::InstanceStore;
use switchyard_aws::queue::IngressQueue;
use switchyard_aws::sink::EventSink;
use switchyard_aws::watches::WatchStore;
use switchyard_aws::{StartError, Startup};
use switchyard_core::clock::Clock;
use switchyard_core::config::{self, needs, Limits, Resources};
use switchyard_providers::Registry;

use crate::jwks::JwksCache;
use crate::VerifierCache;

/// Webhook ingress: verify (instance secrets, KMS; OIDC key sets; stored push channels), claim
/// (DynamoDB), queue (SQS, large payloads in S3), and the audit of handshakes.
#[derive(Debug)]
pub struct Ingress {
    pub registry: Registry,
    pub limits: Limits,
    pub clock: Clock,
    pub instances: InstanceStore,
    pub deliveries: DeliveryStore,
    pub queue: IngressQueue,
    /// Where providers whose definition says `queue: sync` send their deliveries.
    pub sync_queue: IngressQueue,
    /// Push channels (`watched-channel` scheme), read once per notification.
    pub watches: WatchStore,
    /// OIDC key sets (`oidc-jwt` scheme).
    pub jwks: JwksCache,
    pub keyring: Keyring,
    pub audit: AuditLog,
    /// Who is acting, for the audit log.
    pub actor: String,
    /// AWS calls so far, by operation (benchmarks and tests).
    pub calls: CallCounter,
    /// Failure-injection points; nothing is set outside tests.
    pub hooks: Hooks,
    pub(crate) verifiers: VerifierCache,
}

impl Ingress {
    /// The webhook function's context, from its environment: the resources its provider's
    /// webhook needs (`SWITCHYARD_PROVIDER`, see `WebhookDef::needs`; [`needs::WEBHOOK`]
    /// without one).
    pub async fn from_env() -> Result<Self, StartError> {
        let registry = Registry::load()?;
        let needs = std::env::var("SWITCHYARD_PROVIDER")
            .ok()
            .and_then(|p| registry.get(&p)?.webhook.as_ref().map(|w| w.needs()))
            .unwrap_or_else(|| needs::WEBHOOK.to_vec());
        let start = Startup::from_env(&needs)?;
        Ok(Self::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        ))
    }

    /// From parts (tests, the local host). Every call a webhook makes (DynamoDB, KMS, SQS, S3)
    /// goes on the wire client: no SDK client is built, so the webhook links none. OIDC key sets
    /// come from `SWITCHYARD_OIDC_JWKS_URL` when set (see [`JwksCache`]).
    pub fn new(
        aws: &AwsClients,
        resources: &Resources,
        registry: Registry,
        limits: Limits,
        clock: Clock,
    ) -> Self {
        let queue = |url: &str| {
            IngressQueue::new(
                aws.wire(),
                url,
                &resources.payload_bucket,
                limits.inline_payload_bytes,
            )
        };
        Self {
            registry,
            instances: InstanceStore::new(aws, &resources.instances_table),
            deliveries: DeliveryStore::new(aws, &resources.deliveries_table),
            queue: queue(&resources.ingress_queue_url),
            sync_queue: queue(&resources.sync_queue_url),
            watches: WatchStore::new(aws, &resources.watches_table),
            // Deployment configuration, like the resource names: the local host and the CLI
            // build this context without `from_env`.
            jwks: JwksCache::from_env(),
            keyring: Keyring::new(aws.wire(), &resources.kms_key_id),
            audit: AuditLog::new(aws, &resources.audit_table),
            actor: config::actor(),
            calls: aws.calls.clone(),
            hooks: Hooks::default(),
            verifiers: VerifierCache::default(),
            limits,
            clock,
        }
    }
}

/// The ingress consumer: lease and outcome (DynamoDB), payloads (S3), instances, publish
/// (EventBridge, large events in S3).
#[derive(Debug)]
pub struct Consumer {
    pub registry: Registry,
    pub clock: Clock,
    pub instances: InstanceStore,
    pub deliveries: DeliveryStore,
    pub queue: IngressQueue,
    pub sink: EventSink,
    /// Where approval decisions read from deliveries go (the media worker's queue).
    pub jobs_queue: switchyard_aws::deferred::JobsQueue,
    /// Messages tools sent, where delivery statuses are recorded ([`crate::effects`]).
    pub messages: switchyard_aws::messages::MessageLog,
    /// Per-recipient messaging windows and opt-outs that deliveries record (tool state table).
    pub recipients: switchyard_aws::recipients::RecipientStore,
    /// Connections an `AppUninstalled` effect revokes.
    pub connections: switchyard_aws::connections::ConnectionStore,
}

impl Consumer {
    /// The consumer function's context, from its environment.
    pub async fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::CONSUMER)?;
        let registry = Registry::load()?;
        Ok(Self::new(
            &start.aws,
            &start.resources,
            registry,
            start.limits,
            start.clock,
        ))
    }

    /// From parts (tests, the local host).
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
            deliveries: DeliveryStore::new(aws, &resources.deliveries_table),
            messages: switchyard_aws::messages::MessageLog::new(
                dynamodb.clone(),
                &resources.messages_table,
            ),
            recipients: switchyard_aws::recipients::RecipientStore::new(
                dynamodb,
                &resources.tool_state_table,
            ),
            queue: IngressQueue::new(
                aws.wire(),
                &resources.ingress_queue_url,
                &resources.payload_bucket,
                limits.inline_payload_bytes,
            ),
            sink: EventSink::new(aws.wire(), &resources.event_bus, &resources.payload_bucket),
            jobs_queue: switchyard_aws::deferred::JobsQueue::new(
                aws.sqs(),
                &resources.jobs_queue_url,
            ),
            connections: switchyard_aws::connections::ConnectionStore::new(
                aws.dynamodb(),
                &resources.connections_table,
            ),
            clock,
        }
    }
}

/// Failure-injection points of ingress. Nothing is registered outside tests.
#[derive(Debug, Default)]
pub struct Hooks {
    crash_after_claim: AtomicBool,
}

impl Hooks {
    /// Makes webhook ingress stop right after claiming, as a function killed there would: the
    /// claims stay, nothing is queued or released, the provider sees an error.
    pub fn set_crash_after_claim(&self, crash: bool) {
        self.crash_after_claim.store(crash, Ordering::SeqCst);
    }

    pub(crate) fn crash_after_claim(&self) -> bool {
        self.crash_after_claim.load(Ordering::SeqCst)
    }
}
