//! AWS SDK clients, built once per cold start, only for the services a function calls.
//!
//! Every client honors `AWS_ENDPOINT_URL` (the local emulator) through the shared SDK config;
//! S3 uses path-style addressing when an endpoint is set. Timeouts are short because a webhook
//! must answer inside its provider's 3-second deadline. An interceptor counts calls per
//! operation so benchmarks can report DynamoDB and SQS calls per webhook.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts AWS operations by their `X-Amz-Target` (JSON protocols), else method and URI (for
/// benchmarks and tests).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    /// A copy of the counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Counts one call of `operation` (the wire client's, named as the SDK's are).
    pub fn count(&self, operation: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(operation.to_owned()).or_default() += 1;
        }
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
        self.count(&operation);
        Ok(())
    }
}

/// The SDK configuration of one cold start and its call counter. A function builds the clients
/// of the services it calls, once, and nothing else: each client is behind a cargo feature of
/// this crate and a method here, so a binary links only the services it constructs.
///
/// The stores on the per-delivery path (instances, deliveries, watches, the audit log, the
/// queue, the sink, the keyring) take this whole, not a client: their hot calls go on the
/// [wire client](crate::wire) and their other calls build the DynamoDB client at first use
/// ([`Self::dynamodb`], once per process). A webhook, whose paths only use the wire, so never
/// builds an SDK client, and does not link one.
#[derive(Debug, Clone)]
pub struct AwsClients {
    config: SdkConfig,
    /// `config` with the plain-HTTP client when the endpoint is `http://` (see
    /// [`Self::sdk_config`]): made at the first SDK client, so a function that builds none (the
    /// webhook) does not link an HTTP client beside the wire client's.
    sdk: Arc<OnceLock<SdkConfig>>,
    pub calls: CallCounter,
    wire: crate::wire::Wire,
    dynamodb: Arc<OnceLock<aws_sdk_dynamodb::Client>>,
}

impl AwsClients {
    /// From the environment through the SDK's default chains (region and credentials from the
    /// environment, profile files, SSO sessions, the instance metadata service…): the CLI's.
    pub async fn from_env() -> Self {
        Self::from_sdk_config(&load(None).await)
    }

    /// A Lambda function's: region and credentials from the variables the Lambda runtime sets
    /// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and
    /// `AWS_ENDPOINT_URL` when set (the local emulator). No profile file is read and no STS,
    /// SSO, ECS or instance-metadata provider is linked or run at cold start.
    pub fn for_lambda() -> Self {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok();
        let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
        Self::for_lambda_with(region, endpoint)
    }

    /// [`Self::for_lambda`] with the region and endpoint given (tests).
    pub fn for_lambda_with(region: Option<String>, endpoint: Option<String>) -> Self {
        let mut config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            // An emulator accepts any region; on Lambda the runtime always sets one.
            .region(Region::new(region.unwrap_or_else(|| "us-east-1".into())))
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ))
            .timeout_config(timeouts())
            .retry_config(retries())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Self::from_sdk_config(&config.build())
    }

    /// Pointed at `endpoint` (an emulator), whatever the environment says.
    pub async fn with_endpoint(endpoint: &str) -> Self {
        Self::from_sdk_config(&load(Some(endpoint)).await)
    }

    /// From a loaded SDK config.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        let calls = CallCounter::default();
        Self {
            config: config.clone(),
            sdk: Arc::default(),
            wire: crate::wire::Wire::new(config, calls.clone()),
            calls,
            dynamodb: Arc::default(),
        }
    }

    /// The wire client (DynamoDB, SQS and EventBridge's hot calls without the SDK's per-call
    /// machinery; see [`crate::wire`]), sharing this configuration and call counter.
    pub fn wire(&self) -> crate::wire::Wire {
        self.wire.clone()
    }

    /// Whether any SDK client (or the configuration one is built from) was made in this
    /// process. A webhook's paths never make one (tested), so its binary links none.
    pub fn built_sdk_client(&self) -> bool {
        self.sdk.get().is_some()
    }

    /// The wire client, borrowed.
    pub fn wire_ref(&self) -> &crate::wire::Wire {
        &self.wire
    }

    /// The SDK clients' configuration, also for a client of a service this crate has no
    /// feature for (API Gateway's management API, built where it is used with its own endpoint).
    /// Against an `http://` endpoint (an emulator on loopback) it has a plain-HTTP client: the
    /// SDK's default HTTPS client builds its TLS configuration, reading the system's whole
    /// certificate store (about 450 files here), whenever a service client is constructed.
    pub fn sdk_config(&self) -> &SdkConfig {
        self.sdk.get_or_init(|| {
            let plain = self.config.http_client().is_none()
                && self.config.endpoint_url().is_some_and(is_plain_http);
            if plain {
                self.config
                    .to_builder()
                    .http_client(aws_smithy_http_client::Builder::new().build_http())
                    .build()
            } else {
                self.config.clone()
            }
        })
    }

    /// The process's DynamoDB client, built at the first call.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| {
                let config = aws_sdk_dynamodb::config::Builder::from(self.sdk_config())
                    .interceptor(self.calls.clone())
                    .build();
                aws_sdk_dynamodb::Client::from_conf(config)
            })
            .clone()
    }

    /// An SQS client.
    #[cfg(feature = "sqs")]
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(self.sdk_config())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// An S3 client; path-style addressing when an endpoint (an emulator) is set.
    #[cfg(feature = "s3")]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(self.sdk_config())
            .force_path_style(self.sdk_config().endpoint_url().is_some())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A KMS client (the stack's setup; sealing and opening go on the wire, [`crate::crypto`]).
    #[cfg(feature = "kms")]
    pub fn kms(&self) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::config::Builder::from(self.sdk_config())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// An EventBridge client.
    #[cfg(feature = "eventbridge")]
    pub fn events(&self) -> aws_sdk_eventbridge::Client {
        let config = aws_sdk_eventbridge::config::Builder::from(self.sdk_config())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }

    /// An EventBridge Scheduler client (scheduled task intents).
    #[cfg(feature = "scheduler")]
    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        let config = aws_sdk_scheduler::config::Builder::from(self.sdk_config())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_scheduler::Client::from_conf(config)
    }

    /// A Secrets Manager client.
    #[cfg(feature = "secretsmanager")]
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::config::Builder::from(self.sdk_config())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    /// An SES v2 client (the email tools).
    #[cfg(feature = "ses")]
    pub fn sesv2(&self) -> aws_sdk_sesv2::Client {
        let config = aws_sdk_sesv2::config::Builder::from(self.sdk_config())
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_sesv2::Client::from_conf(config)
    }
}

async fn load(endpoint: Option<&str>) -> SdkConfig {
    // An emulator accepts any region; on Lambda the runtime always sets one.
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(timeouts())
        .retry_config(retries())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    if let Some(url) = endpoint {
        if is_plain_http(url) {
            loader = loader.http_client(aws_smithy_http_client::Builder::new().build_http());
        }
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An endpoint without TLS (an emulator on loopback): the SDK's clients then get a plain-HTTP
/// client ([`AwsClients::sdk_config`]).
fn is_plain_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// Short, because a webhook must answer inside its provider's 3-second deadline. (Stalled-stream
/// protection is off beside them: it wraps every request and response body in a throughput
/// monitor with its own timers, per call, and its 20 s grace period can never fire before the
/// 2.5 s operation timeout.)
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(1500))
        .operation_timeout(Duration::from_millis(2500))
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(2)
}
