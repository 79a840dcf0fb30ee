//! AWS SDK clients, built once per cold start.
//!
//! Every client honors `AWS_ENDPOINT_URL` (the local emulator) through the shared SDK config;
//! S3 uses path-style addressing when an endpoint is set. Timeouts are short because a webhook
//! must answer inside its provider's 3-second deadline. An interceptor counts calls per
//! operation so benchmarks can report DynamoDB and SQS calls per webhook.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts DynamoDB, SQS, EventBridge and Secrets Manager operations by their `X-Amz-Target`
/// (for benchmarks and tests).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    /// A copy of the counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets the counts so far.
    pub fn reset(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // JSON-protocol services (DynamoDB, SQS) name the operation in X-Amz-Target,
        // e.g. `DynamoDB_20120810.PutItem` or `AmazonSQS.SendMessage`.
        let request = context.request();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target.to_owned(),
            None => format!("{} {}", request.method(), request.uri()),
        };
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}

/// One client per service, sharing the SDK config and the call counter.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub calls: CallCounter,
}

impl AwsClients {
    /// Clients from the environment (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        Self::from_sdk_config(&load(None).await)
    }

    /// Clients pointed at `endpoint` (an emulator), whatever the environment says.
    pub async fn with_endpoint(endpoint: &str) -> Self {
        Self::from_sdk_config(&load(Some(endpoint)).await)
    }

    /// Clients from a loaded SDK config.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        let calls = CallCounter::default();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .interceptor(calls.clone())
            .build();
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        let events = aws_sdk_eventbridge::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        let secrets = aws_sdk_secretsmanager::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            s3: aws_sdk_s3::Client::from_conf(s3),
            kms: aws_sdk_kms::Client::new(config),
            events: aws_sdk_eventbridge::Client::from_conf(events),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets),
            calls,
        }
    }
}

async fn load(endpoint: Option<&str>) -> SdkConfig {
    // An emulator accepts any region; on Lambda the runtime always sets one.
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(1500))
                .operation_timeout(Duration::from_millis(2500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        // Stalled-stream protection wraps every request and response body in a throughput
        // monitor with its own timers, per call. Its grace period (20 s) is far past the
        // operation timeout above (2.5 s), so it can never fire first here: it is pure cost.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
