//! Google Workspace tools: the handlers for what the integration definitions' data mapping
//! cannot say (`shared/integrations/{gmail,calendar,drive,docs}.json`): RFC 5322 MIME for Gmail,
//! friendly event input for Calendar, Drive's export cap and multipart upload, and the text and
//! headings of a Docs structure. Each handler sends the request its definition's `http` names
//! (method and path), so paths stay data.

mod calendar;
mod docs;
mod drive;
mod gmail;
pub(crate) mod mime;

use serde_json::Value;

use crate::definitions::HttpDef;
use crate::executor::{Call, Outgoing, Payload};
use crate::outbound::Exchange;
use crate::ToolError;

/// The handlers this module runs.
pub(crate) const HANDLED: &[&str] = &[
    "gmail_send",
    "gmail_draft",
    "gmail_get",
    "calendar_write_event",
    "drive_export",
    "drive_upload",
    "docs_get",
    "docs_append",
    "docs_replace",
];

/// Whether `handler` is one of this module's.
pub(crate) fn handles(handler: &str) -> bool {
    HANDLED.contains(&handler)
}

/// Runs `handler` for `input`.
pub(crate) async fn run(
    call: &mut Call<'_>,
    handler: &str,
    input: &Value,
) -> Result<Value, ToolError> {
    match handler {
        "gmail_send" => gmail::send(call, input, gmail::Delivery::Send).await,
        "gmail_draft" => gmail::send(call, input, gmail::Delivery::Draft).await,
        "gmail_get" => gmail::get(call, input).await,
        "calendar_write_event" => calendar::write_event(call, input).await,
        "drive_export" => drive::export(call, input).await,
        "drive_upload" => drive::upload(call, input).await,
        "docs_get" => docs::get(call, input).await,
        "docs_append" => docs::append(call, input).await,
        "docs_replace" => docs::replace(call, input).await,
        other => Err(ToolError::internal(&format!("no Google handler {other}"))),
    }
}

/// The method's `http` mapping with its path filled from `input`.
fn request(call: &Call<'_>, input: &Value) -> Result<(HttpDef, String), ToolError> {
    let http = call
        .method
        .def
        .exec
        .http
        .clone()
        .ok_or_else(|| ToolError::internal("Google handler without an http mapping"))?;
    let (path, _) = Call::fill_path(&http.path, input)?;
    Ok((http, path))
}

/// Sends the method's request with `query` and `payload`; the raw exchange.
async fn send(
    call: &mut Call<'_>,
    input: &Value,
    query: Vec<(String, String)>,
    payload: Payload,
) -> Result<Exchange, ToolError> {
    let (http, path) = request(call, input)?;
    let mut full_query: Vec<(String, String)> = http
        .query
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    full_query.extend(query);
    call.exchange(Outgoing {
        verb: &http.method,
        path: &path,
        query: full_query,
        payload,
        auth: http.auth,
    })
    .await
}

/// Sends the method's request and reads a 2xx JSON answer (a provider error otherwise).
async fn send_json(
    call: &mut Call<'_>,
    input: &Value,
    query: Vec<(String, String)>,
    payload: Payload,
) -> Result<Value, ToolError> {
    let exchange = send(call, input, query, payload).await?;
    call.interpret(exchange)
}

/// Google's `errors[0].reason` of an error answer.
fn reason(body: &Value) -> Option<&str> {
    body.pointer("/error/errors/0/reason")
        .and_then(Value::as_str)
}

/// The string field `key` of `input`, if set.
fn text<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}
