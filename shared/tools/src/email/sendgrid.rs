//! SendGrid v3 `POST /v3/mail/send`: one request carries up to 1000 personalizations (one per
//! separately addressed message) and answers `202 Accepted` with the message id in
//! `X-Message-Id`. A 429 carries `X-RateLimit-Reset` (Unix seconds), which the outbound layer
//! waits for within the deadline; errors are `{"errors": [{"message", "field"}]}`.
//! <https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send>

use serde_json::{json, Value};

use super::{Accepted, Content, Envelope, Settings};
use crate::error::ErrorCode;
use crate::executor::Call;
use crate::outbound::Retry;
use crate::ToolError;

/// The API key's name among the platform keys and workspace overrides.
pub(crate) const KEY_NAME: &str = "sendgrid";

/// The request body for `envelopes`, each its own personalization.
pub(crate) fn body(
    settings: &Settings,
    content: &Content,
    envelopes: &[Envelope],
    receipt_id: &str,
) -> Value {
    let email = |address: &str, name: Option<&str>| match name {
        Some(name) => json!({"email": address, "name": name}),
        None => json!({"email": address}),
    };
    let personalizations: Vec<Value> = envelopes
        .iter()
        .map(|e| {
            let mut p = json!({
                "to": e.to.iter().map(|(a, n)| email(a, n.as_deref())).collect::<Vec<_>>(),
            });
            if !e.cc.is_empty() {
                p["cc"] = e.cc.iter().map(|a| email(a, None)).collect();
            }
            if !e.bcc.is_empty() {
                p["bcc"] = e.bcc.iter().map(|a| email(a, None)).collect();
            }
            p
        })
        .collect();
    // SendGrid requires text/plain before text/html.
    let mut parts = Vec::new();
    if let Some(text) = &content.text {
        parts.push(json!({"type": "text/plain", "value": text}));
    }
    if let Some(html) = &content.html {
        parts.push(json!({"type": "text/html", "value": html}));
    }
    let mut body = json!({
        "personalizations": personalizations,
        "from": email(&settings.from, settings.from_name.as_deref()),
        "subject": content.subject,
        "content": parts,
        // Echoed on every Event Webhook event of the message.
        "custom_args": {"switchyard_receipt_id": receipt_id},
    });
    if let Some(reply_to) = &content.reply_to {
        body["reply_to"] = email(reply_to, None);
    }
    body
}

/// Sends `envelopes` in one request; the message id SendGrid gave it.
pub(crate) async fn send(
    call: &mut Call<'_>,
    settings: &Settings,
    content: &Content,
    envelopes: &[Envelope],
) -> Result<Accepted, ToolError> {
    let key = match tokio::time::timeout_at(
        call.deadline,
        switchyard_oauth::keys::api_key(&call.app.keys, &call.instance.workspace, KEY_NAME),
    )
    .await
    {
        Ok(Ok(key)) => key.value,
        Ok(Err(switchyard_oauth::keys::KeyError::Missing(_))) => {
            return Err(ToolError::misconfigured(
                "no SendGrid API key for this workspace or the platform",
            ))
        }
        Ok(Err(e)) => return Err(ToolError::unavailable(e.to_string())),
        Err(_) => return Err(ToolError::timeout_before_provider("the API key lookup")),
    };
    let url = format!("{}/v3/mail/send", settings.sendgrid_base_url);
    let body = body(settings, content, envelopes, &call.receipt_id);
    let http = call.app.http().clone();
    let build = || {
        http.post(&url)
            .bearer_auth(key.expose())
            .header("accept", "application/json")
            .json(&body)
    };
    let exchange = call
        .send_to("POST sendgrid/v3/mail/send", Retry::OnlyUnsent, build)
        .await?;
    if exchange.status != 202 && !(200..300).contains(&exchange.status) {
        return Err(error_of(exchange.status, &exchange.body));
    }
    let message_id = exchange
        .headers
        .get("x-message-id")
        .filter(|id| !id.is_empty())
        .cloned()
        .ok_or_else(|| {
            // Accepted, so sent: an answer without its id cannot be retried either.
            ToolError::new(
                ErrorCode::InvalidOutput,
                "SendGrid accepted the message without an X-Message-Id",
                false,
            )
        })?;
    Ok(Accepted { message_id })
}

/// SendGrid's error answer as a tool error: 400 is the request's content (its messages name
/// the field), 401/403 `provider_auth` (a bad key, or a sender that is not verified), 413
/// `too_large`.
pub(crate) fn error_of(status: u16, body: &Value) -> ToolError {
    let message = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| {
                    let message = e.get("message").and_then(Value::as_str)?;
                    Some(match e.get("field").and_then(Value::as_str) {
                        Some(field) => format!("{field}: {message}"),
                        None => message.to_owned(),
                    })
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "SendGrid error".to_owned());
    match status {
        400 => ToolError {
            provider_status: Some(status),
            ..ToolError::new(
                ErrorCode::InvalidInput,
                format!("SendGrid refused the message: {message}"),
                false,
            )
        },
        413 => ToolError {
            provider_status: Some(status),
            ..ToolError::new(ErrorCode::TooLarge, format!("SendGrid: {message}"), false)
        },
        _ => ToolError::provider(status, message),
    }
}
