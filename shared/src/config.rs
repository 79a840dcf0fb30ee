//! Runtime configuration: which AWS resources to use and the request limits.
//!
//! On Lambda every value comes from an environment variable set by `template.yaml`. Locally,
//! `SWITCHYARD_STACK_PREFIX=<prefix>` derives the names from the template instead (see
//! [`crate::stack`]), so the CLI and the local host need one variable, not ten.

use std::env;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not a number: {value:?}")]
    NotANumber { name: &'static str, value: String },
    #[error("could not resolve local stack resources: {0}")]
    Stack(String),
}

/// The AWS resources one deployment uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub instances_table: String,
    pub deliveries_table: String,
    pub ingress_queue_url: String,
    pub ingress_dlq_url: String,
    pub payload_bucket: String,
    pub kms_key_id: String,
    pub event_bus: String,
    pub states_table: String,
    pub connections_table: String,
    pub audit_table: String,
    pub tool_state_table: String,
    pub receipts_table: String,
    /// Sync cursors of scheduled workers (Notion polling).
    pub cursors_table: String,
    /// The Secrets Manager secret holding platform API keys (JSON object).
    pub platform_keys_secret: String,
    /// The operator tap queue on the event bus, when known (local stack, CLI).
    pub tap_queue_url: Option<String>,
}

/// Request and payload limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Larger webhook bodies get 413 before any I/O.
    pub max_body_bytes: usize,
    /// Larger WorkItems put their payload in S3 and carry its key (SQS caps messages).
    pub inline_payload_bytes: usize,
    /// How long an unqueued delivery claim blocks the provider's retries: longer than the
    /// webhook function's timeout, so a retry after a crash between claim and queue is accepted.
    pub claim_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            inline_payload_bytes: 200_000,
            claim_secs: 5,
        }
    }
}

impl Limits {
    /// Limits from `SWITCHYARD_MAX_BODY_BYTES`, `SWITCHYARD_INLINE_PAYLOAD_BYTES` and
    /// `SWITCHYARD_CLAIM_SECS`, else defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            max_body_bytes: number("SWITCHYARD_MAX_BODY_BYTES")?.unwrap_or(defaults.max_body_bytes),
            inline_payload_bytes: number("SWITCHYARD_INLINE_PAYLOAD_BYTES")?
                .unwrap_or(defaults.inline_payload_bytes),
            claim_secs: number("SWITCHYARD_CLAIM_SECS")?.map_or(defaults.claim_secs, |n| n as u64),
        })
    }
}

impl Resources {
    /// Resources named one by one in the environment (as `template.yaml` sets them).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            instances_table: required("SWITCHYARD_INSTANCES_TABLE")?,
            deliveries_table: required("SWITCHYARD_DELIVERIES_TABLE")?,
            ingress_queue_url: required("SWITCHYARD_INGRESS_QUEUE_URL")?,
            ingress_dlq_url: required("SWITCHYARD_INGRESS_DLQ_URL")?,
            payload_bucket: required("SWITCHYARD_PAYLOAD_BUCKET")?,
            kms_key_id: required("SWITCHYARD_KMS_KEY_ID")?,
            event_bus: required("SWITCHYARD_EVENT_BUS")?,
            states_table: required("SWITCHYARD_OAUTH_STATES_TABLE")?,
            connections_table: required("SWITCHYARD_CONNECTIONS_TABLE")?,
            audit_table: required("SWITCHYARD_AUDIT_TABLE")?,
            platform_keys_secret: required("SWITCHYARD_PLATFORM_KEYS_SECRET")?,
            tool_state_table: required("SWITCHYARD_TOOL_STATE_TABLE")?,
            receipts_table: required("SWITCHYARD_RECEIPTS_TABLE")?,
            cursors_table: required("SWITCHYARD_CURSORS_TABLE")?,
            tap_queue_url: env::var("SWITCHYARD_TAP_QUEUE_URL").ok(),
        })
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn number(name: &'static str) -> Result<Option<usize>, ConfigError> {
    match env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::NotANumber { name, value }),
        Err(_) => Ok(None),
    }
}
