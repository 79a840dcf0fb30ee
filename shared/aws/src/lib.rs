//! Switchyard's AWS adapters: the SDK clients, the wire client, and what is stored on them.
//! DynamoDB (instances, deliveries, connections, audit, cursors, watches) and envelope
//! encryption (KMS, on the wire) are always in; the other SDKs are cargo features, so a crate
//! that does not call a service does not compile its SDK. The ingress queue (`queue`) and the
//! event sink (`sink`) are on the wire client (SQS, EventBridge and S3 alike).

pub mod agents;
pub mod approvals;
#[cfg(feature = "s3")]
pub mod artifacts;
pub mod audit;
pub mod clients;
pub mod connections;
pub mod crypto;
pub mod cursors;
pub mod deferred;
pub mod deliveries;
pub mod dynamo;
pub mod error;
pub mod events;
#[cfg(test)]
mod fuzz_tests;
pub mod instances;
pub mod intents;
pub mod jobs;
pub mod live;
pub mod messages;
#[cfg(feature = "queue")]
pub mod queue;
pub mod quotas;
pub mod recipients;
pub mod ses_events;
pub mod sessions;
pub mod settings;
#[cfg(feature = "sink")]
pub mod sink;
pub mod startup;
pub mod watches;
pub mod wire;

pub use clients::AwsClients;
pub use startup::{StartError, Startup};
pub use switchyard_core::{clock, policy, secret, workitem};
pub use switchyard_providers as providers;

pub use aws_sdk_dynamodb as dynamodb;
#[cfg(feature = "eventbridge")]
pub use aws_sdk_eventbridge as eventbridge;
#[cfg(feature = "kms")]
pub use aws_sdk_kms as kms;
#[cfg(feature = "s3")]
pub use aws_sdk_s3 as s3;
#[cfg(feature = "scheduler")]
pub use aws_sdk_scheduler as scheduler;
#[cfg(feature = "secretsmanager")]
pub use aws_sdk_secretsmanager as secretsmanager;
#[cfg(feature = "ses")]
pub use aws_sdk_sesv2 as sesv2;
#[cfg(feature = "sqs")]
pub use aws_sdk_sqs as sqs;
