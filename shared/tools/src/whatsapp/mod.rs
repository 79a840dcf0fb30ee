//! The `whatsapp.*` tools (`shared/integrations/whatsapp.json`): WhatsApp Cloud API sends and
//! message templates over Meta's Graph API, at the API version the instance pins.
//!
//! What the provider would only tell us after the fact is checked before any send:
//! - an opted-out recipient (they wrote `STOP`; [`switchyard_aws::recipients`]) is refused with
//!   `recipient_opted_out`;
//! - a free-form message to someone who has not written in the last 24 hours (the customer
//!   service window, fed by inbound webhooks) is refused with `outside_session_window`;
//! - a template that is not `APPROVED` is refused with `template_not_approved`, its status
//!   looked up through the templates API ([`templates`], approved answers cached briefly).
//!
//! Graph errors map to tool codes by their `error.code`: 131047 (re-engagement message: the
//! window closed) is `outside_session_window`, 132001 (template does not exist) is
//! `template_not_approved`, others by HTTP status.

mod media;
pub(crate) mod templates;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::executor::{Call, Outgoing, Payload};
use crate::outbound::Exchange;
use crate::{ErrorCode, ToolError};

pub(crate) use templates::TemplateCache;

/// The handlers this module runs (each also listed in `definitions::HANDLERS`).
const HANDLED: &[&str] = &[
    "whatsapp_send_template",
    "whatsapp_send_message",
    "whatsapp_templates_list",
    "whatsapp_templates_create",
    "whatsapp_templates_status",
    "whatsapp_media_upload",
];

/// The Graph API version when the instance pins none (`api_version`).
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// How long after a person's last message a free-form message may be sent.
pub const SESSION_WINDOW_SECS: u64 = 24 * 3600;
/// Graph error code: the 24-hour window has closed ("Re-engagement message").
const GRAPH_REENGAGEMENT: i64 = 131_047;
/// Graph error code: the template name does not exist in the translation.
const GRAPH_TEMPLATE_MISSING: i64 = 132_001;

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
        "whatsapp_send_template" => send_template(call, input).await,
        "whatsapp_send_message" => send_message(call, input).await,
        "whatsapp_templates_list" => templates::list(call, input).await,
        "whatsapp_templates_create" => templates::create(call, input).await,
        "whatsapp_templates_status" => templates::status(call, input).await,
        "whatsapp_media_upload" => media::upload(call, input).await,
        other => Err(ToolError::internal(&format!("no whatsapp handler {other}"))),
    }
}

/// The instance's pinned Graph API version.
fn version(call: &Call<'_>) -> String {
    call.instance
        .config
        .get("api_version")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned())
}

/// A config value the tools need (`phone_number_id`, `waba_id`): one id, as a path segment.
fn config_id(call: &Call<'_>, key: &str) -> Result<String, ToolError> {
    let value = call
        .instance
        .config
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty() && !v.contains(','))
        .ok_or_else(|| {
            ToolError::misconfigured(&format!("the instance needs exactly one {key}"))
        })?;
    Ok(crate::executor::encode_segment(value))
}

/// Sends one Graph request; a non-2xx answer becomes the typed error its Graph code means.
pub(crate) async fn graph(
    call: &mut Call<'_>,
    verb: &str,
    path: &str,
    query: Vec<(String, String)>,
    payload: Payload,
) -> Result<Value, ToolError> {
    let path = format!("/{}{path}", crate::executor::encode_segment(&version(call)));
    let exchange = call
        .exchange(Outgoing {
            verb,
            path: &path,
            query,
            payload,
            auth: true,
        })
        .await?;
    interpret(call, exchange)
}

fn interpret(call: &Call<'_>, exchange: Exchange) -> Result<Value, ToolError> {
    let status = exchange.status;
    let code = exchange.body.pointer("/error/code").and_then(Value::as_i64);
    let message = exchange
        .body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let typed = |code: ErrorCode| {
        Err(ToolError {
            provider_status: Some(status),
            ..ToolError::new(code, format!("WhatsApp: {message}"), false)
        })
    };
    match code {
        Some(GRAPH_REENGAGEMENT) => typed(ErrorCode::OutsideSessionWindow),
        Some(GRAPH_TEMPLATE_MISSING) => typed(ErrorCode::TemplateNotApproved),
        _ => call.interpret(exchange),
    }
}

/// Refuses a recipient who opted out; `Ok` with what is known of them otherwise.
async fn not_opted_out(
    call: &Call<'_>,
    to: &str,
) -> Result<switchyard_aws::recipients::Recipient, ToolError> {
    let recipient = crate::within(
        call.deadline,
        "reading the recipient's state",
        call.app.recipients.get(&call.instance.id, to),
    )
    .await?
    .map_err(|e| ToolError::unavailable(e.to_string()))?;
    if recipient.opted_out() {
        return Err(ToolError::new(
            ErrorCode::RecipientOptedOut,
            format!("{to} opted out of messages from this number; nothing was sent"),
            false,
        ));
    }
    Ok(recipient)
}

fn recipient(input: &Value) -> Result<String, ToolError> {
    input
        .get("to")
        .and_then(Value::as_str)
        .map(|t| t.trim().trim_start_matches('+').to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ToolError::invalid_input_message("to is required".into()))
}

/// The send answer as the tool's output.
fn sent(body: &Value, to: &str) -> Value {
    json!({
        "message_id": body.pointer("/messages/0/id").cloned().unwrap_or(Value::Null),
        "wa_id": body.pointer("/contacts/0/wa_id").and_then(Value::as_str).unwrap_or(to),
        "message_status": body.pointer("/messages/0/message_status").cloned().unwrap_or(json!("accepted")),
    })
}

async fn send(call: &mut Call<'_>, message: Value) -> Result<Value, ToolError> {
    let phone = config_id(call, "phone_number_id")?;
    graph(
        call,
        "POST",
        &format!("/{phone}/messages"),
        Vec::new(),
        Payload::Json(message),
    )
    .await
}

async fn send_template(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let to = recipient(input)?;
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let language = input.get("language").and_then(Value::as_str).unwrap_or("");
    not_opted_out(call, &to).await?;
    templates::require_approved(call, name, language).await?;
    let mut template = json!({"name": name, "language": {"code": language}});
    if let Some(components) = input.get("components") {
        template["components"] = components.clone();
    }
    let body = send(
        call,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": template,
        }),
    )
    .await?;
    Ok(sent(&body, &to))
}

/// The media kinds a session message may carry, and the fields each takes besides its source.
const MEDIA_KINDS: &[(&str, &[&str])] = &[
    ("image", &["caption"]),
    ("video", &["caption"]),
    ("audio", &[]),
    ("document", &["caption", "filename"]),
    ("sticker", &[]),
];

async fn send_message(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let to = recipient(input)?;
    let message = session_message(input)?;
    let known = not_opted_out(call, &to).await?;
    let now = call.app.clock.now();
    if !known.wrote_within(SESSION_WINDOW_SECS, now) {
        let when = known.last_inbound_at.map_or_else(
            || "has never written to this number".to_owned(),
            |at| format!("last wrote {}s ago", now.saturating_sub(at)),
        );
        return Err(ToolError::new(
            ErrorCode::OutsideSessionWindow,
            format!(
                "{to} {when}: outside the 24-hour customer-service window, only a template may be sent"
            ),
            false,
        ));
    }
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    });
    for (k, v) in message {
        body[k.as_str()] = v;
    }
    let answer = send(call, body).await?;
    Ok(sent(&answer, &to))
}

/// The `type` and content fields of a text or media message.
fn session_message(input: &Value) -> Result<BTreeMap<String, Value>, ToolError> {
    let mut fields = BTreeMap::new();
    match (
        input.get("text").and_then(Value::as_str),
        input.get("media"),
    ) {
        (Some(text), None) => {
            let preview = input.get("preview_url").and_then(Value::as_bool) == Some(true);
            fields.insert("type".into(), json!("text"));
            fields.insert("text".into(), json!({"body": text, "preview_url": preview}));
        }
        (None, Some(media)) => {
            let kind = media.get("type").and_then(Value::as_str).unwrap_or("");
            let (kind, extras) = MEDIA_KINDS
                .iter()
                .find(|(k, _)| *k == kind)
                .ok_or_else(|| {
                    ToolError::invalid_input_message(format!("unknown media type {kind:?}"))
                })?;
            let mut object = serde_json::Map::new();
            match (media.get("id"), media.get("link")) {
                (Some(id), None) => object.insert("id".into(), id.clone()),
                (None, Some(link)) => object.insert("link".into(), link.clone()),
                _ => {
                    return Err(ToolError::invalid_input_message(
                        "media needs exactly one of id (uploaded media) or link".into(),
                    ))
                }
            };
            for extra in *extras {
                if let Some(v) = media.get(*extra) {
                    object.insert((*extra).to_owned(), v.clone());
                }
            }
            fields.insert("type".into(), json!(kind));
            fields.insert((*kind).to_owned(), Value::Object(object));
        }
        _ => {
            return Err(ToolError::invalid_input_message(
                "exactly one of text or media is required".into(),
            ))
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_message_is_text_or_one_media_source() {
        let text = session_message(&json!({"text": "hi"})).expect("text");
        assert_eq!(text["type"], json!("text"));
        assert_eq!(text["text"]["body"], json!("hi"));
        let image = session_message(
            &json!({"media": {"type": "image", "link": "https://x/a.jpg", "caption": "c", "filename": "no"}}),
        )
        .expect("image");
        assert_eq!(
            image["image"],
            json!({"link": "https://x/a.jpg", "caption": "c"})
        );
        assert!(
            session_message(&json!({"text": "a", "media": {"type": "image", "id": "1"}})).is_err()
        );
        assert!(
            session_message(&json!({"media": {"type": "image", "id": "1", "link": "l"}})).is_err()
        );
        assert!(session_message(&json!({"media": {"type": "hologram", "id": "1"}})).is_err());
    }
}
