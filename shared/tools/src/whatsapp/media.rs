//! `whatsapp.media_upload`: uploads a workspace artifact to the number's media store
//! (`POST /{phone_number_id}/media`, multipart `messaging_product`, `type`, `file`), so a
//! session message can send it by `id`. WhatsApp's size limits per kind are checked against the
//! artifact's recorded size before its bytes are read.

use serde_json::{json, Value};
use switchyard_aws::artifacts::ArtifactError;

use super::{config_id, graph};
use crate::executor::{Call, Payload};
use crate::{ErrorCode, ToolError};

const MIB: u64 = 1024 * 1024;

/// WhatsApp's largest upload of a media type (Cloud API media reference): images 5 MB, audio and
/// video 16 MB, WebP stickers 500 KB, documents 100 MB.
fn limit(mime: &str) -> u64 {
    match mime {
        "image/webp" => 500 * 1024,
        m if m.starts_with("image/") => 5 * MIB,
        m if m.starts_with("audio/") || m.starts_with("video/") => 16 * MIB,
        _ => 100 * MIB,
    }
}

fn not_found(id: &str) -> ToolError {
    ToolError::invalid_input_message(format!("no artifact {id} in this workspace"))
}

fn too_large(size: u64, cap: u64, mime: &str) -> ToolError {
    ToolError::new(
        ErrorCode::TooLarge,
        format!("WhatsApp takes {mime} media up to {cap} bytes; the artifact has {size}"),
        false,
    )
}

/// A `multipart/form-data` body of text fields and one file, with its boundary.
fn multipart(
    fields: &[(&str, &str)],
    mime: &str,
    filename: &str,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("switchyard-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    let filename = filename.replace(['"', '\r', '\n'], "_");
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) async fn upload(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let id = input
        .get("artifact_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    let artifact = crate::within(
        call.deadline,
        "the artifact lookup",
        call.app.artifacts.get(id),
    )
    .await?
    .map_err(|e| ToolError::unavailable(e.to_string()))?
    // Another workspace's artifact is indistinguishable from a missing one.
    .filter(|a| a.workspace == call.instance.workspace)
    .ok_or_else(|| not_found(id))?;
    let mime = artifact.mime_type.clone();
    let cap = limit(&mime);
    if artifact.size_bytes > cap {
        return Err(too_large(artifact.size_bytes, cap, &mime));
    }
    let bytes = crate::within(
        call.deadline,
        "reading the artifact",
        call.app.artifacts.bytes(&artifact, cap),
    )
    .await?
    .map_err(|e| match e {
        ArtifactError::TooLarge { size, .. } => too_large(size, cap, &mime),
        ArtifactError::NotFound(_) => not_found(id),
        other => ToolError::unavailable(other.to_string()),
    })?;
    let filename = input
        .get("filename")
        .and_then(Value::as_str)
        .map_or_else(|| artifact.id.clone(), str::to_owned);
    let (content_type, body) = multipart(
        &[("messaging_product", "whatsapp"), ("type", &mime)],
        &mime,
        &filename,
        &bytes,
    );
    let phone = config_id(call, "phone_number_id")?;
    let answer = graph(
        call,
        "POST",
        &format!("/{phone}/media"),
        Vec::new(),
        Payload::Raw {
            content_type,
            bytes: body,
        },
    )
    .await?;
    Ok(json!({
        "media_id": answer.get("id").cloned().unwrap_or(Value::Null),
        "mime_type": mime,
        "size_bytes": artifact.size_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_media_kind() {
        assert_eq!(limit("image/jpeg"), 5 * MIB);
        assert_eq!(limit("image/webp"), 500 * 1024);
        assert_eq!(limit("audio/ogg"), 16 * MIB);
        assert_eq!(limit("application/pdf"), 100 * MIB);
    }

    #[test]
    fn the_multipart_body_carries_the_fields_and_the_file() {
        let (content_type, body) = multipart(
            &[("messaging_product", "whatsapp")],
            "image/png",
            "a\"b.png",
            b"PNG",
        );
        let boundary = content_type.split("boundary=").nth(1).expect("boundary");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"messaging_product\"\r\n\r\nwhatsapp\r\n"));
        assert!(text.contains("filename=\"a_b.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
