//! `App`: everything a function needs, built once per cold start.

use crate::aws::AwsClients;
use crate::clock::Clock;
use crate::config::{ConfigError, Limits, Resources};
use crate::crypto::Keyring;
use crate::deliveries::DeliveryStore;
use crate::ingest::VerifierCache;
use crate::instances::InstanceStore;
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
    #[error(transparent)]
    Stack(#[from] crate::stack::StackError),
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
    pub(crate) verifiers: VerifierCache,
}

impl App {
    /// From the environment: resources named one by one (Lambda), or derived from the template
    /// when `SWITCHYARD_STACK_PREFIX` is set (local stack, CLI).
    pub async fn from_env() -> Result<Self, AppError> {
        let aws = AwsClients::from_env().await;
        let resources = match std::env::var("SWITCHYARD_STACK_PREFIX") {
            Ok(prefix) if !prefix.is_empty() => crate::stack::resolve(&aws, &prefix).await?,
            _ => Resources::from_env()?,
        };
        Self::new(aws, resources, Limits::from_env()?, Clock::default())
    }

    /// From parts (tests, the local host).
    pub fn new(
        aws: AwsClients,
        resources: Resources,
        limits: Limits,
        clock: Clock,
    ) -> Result<Self, AppError> {
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
            sink: EventSink::new(aws.events.clone(), &resources.event_bus),
            verifiers: VerifierCache::default(),
            resources,
            limits,
            aws,
            clock,
        })
    }
}
