//! Gmail: send and draft a MIME message; read one back as decoded headers and text.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{mime, send_json, text};
use crate::executor::{Call, Payload};
use crate::ToolError;

/// Text and HTML bodies longer than this (characters) are cut, with `truncated: true`.
const DEFAULT_MAX_BODY_CHARS: usize = 20_000;

/// Where a built message goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Delivery {
    /// `users.messages.send`: `{raw, threadId}`.
    Send,
    /// `users.drafts.create`: `{message: {raw, threadId}}`.
    Draft,
}

/// Builds the MIME message of `input` and sends it or stores it as a draft.
pub(super) async fn send(
    call: &mut Call<'_>,
    input: &Value,
    delivery: Delivery,
) -> Result<Value, ToolError> {
    let raw = mime::build(input)?;
    let mut message = json!({"raw": URL_SAFE.encode(&raw)});
    if let Some(thread) = text(input, "thread_id") {
        message["threadId"] = thread.into();
    }
    let body = match delivery {
        Delivery::Send => message,
        Delivery::Draft => json!({"message": message}),
    };
    let answer = send_json(call, input, Vec::new(), Payload::Json(body)).await?;
    Ok(match delivery {
        Delivery::Send => json!({
            "id": answer["id"],
            "thread_id": answer["threadId"],
            "label_ids": answer.get("labelIds").cloned().unwrap_or_else(|| json!([])),
        }),
        Delivery::Draft => json!({
            "draft_id": answer["id"],
            "message_id": answer["message"]["id"],
            "thread_id": answer["message"]["threadId"],
        }),
    })
}

/// Reads a message (`format=full`) and decodes it: headers by name, the first text/plain and
/// text/html bodies, and the attachments' names and ids.
pub(super) async fn get(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let query = vec![("format".to_owned(), "full".to_owned())];
    let message = send_json(call, input, query, Payload::None).await?;
    let max_chars = input
        .get("max_body_chars")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MAX_BODY_CHARS, |n| n as usize);
    Ok(decode(&message, max_chars))
}

/// The decoded view of a Gmail `Message` resource.
fn decode(message: &Value, max_chars: usize) -> Value {
    let payload = &message["payload"];
    let mut headers = Map::new();
    for header in payload["headers"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (header["name"].as_str(), header["value"].as_str()) else {
            continue;
        };
        let key = match name.to_ascii_lowercase().as_str() {
            "from" => "from",
            "to" => "to",
            "cc" => "cc",
            "subject" => "subject",
            "date" => "date",
            "reply-to" => "reply_to",
            "message-id" => "message_id",
            _ => continue,
        };
        headers.entry(key).or_insert_with(|| value.into());
    }
    let mut found = Parts::default();
    walk(payload, &mut found);
    let mut truncated = false;
    let mut cut = |body: Option<String>| {
        body.map(|b| {
            if b.chars().count() > max_chars {
                truncated = true;
                b.chars().take(max_chars).collect::<String>()
            } else {
                b
            }
        })
    };
    let text = cut(found.text);
    let html = cut(found.html);
    let mut out = json!({
        "id": message["id"],
        "thread_id": message["threadId"],
        "label_ids": message.get("labelIds").cloned().unwrap_or_else(|| json!([])),
        "snippet": message.get("snippet").cloned().unwrap_or_else(|| json!("")),
        "headers": headers,
        "attachments": found.attachments,
        "truncated": truncated,
    });
    if let Some(date) = message["internalDate"].as_str() {
        out["internal_date"] = date.into();
    }
    if let Some(text) = text {
        out["text"] = text.into();
    }
    if let Some(html) = html {
        out["html"] = html.into();
    }
    out
}

#[derive(Debug, Default)]
struct Parts {
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Value>,
}

/// Depth-first over the MIME tree: the first inline text/plain and text/html bodies, and every
/// part with a filename as an attachment.
fn walk(part: &Value, found: &mut Parts) {
    let mime_type = part["mimeType"].as_str().unwrap_or_default();
    let filename = part["filename"].as_str().unwrap_or_default();
    if !filename.is_empty() {
        found.attachments.push(json!({
            "filename": filename,
            "mime_type": mime_type,
            "size": part["body"]["size"].as_u64().unwrap_or(0),
            "attachment_id": part["body"].get("attachmentId").cloned().unwrap_or(Value::Null),
        }));
    } else if let Some(data) = part["body"]["data"].as_str() {
        let slot = match mime_type {
            "text/plain" => Some(&mut found.text),
            "text/html" => Some(&mut found.html),
            _ => None,
        };
        if let Some(slot @ None) = slot {
            *slot = Some(decode_data(data));
        }
    }
    for child in part["parts"].as_array().into_iter().flatten() {
        walk(child, found);
    }
}

/// Gmail's base64url part data (padded or not), as text.
fn decode_data(data: &str) -> String {
    let bytes = URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested_alternatives_and_lists_attachments() {
        let b64 = |s: &str| URL_SAFE.encode(s);
        let message = json!({
            "id": "m1", "threadId": "t1", "labelIds": ["INBOX"], "snippet": "hi",
            "payload": {"mimeType": "multipart/mixed", "filename": "", "headers": [
                {"name": "Subject", "value": "Grüße"}, {"name": "From", "value": "a@example.com"},
                {"name": "X-Other", "value": "x"}],
              "body": {"size": 0}, "parts": [
                {"mimeType": "multipart/alternative", "filename": "", "body": {"size": 0}, "parts": [
                    {"mimeType": "text/plain", "filename": "", "body": {"size": 11, "data": b64("Hallo Welt!")}},
                    {"mimeType": "text/html", "filename": "", "body": {"size": 9, "data": b64("<b>x</b>")}}]},
                {"mimeType": "application/pdf", "filename": "a.pdf", "body": {"size": 3, "attachmentId": "A1"}}]}
        });
        let out = decode(&message, 5);
        assert_eq!(
            out["headers"],
            json!({"subject": "Grüße", "from": "a@example.com"})
        );
        assert_eq!(out["text"], "Hallo");
        assert_eq!(out["html"], "<b>x<");
        assert_eq!(out["truncated"], true);
        assert_eq!(out["attachments"][0]["attachment_id"], "A1");
        assert_eq!(decode(&message, 100)["text"], "Hallo Welt!");
    }
}
