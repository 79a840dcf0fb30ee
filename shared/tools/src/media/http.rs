//! One provider request of a media tool: the provider's URL and auth header, the polite retries
//! of `outbound::call` (media calls have no side effect at the provider, so a request that may
//! have reached it is repeated: the price of a repeat is the cost, never a duplicate action),
//! and the provider's error text. Also the API key lookup.

use serde_json::Value;

use crate::error::{ErrorCode, Fault};
use crate::executor::Call;
use crate::outbound::{Attempt, Exchange, Retry};
use crate::secret::SecretString;
use crate::ToolError;
use switchyard_oauth::keys::{self, KeyError};

/// A request body.
#[derive(Debug)]
pub(crate) enum Body {
    Json(Value),
    /// Bytes with their content type (multipart uploads).
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// One request: where, with which header carrying the key, and what.
#[derive(Debug)]
pub(crate) struct Request {
    pub url: String,
    /// The route for the receipt and rate-limit memory, e.g. `POST /v1/audio/speech`.
    pub route: String,
    /// The header carrying the key and the text before it (`authorization`, `Bearer `).
    pub auth_header: &'static str,
    pub auth_prefix: &'static str,
    pub body: Body,
}

/// The workspace's key `name` (its own, else the platform's); `None` when neither exists.
pub(crate) async fn api_key(
    call: &Call<'_>,
    name: &str,
) -> Result<Option<SecretString>, ToolError> {
    match keys::api_key(&call.app.keys, &call.instance.workspace, name).await {
        Ok(key) => Ok(Some(key.value)),
        Err(KeyError::Missing(_)) => Ok(None),
        Err(e @ KeyError::Unavailable(_)) => Err(ToolError::unavailable(e.to_string())),
        Err(e) => Err(ToolError::misconfigured(&e.to_string())),
    }
}

/// Records on the receipt that `provider` was passed over and why (no request was sent).
pub(crate) fn note_skipped(call: &mut Call<'_>, provider: &str, why: &str) {
    call.attempts.push(Attempt {
        method: String::new(),
        path: format!("{provider}: skipped"),
        status: None,
        latency_ms: 0,
        decision: Some(format!("skipped {provider}: {why}")),
        waited_ms: 0,
        rate_limit: Default::default(),
        provider_request_id: None,
    });
}

/// Sends `request` with `key`; a 2xx exchange, or the provider's failure as a tool error.
pub(crate) async fn send(
    call: &mut Call<'_>,
    key: &SecretString,
    request: Request,
) -> Result<Exchange, ToolError> {
    let client = call.app.http().clone();
    let auth = format!("{}{}", request.auth_prefix, key.expose());
    let build = || {
        let r = client.post(&request.url).header(request.auth_header, &auth);
        match &request.body {
            Body::Json(v) => r.json(v),
            Body::Raw {
                content_type,
                bytes,
            } => r.header("content-type", content_type).body(bytes.clone()),
        }
    };
    let exchange = call
        .send_to(&request.route, Retry::AfterSending, build)
        .await?;
    if !(200..300).contains(&exchange.status) {
        return Err(ToolError::provider(
            exchange.status,
            provider_message(&exchange.body),
        ));
    }
    Ok(exchange)
}

/// OpenAI's `error.message` (with `error.code`), ElevenLabs' `detail.message`, else the text.
fn provider_message(body: &Value) -> String {
    let text = |p: &str| body.pointer(p).and_then(Value::as_str);
    match (
        text("/error/message"),
        text("/error/code"),
        text("/detail/message"),
        text("/detail/status"),
    ) {
        (Some(m), Some(c), _, _) => format!("{c}: {m}"),
        (Some(m), None, _, _) => m.to_owned(),
        (None, _, Some(m), _) | (None, _, None, Some(m)) => m.to_owned(),
        _ => match body {
            Value::String(s) => s.chars().take(200).collect(),
            _ => "provider error".into(),
        },
    }
}

/// A provider answered 2xx with something unusable (not the media it promised).
pub(crate) fn bad_answer(detail: &str) -> ToolError {
    ToolError {
        fault: Fault::Provider {
            may_have_acted: false,
        },
        ..ToolError::new(ErrorCode::ProviderError, detail.to_owned(), false)
    }
}

/// The instance's base URL of a provider (`config_key`), else the public one.
pub(crate) fn base_url(call: &Call<'_>, config_key: &str, default: &str) -> String {
    call.instance
        .config
        .get(config_key)
        .map_or(default, String::as_str)
        .trim_end_matches('/')
        .to_owned()
}

/// The OpenAI base URL: the instance's `api_base_url` (a fake in tests), else the
/// definition's `baseUrl`.
pub(crate) fn openai_base(call: &Call<'_>) -> String {
    let default = call.method.integration.exec.base_url.as_deref();
    base_url(
        call,
        "api_base_url",
        default.unwrap_or("https://api.openai.com"),
    )
}
