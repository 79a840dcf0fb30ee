//! Stores produced or fetched media as artifacts and describes them for the agent: the metadata
//! measured from the bytes and a short-lived presigned GET URL.

use std::time::Duration;

use serde_json::{json, Value};

use crate::executor::Call;
use crate::ToolError;
use switchyard_aws::artifacts::{Artifact, NewArtifact};

/// How long artifacts are kept unless the instance says `artifact_retention_days`.
const DEFAULT_RETENTION_DAYS: u64 = 30;
/// How long a presigned URL is valid unless the instance says `presign_ttl_secs`.
const DEFAULT_PRESIGN_SECS: u64 = 900;

fn config_number(call: &Call<'_>, key: &str, default: u64) -> u64 {
    call.instance
        .config
        .get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// What the handler knows about bytes to store; the store measures size and digest.
#[derive(Debug)]
pub(crate) struct Media<'a> {
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub mime_type: &'a str,
    pub extension: &'a str,
    pub duration_ms: Option<u64>,
    pub dimensions: Option<(u32, u32)>,
}

/// Stores `bytes` under the instance's workspace.
pub(crate) async fn put(
    call: &Call<'_>,
    media: &Media<'_>,
    bytes: &[u8],
) -> Result<Artifact, ToolError> {
    let now = call.app.clock.now();
    let days = config_number(call, "artifact_retention_days", DEFAULT_RETENTION_DAYS);
    let new = NewArtifact {
        workspace: &call.instance.workspace,
        provider: media.provider,
        model: media.model,
        mime_type: media.mime_type,
        extension: media.extension,
        job_id: None,
        receipt_id: Some(&call.receipt_id),
        duration_ms: media.duration_ms,
        dimensions: media.dimensions,
        expires_at: now + days * 86_400,
    };
    call.app
        .artifacts
        .put(&new, bytes, now)
        .await
        .map_err(|e| ToolError::unavailable(e.to_string()))
}

/// The artifact as the agent sees it, with a presigned URL.
pub(crate) async fn describe(call: &Call<'_>, artifact: &Artifact) -> Result<Value, ToolError> {
    let ttl = Duration::from_secs(config_number(
        call,
        "presign_ttl_secs",
        DEFAULT_PRESIGN_SECS,
    ));
    let url = call
        .app
        .artifacts
        .presigned_url(artifact, ttl)
        .await
        .map_err(|e| ToolError::unavailable(e.to_string()))?;
    let mut out = json!({
        "artifact_id": artifact.id,
        "mime_type": artifact.mime_type,
        "size_bytes": artifact.size_bytes,
        "sha256": artifact.sha256,
        "provider": artifact.provider,
        "expires_at": artifact.expires_at,
        "url": url,
        "url_expires_in_secs": ttl.as_secs(),
    });
    if let Some(model) = &artifact.model {
        out["model"] = json!(model);
    }
    if let Some(ms) = artifact.duration_ms {
        out["duration_ms"] = json!(ms);
    }
    if let Some((w, h)) = artifact.dimensions {
        out["width"] = json!(w);
        out["height"] = json!(h);
    }
    Ok(out)
}
