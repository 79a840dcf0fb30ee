//! Drive: export Google Docs, Sheets and Slides (size-capped), and upload files as
//! `multipart/related` (size-capped).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::{reason, send, send_json, text};
use crate::executor::{Call, Payload};
use crate::{ErrorCode, ToolError};

/// What an export returns by default, and at most (the answer travels in a Lambda payload,
/// 6 MB, base64 for PDF). Google itself refuses exports over 10 MB.
const DEFAULT_EXPORT_BYTES: usize = 1 << 20;
const MAX_EXPORT_BYTES: usize = 4 << 20;
/// The largest upload: the content arrives base64 in the tool's input (a Lambda payload).
pub(crate) const MAX_UPLOAD_BYTES: usize = 4 << 20;

fn too_large(detail: String) -> ToolError {
    ToolError::new(ErrorCode::TooLarge, detail, false)
}

/// The export MIME type of a `format`.
fn export_type(format: &str) -> Option<&'static str> {
    match format {
        "text" => Some("text/plain"),
        "csv" => Some("text/csv"),
        "pdf" => Some("application/pdf"),
        _ => None,
    }
}

/// Exports `file_id` as text, CSV or PDF: text inline, PDF as base64; over the cap (ours or
/// Google's 10 MB) is `too_large`.
pub(super) async fn export(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let format = text(input, "format").unwrap_or("text");
    let mime_type = export_type(format)
        .ok_or_else(|| ToolError::invalid_input_message(format!("unknown format {format}")))?;
    let cap = input
        .get("max_bytes")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_EXPORT_BYTES, |n| n as usize)
        .min(MAX_EXPORT_BYTES);
    let query = vec![("mimeType".to_owned(), mime_type.to_owned())];
    let exchange = send(call, input, query, Payload::None).await?;
    if exchange.status == 403 && reason(&exchange.body) == Some("exportSizeLimitExceeded") {
        return Err(too_large(
            "Google refuses to export files over 10 MB (exportSizeLimitExceeded)".into(),
        ));
    }
    let raw = exchange.raw.clone();
    call.interpret(exchange)?;
    if raw.len() > cap {
        return Err(too_large(format!(
            "the export is {} bytes, over this call's cap of {cap} bytes (max_bytes)",
            raw.len()
        )));
    }
    let mut out =
        json!({"file_id": text(input, "file_id"), "mime_type": mime_type, "size": raw.len()});
    if format == "pdf" {
        out["content_base64"] = STANDARD.encode(&raw).into();
    } else {
        out["text"] = String::from_utf8_lossy(&raw).into_owned().into();
    }
    Ok(out)
}

/// The bytes of an upload: `content_base64`, else `text` as UTF-8.
fn upload_bytes(input: &Value) -> Result<Vec<u8>, ToolError> {
    match (text(input, "content_base64"), text(input, "text")) {
        (Some(b64), _) => STANDARD
            .decode(b64)
            .map_err(|_| ToolError::invalid_input_message("content_base64 is not base64".into())),
        (None, Some(text)) => Ok(text.as_bytes().to_vec()),
        (None, None) => Err(ToolError::invalid_input_message(
            "content_base64 or text is required".into(),
        )),
    }
}

/// A `multipart/related` body: the JSON metadata part, then the media part.
fn multipart(metadata: &Value, media_type: &str, media: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("switchyard-{}", uuid::Uuid::new_v4().simple());
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(media);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    (format!("multipart/related; boundary={boundary}"), body)
}

/// Uploads a file (metadata and content in one `multipart` request).
pub(super) async fn upload(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let media = upload_bytes(input)?;
    if media.len() > MAX_UPLOAD_BYTES {
        return Err(too_large(format!(
            "the content is {} bytes, over the upload cap of {MAX_UPLOAD_BYTES} bytes",
            media.len()
        )));
    }
    let media_type = text(input, "mime_type").unwrap_or("application/octet-stream");
    let mut metadata = json!({"name": input["name"], "mimeType": media_type});
    if let Some(parents) = input.get("parents") {
        metadata["parents"] = parents.clone();
    }
    if let Some(description) = input.get("description") {
        metadata["description"] = description.clone();
    }
    let (content_type, bytes) = multipart(&metadata, media_type, &media);
    let query = vec![
        ("uploadType".to_owned(), "multipart".to_owned()),
        (
            "fields".to_owned(),
            "id,name,mimeType,size,parents,webViewLink".to_owned(),
        ),
    ];
    let file = send_json(
        call,
        input,
        query,
        Payload::Raw {
            content_type,
            bytes,
        },
    )
    .await?;
    Ok(json!({
        "id": file["id"],
        "name": file["name"],
        "mime_type": file["mimeType"],
        "size": file["size"].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(media.len() as u64),
        "parents": file.get("parents").cloned().unwrap_or_else(|| json!([])),
        "web_view_link": file.get("webViewLink").cloned().unwrap_or(Value::Null),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_has_metadata_then_media_between_boundaries() {
        let (content_type, body) = multipart(&json!({"name": "a"}), "text/plain", b"hello");
        let boundary = content_type
            .strip_prefix("multipart/related; boundary=")
            .expect("boundary");
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Type: application/json")));
        assert!(text.contains("{\"name\":\"a\"}\r\n"));
        assert!(text.ends_with(&format!(
            "Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
        )));
    }

    #[test]
    fn upload_content_comes_from_base64_or_text() {
        assert_eq!(upload_bytes(&json!({"text": "hi"})).expect("text"), b"hi");
        assert_eq!(
            upload_bytes(&json!({"content_base64": "AAE="})).expect("b64"),
            [0, 1]
        );
        assert!(upload_bytes(&json!({"content_base64": "!!"})).is_err());
        assert!(upload_bytes(&json!({})).is_err());
    }
}
