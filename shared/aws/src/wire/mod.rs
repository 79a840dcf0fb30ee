//! The wire client: AWS's JSON protocols (DynamoDB, SQS, EventBridge, KMS) and S3's object
//! reads and writes spoken directly, for the calls every webhook and every consumer batch makes.
//!
//! Why not the SDK there: measured under a stub Runtime API (`infra/bench/steady.py`), each SDK
//! call cost about 0.5 ms of CPU, spread over its per-operation machinery (runtime plugins,
//! config bags, interceptors, endpoint rules, retry partitions, header maps), against a few
//! microseconds for the work itself. A webhook makes two calls and a consumer batch about a dozen,
//! so that machinery was most of the bill; and a webhook whose every call is here links no SDK
//! client at all (its zip shrinks by the SDK's runtime, its HTTP/2 stack and S3's checksums).
//! This client does what those calls need and no more: one signed request (SigV4, [`sigv4`]; a
//! JSON body `POST`ed, or an object `PUT` or `GET` from S3, [`s3`]) over a keep-alive pool, with
//! the SDK configuration's own timeouts (connect, attempt, operation), its attempt count and its
//! exponential backoff with full jitter for throttling, 5xx and transport errors.
//!
//! What it shares with the SDK clients of the same process: the region, the endpoint
//! (`AWS_ENDPOINT_URL`, the local emulator), the credentials provider (cached until five
//! minutes before expiry) and the call counter. TLS (for AWS's endpoints) is set up at the first
//! call, so a function pointed at the emulator never reads a certificate store.
//!
//! Errors keep AWS's error code (`ConditionalCheckFailedException`) and body, so a store can tell
//! a lost race from a fault and read what a refused condition returned.

pub mod s3;
pub mod sigv4;
mod transport;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clients::CallCounter;
use transport::{Answer, Transport};

/// One AWS service spoken over a JSON protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The name in the signature's scope, and the endpoint's first label.
    pub signing_name: &'static str,
    /// The `X-Amz-Target` prefix: `<prefix>.<Operation>`.
    pub target_prefix: &'static str,
    pub content_type: &'static str,
    /// SQS answers JSON requests with its query protocol's error codes when asked.
    pub query_compatible: bool,
}

pub const DYNAMODB: Service = Service {
    signing_name: "dynamodb",
    target_prefix: "DynamoDB_20120810",
    content_type: "application/x-amz-json-1.0",
    query_compatible: false,
};

pub const SQS: Service = Service {
    signing_name: "sqs",
    target_prefix: "AmazonSQS",
    content_type: "application/x-amz-json-1.0",
    query_compatible: true,
};

pub const EVENTBRIDGE: Service = Service {
    signing_name: "events",
    target_prefix: "AWSEvents",
    content_type: "application/x-amz-json-1.1",
    query_compatible: false,
};

pub const KMS: Service = Service {
    signing_name: "kms",
    target_prefix: "TrentService",
    content_type: "application/x-amz-json-1.1",
    query_compatible: false,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The service answered with an error.
    #[error("{code} (HTTP {status}): {message}")]
    Service {
        status: u16,
        /// AWS's error code, without its namespace (`ConditionalCheckFailedException`).
        code: String,
        message: String,
        /// The error's whole JSON body (a refused condition's `Item`, say).
        body: Value,
    },
    /// No answer within the attempt or operation timeout.
    #[error("{operation}: no answer within {after:?}")]
    Timeout { operation: String, after: Duration },
    /// The request did not reach the service, or its answer was cut.
    #[error("{operation}: {message}")]
    Transport { operation: String, message: String },
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    /// The answer was not the JSON the operation returns.
    #[error("{operation}: unreadable answer: {message}")]
    Decode { operation: String, message: String },
}

impl WireError {
    /// Whether the service refused a condition expression (a lost race, not a fault).
    pub fn is_conditional_check_failed(&self) -> bool {
        self.code() == Some("ConditionalCheckFailedException")
    }

    /// AWS's error code, when the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The error's JSON body, when the service answered.
    pub fn body(&self) -> Option<&Value> {
        match self {
            Self::Service { body, .. } => Some(body),
            _ => None,
        }
    }

    /// Whether another attempt may succeed: throttling, a 5xx, a timeout or a transport error
    /// (the SDK's standard retry classification).
    fn is_retryable(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                matches!(status, 500 | 502 | 503 | 504) || THROTTLING.contains(&code.as_str())
            }
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Credentials(_) | Self::Decode { .. } => false,
        }
    }
}

/// The throttling codes the SDK's standard retry strategy retries.
const THROTTLING: [&str; 14] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Timeouts and attempts, from the SDK configuration the rest of the process uses.
#[derive(Debug, Clone, Copy)]
struct Policy {
    connect: Duration,
    attempt: Duration,
    operation: Duration,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Policy {
    fn of(config: &SdkConfig) -> Self {
        let timeouts = config.timeout_config();
        let retry = config.retry_config();
        Self {
            connect: timeouts
                .and_then(|t| t.connect_timeout())
                .unwrap_or(Duration::from_millis(3100)),
            attempt: timeouts
                .and_then(|t| t.operation_attempt_timeout())
                .unwrap_or(Duration::from_secs(10)),
            operation: timeouts
                .and_then(|t| t.operation_timeout())
                .unwrap_or(Duration::from_secs(30)),
            max_attempts: retry.map_or(3, |r| r.max_attempts()).max(1),
            initial_backoff: retry.map_or(Duration::from_secs(1), |r| r.initial_backoff()),
            max_backoff: retry.map_or(Duration::from_secs(20), |r| r.max_backoff()),
        }
    }

    /// The SDK's exponential backoff with full jitter before attempt `attempt + 1`.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// A cheap handle (clone it freely) on one process's wire client.
#[derive(Clone)]
pub struct Wire {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    region: String,
    /// `AWS_ENDPOINT_URL` (an emulator), else each service's regional endpoint.
    endpoint: Option<Endpoint>,
    credentials: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<Credentials>>,
    policy: Policy,
    calls: CallCounter,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("region", &self.inner.region)
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

/// Where requests go: scheme, authority (the signed `host`) and path.
#[derive(Debug, Clone)]
struct Endpoint {
    https: bool,
    authority: String,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Option<Self> {
        let uri: http::Uri = url.parse().ok()?;
        let https = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority = uri.authority()?.as_str().to_owned();
        let path = match uri.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        Some(Self {
            https,
            authority,
            path,
        })
    }

    /// A service's regional endpoint (`host` is the first label: `dynamodb`, `<bucket>.s3`).
    fn regional(host: &str, region: &str) -> Self {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        Self {
            https: true,
            authority: format!("{host}.{region}.{suffix}"),
            path: "/".to_owned(),
        }
    }
}

/// How a service words its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorFormat {
    /// JSON protocols: `__type` or `x-amzn-errortype`, `message`.
    Json,
    /// S3: `<Error><Code>…</Code><Message>…</Message></Error>`.
    Xml,
}

/// One request before it is signed.
#[derive(Debug)]
struct Outgoing<'a> {
    /// What the call counter and errors name it: `DynamoDB_20120810.PutItem`, `S3.PutObject`.
    operation: &'a str,
    signing_name: &'static str,
    method: http::Method,
    https: bool,
    authority: Cow<'a, str>,
    /// The canonical (URI-encoded) path.
    path: Cow<'a, str>,
    /// Sent and signed, beside `host`, `x-amz-date` and the session token.
    headers: Vec<(&'static str, Cow<'a, str>)>,
    body: Bytes,
    /// The body's SHA-256 (hex), hashed once for every attempt's signature.
    payload_sha256: String,
    errors: ErrorFormat,
}

impl Wire {
    /// The wire client of a process whose SDK clients use `config`, counting calls in `calls`.
    pub fn new(config: &SdkConfig, calls: CallCounter) -> Self {
        let policy = Policy::of(config);
        Self {
            inner: Arc::new(Inner {
                transport: Transport::new(policy.connect),
                region: config
                    .region()
                    .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string()),
                endpoint: config.endpoint_url().and_then(Endpoint::parse),
                credentials: config.credentials_provider(),
                cached: Mutex::new(None),
                policy,
                calls,
            }),
        }
    }

    /// Calls `operation` of `service` with `input` (what serializes to its JSON request: a
    /// `json!` object, or a typed request that borrows what it sends) and reads its answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        service: &Service,
        operation: &str,
        input: &(impl serde::Serialize + ?Sized),
    ) -> Result<T, WireError> {
        let target = format!("{}.{operation}", service.target_prefix);
        let regional;
        let endpoint = match &self.inner.endpoint {
            Some(e) => e,
            None => {
                regional = Endpoint::regional(service.signing_name, &self.inner.region);
                &regional
            }
        };
        let mut headers = vec![
            ("content-type", Cow::Borrowed(service.content_type)),
            ("x-amz-target", Cow::Borrowed(target.as_str())),
        ];
        if service.query_compatible {
            headers.push(("x-amzn-query-mode", Cow::Borrowed("true")));
        }
        let body = Bytes::from(serde_json::to_vec(input).unwrap_or_default());
        let answer = self
            .send(&Outgoing {
                operation: &target,
                signing_name: service.signing_name,
                method: http::Method::POST,
                https: endpoint.https,
                authority: Cow::Borrowed(&endpoint.authority),
                path: Cow::Borrowed(&endpoint.path),
                headers,
                payload_sha256: sigv4::payload_sha256(&body),
                body,
                errors: ErrorFormat::Json,
            })
            .await?;
        serde_json::from_slice(&answer).map_err(|e| WireError::Decode {
            operation: target.clone(),
            message: e.to_string(),
        })
    }

    /// Calls `operation` for its effect (a write), not its answer.
    pub async fn write(
        &self,
        service: &Service,
        operation: &str,
        input: &(impl serde::Serialize + ?Sized),
    ) -> Result<(), WireError> {
        self.call::<serde::de::IgnoredAny>(service, operation, input)
            .await
            .map(|_| ())
    }

    /// DynamoDB's `GetItem` of the item whose string key `pk` is `pk`, as the SDK's attribute
    /// map (so it goes through the same parsers as items read by the SDK); `None` if absent.
    pub async fn get_item(
        &self,
        table: &str,
        pk: &str,
        consistent_read: bool,
    ) -> Result<
        Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
        WireError,
    > {
        let read = serde_json::json!({
            "TableName": table,
            "Key": { "pk": attr::s(pk) },
            "ConsistentRead": consistent_read,
        });
        let out: Value = self.call(&DYNAMODB, "GetItem", &read).await?;
        Ok(out.get("Item").map(attr::item))
    }

    /// Sends one request under the operation timeout, retrying what may succeed next time.
    async fn send(&self, out: &Outgoing<'_>) -> Result<Bytes, WireError> {
        let policy = &self.inner.policy;
        let operation = tokio::time::timeout(policy.operation, async {
            let mut attempt = 1;
            loop {
                match self.attempt(out).await {
                    Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                        tracing::debug!(operation = out.operation, attempt, error = %e, "retrying an AWS call");
                        tokio::time::sleep(policy.backoff(attempt)).await;
                        attempt += 1;
                    }
                    done => return done,
                }
            }
        });
        operation.await.unwrap_or_else(|_| {
            Err(WireError::Timeout {
                operation: out.operation.to_owned(),
                after: policy.operation,
            })
        })
    }

    /// One signed attempt under the attempt timeout.
    async fn attempt(&self, out: &Outgoing<'_>) -> Result<Bytes, WireError> {
        let inner = &self.inner;
        let credentials = self.credentials().await?;
        let keys = sigv4::Keys {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
        };
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let headers: Vec<(&str, &str)> =
            out.headers.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        let signed = sigv4::sign(
            keys,
            &inner.region,
            out.signing_name,
            sigv4::amz_date(unix),
            &sigv4::Request {
                method: out.method.as_str(),
                host: &out.authority,
                path: &out.path,
                headers: &headers,
                payload_sha256: &out.payload_sha256,
            },
        );
        let mut request = http::Request::builder()
            .method(out.method.clone())
            .uri(format!(
                "{}://{}{}",
                if out.https { "https" } else { "http" },
                out.authority,
                out.path
            ));
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        request = request
            .header("x-amz-date", &signed.amz_date)
            .header(http::header::AUTHORIZATION, &signed.authorization);
        if let Some(token) = keys.session_token {
            request = request.header("x-amz-security-token", token);
        }
        let request = request
            .body(out.body.clone())
            .map_err(|e| WireError::Transport {
                operation: out.operation.to_owned(),
                message: e.to_string(),
            })?;
        inner.calls.count(out.operation);
        let answer = tokio::time::timeout(
            inner.policy.attempt,
            inner.transport.send(request, out.https),
        )
        .await
        .map_err(|_| WireError::Timeout {
            operation: out.operation.to_owned(),
            after: inner.policy.attempt,
        })?
        .map_err(|message| WireError::Transport {
            operation: out.operation.to_owned(),
            message,
        })?;
        if answer.status < 300 {
            return Ok(answer.body);
        }
        Err(match out.errors {
            ErrorFormat::Json => service_error(&answer),
            ErrorFormat::Xml => s3::service_error(&answer),
        })
    }

    /// The provider's credentials, cached until five minutes before they expire.
    async fn credentials(&self) -> Result<Credentials, WireError> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + Duration::from_secs(300))
        };
        if let Some(c) = self.lock_cache().as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let provider = self
            .inner
            .credentials
            .as_ref()
            .ok_or_else(|| WireError::Credentials("no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| WireError::Credentials(crate::error::chain(&e)))?;
        *self.lock_cache() = Some(credentials.clone());
        Ok(credentials)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        self.inner
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The error of a non-2xx answer: the code from `x-amzn-query-error` (SQS in query-compatible
/// mode), else `x-amzn-errortype`, else the body's `__type`, without namespace or suffix.
fn service_error(answer: &Answer) -> WireError {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let raw = answer
        .query_error
        .as_deref()
        .and_then(|q| q.split(';').next())
        .or(answer.error_type.as_deref())
        .or_else(|| body.get("__type").and_then(Value::as_str))
        .unwrap_or("UnknownError");
    let code = raw
        .rsplit('#')
        .next()
        .unwrap_or(raw)
        .split(':')
        .next()
        .unwrap_or(raw)
        .to_owned();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    WireError::Service {
        status: answer.status,
        code,
        message,
        body,
    }
}

/// DynamoDB's attribute values in its JSON protocol, and items read on the wire as the SDK's
/// type (so they go through the same parsers as items read by the SDK).
pub mod attr {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use base64::Engine as _;
    use serde_json::{json, Value};

    /// A string attribute.
    pub fn s(value: &str) -> Value {
        json!({ "S": value })
    }

    /// A number attribute.
    pub fn n(value: u64) -> Value {
        json!({ "N": value.to_string() })
    }

    /// A list of string attributes.
    pub fn string_list(values: &[String]) -> Value {
        json!({ "L": values.iter().map(|v| s(v)).collect::<Vec<_>>() })
    }

    /// An item read on the wire as the SDK's attribute map; attributes of a type this cannot
    /// read are left out.
    pub fn item(value: &Value) -> HashMap<String, AttributeValue> {
        value
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), attribute(v)?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn attribute(value: &Value) -> Option<AttributeValue> {
        let (kind, v) = value.as_object()?.iter().next()?;
        let strings = |v: &Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        let blob = |v: &Value| -> Option<Blob> {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str()?)
                .ok()
                .map(Blob::new)
        };
        Some(match kind.as_str() {
            "S" => AttributeValue::S(v.as_str()?.to_owned()),
            "N" => AttributeValue::N(v.as_str()?.to_owned()),
            "BOOL" => AttributeValue::Bool(v.as_bool()?),
            "NULL" => AttributeValue::Null(true),
            "B" => AttributeValue::B(blob(v)?),
            "SS" => AttributeValue::Ss(strings(v)?),
            "NS" => AttributeValue::Ns(strings(v)?),
            "BS" => AttributeValue::Bs(v.as_array()?.iter().map(blob).collect::<Option<_>>()?),
            "L" => AttributeValue::L(v.as_array()?.iter().filter_map(attribute).collect()),
            "M" => AttributeValue::M(item(v)),
            _ => return None,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_attribute_type_is_read() {
            let wire = json!({
                "s": {"S": "a"}, "n": {"N": "12"}, "t": {"BOOL": true}, "z": {"NULL": true},
                "b": {"B": "AAEC"}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1"]},
                "bs": {"BS": ["AA=="]}, "l": {"L": [{"S": "x"}, {"N": "1"}]},
                "m": {"M": {"k": {"S": "v"}}}
            });
            let parsed = item(&wire);
            assert_eq!(parsed.len(), 10);
            assert_eq!(parsed["s"], AttributeValue::S("a".into()));
            assert_eq!(parsed["n"], AttributeValue::N("12".into()));
            assert_eq!(parsed["t"], AttributeValue::Bool(true));
            assert_eq!(parsed["z"], AttributeValue::Null(true));
            assert_eq!(parsed["b"], AttributeValue::B(Blob::new(vec![0, 1, 2])));
            assert_eq!(
                parsed["ss"],
                AttributeValue::Ss(vec!["x".into(), "y".into()])
            );
            assert_eq!(parsed["ns"], AttributeValue::Ns(vec!["1".into()]));
            assert_eq!(parsed["bs"], AttributeValue::Bs(vec![Blob::new(vec![0])]));
            assert_eq!(
                parsed["l"],
                AttributeValue::L(vec![
                    AttributeValue::S("x".into()),
                    AttributeValue::N("1".into())
                ])
            );
            assert_eq!(
                parsed["m"],
                AttributeValue::M([("k".to_owned(), AttributeValue::S("v".into()))].into())
            );
        }

        #[test]
        fn an_unknown_or_malformed_attribute_is_left_out() {
            let parsed = item(&json!({"a": {"X": 1}, "b": {"S": 3}, "c": {"S": "ok"}}));
            assert_eq!(parsed.len(), 1);
            assert_eq!(parsed["c"], AttributeValue::S("ok".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, query: Option<&str>, kind: Option<&str>, body: &str) -> Answer {
        Answer {
            status,
            query_error: query.map(str::to_owned),
            error_type: kind.map(str::to_owned),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn error_codes_lose_their_namespace_and_suffix() {
        let e = service_error(&answer(
            400,
            None,
            None,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{"status":{"S":"delivered"}}}"#,
        ));
        assert!(e.is_conditional_check_failed());
        assert_eq!(
            e.body().and_then(|b| b.pointer("/Item/status/S")),
            Some(&json("delivered"))
        );
        let e = service_error(&answer(
            400,
            None,
            Some("ProvisionedThroughputExceededException:http://internal.amazon.com/"),
            "{}",
        ));
        assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"));
        assert!(e.is_retryable());
        let e = service_error(&answer(
            400,
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender"),
            None,
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}"#,
        ));
        assert_eq!(e.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
        assert!(!e.is_retryable());
        assert!(service_error(&answer(503, None, None, "not json")).is_retryable());
    }

    fn json(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_stops_at_the_ceiling() {
        let policy = Policy {
            connect: Duration::ZERO,
            attempt: Duration::ZERO,
            operation: Duration::ZERO,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        for _ in 0..100 {
            assert!(policy.backoff(1) <= Duration::from_millis(100));
            assert!(policy.backoff(2) <= Duration::from_millis(200));
            assert!(policy.backoff(9) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn endpoints_are_the_override_or_the_regional_one() {
        let e = Endpoint::parse("http://127.0.0.1:5000").expect("an endpoint");
        assert_eq!(
            (e.https, e.authority.as_str(), e.path.as_str()),
            (false, "127.0.0.1:5000", "/")
        );
        assert!(Endpoint::parse("ftp://x").is_none());
        let r = Endpoint::regional(SQS.signing_name, "eu-west-1");
        assert_eq!(
            (r.https, r.authority.as_str()),
            (true, "sqs.eu-west-1.amazonaws.com")
        );
        let cn = Endpoint::regional(DYNAMODB.signing_name, "cn-north-1");
        assert_eq!(cn.authority, "dynamodb.cn-north-1.amazonaws.com.cn");
    }
}
