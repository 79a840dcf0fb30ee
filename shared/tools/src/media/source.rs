//! Where audio to transcribe comes from: an artifact of the caller's workspace (by id or by its
//! S3 key), or an inbound attachment URL fetched through the egress guard (`secure_http`): a
//! Slack file with the bot token of a Slack instance the agent is granted in the same
//! workspace, or a Discord attachment URL (no credential). Sizes are capped before reading.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::limits::Limits;
use crate::error::ErrorCode;
use crate::executor::Call;
use crate::secure_http::{Credential, Placement, Policy, Request};
use crate::ToolError;
use switchyard_aws::artifacts::{Artifact, ArtifactError};

/// Hosts attachments are fetched from unless the instance says `attachment_hosts`.
const DEFAULT_ATTACHMENT_HOSTS: &str = "files.slack.com,cdn.discordapp.com,media.discordapp.net";

/// Audio to transcribe.
#[derive(Debug)]
pub(crate) struct Audio {
    pub bytes: Vec<u8>,
    /// The stored artifact it came from, if it was one.
    pub artifact: Option<Artifact>,
    /// The attachment URL it was fetched from, if it was one.
    pub url: Option<String>,
}

fn not_found(what: &str) -> ToolError {
    ToolError::new(
        ErrorCode::InvalidInput,
        format!("no artifact {what} in this workspace"),
        false,
    )
}

fn artifact_error(e: ArtifactError, limits: &Limits) -> ToolError {
    match e {
        ArtifactError::TooLarge { size, .. } => limits
            .input_bytes(size)
            .map(|()| ToolError::internal("size check disagreed"))
            .unwrap_or_else(Into::into),
        ArtifactError::NotFound(id) => not_found(&id),
        other => ToolError::unavailable(other.to_string()),
    }
}

/// The artifact `id` if it belongs to the instance's workspace (others' are "not found").
async fn artifact(call: &Call<'_>, id: &str) -> Result<Artifact, ToolError> {
    call.app
        .artifacts
        .get(id)
        .await
        .map_err(|e| ToolError::unavailable(e.to_string()))?
        .filter(|a| a.workspace == call.instance.workspace)
        .ok_or_else(|| not_found(id))
}

/// The audio named by `input` (`artifact_id`, `s3_key` or `url`), within the input limits.
pub(crate) async fn fetch(
    call: &Call<'_>,
    input: &Value,
    limits: &Limits,
) -> Result<Audio, ToolError> {
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    let found = match (text("artifact_id"), text("s3_key")) {
        (Some(id), _) => Some(artifact(call, id).await?),
        (None, Some(key)) => {
            // `artifacts/<workspace>/<id>.<ext>`: the id names the metadata, which must agree.
            let id = key
                .rsplit('/')
                .next()
                .and_then(|file| file.split('.').next())
                .unwrap_or_default();
            let found = artifact(call, id).await?;
            if found.key != key {
                return Err(not_found(key));
            }
            Some(found)
        }
        (None, None) => None,
    };
    if let Some(found) = found {
        limits.input_bytes(found.size_bytes)?;
        let bytes = call
            .app
            .artifacts
            .bytes(&found, limits.max_input_bytes)
            .await
            .map_err(|e| artifact_error(e, limits))?;
        return Ok(Audio {
            bytes,
            artifact: Some(found),
            url: None,
        });
    }
    let url = text("url")
        .ok_or_else(|| {
            ToolError::invalid_input_message("one of artifact_id, s3_key or url is required".into())
        })?
        .to_owned();
    let bytes = download(call, &url, text("slack_instance_id"), limits).await?;
    Ok(Audio {
        bytes,
        artifact: None,
        url: Some(url),
    })
}

/// The bot token of Slack instance `id`: same workspace, and granted to the caller.
async fn slack_token(call: &Call<'_>, id: &str) -> Result<Credential, ToolError> {
    let denied = || {
        ToolError::new(
            ErrorCode::Forbidden,
            "the Slack instance is not in this workspace or not granted to the agent",
            false,
        )
    };
    let slack = call
        .app
        .instances
        .get(id)
        .await
        .map_err(|e| ToolError::unavailable(e.to_string()))?
        .filter(|i| {
            i.workspace == call.instance.workspace
                && i.provider == "slack"
                && i.grants.contains_key(call.agent_id)
        })
        .ok_or_else(denied)?;
    let sealed = slack
        .sealed
        .as_ref()
        .ok_or_else(|| ToolError::misconfigured("the Slack instance has no bot token"))?;
    let mut secrets = call
        .app
        .keyring
        .open(&slack.id, sealed)
        .await
        .map_err(|e| ToolError::unavailable(e.to_string()))?;
    let token = secrets
        .remove("bot_token")
        .ok_or_else(|| ToolError::misconfigured("the Slack instance has no bot token"))?;
    Ok(Credential {
        placement: Placement::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        },
        value: token,
    })
}

/// Fetches an attachment through the egress guard: allowed hosts only, no private addresses,
/// the credential over https to the URL's origin only, the body capped at the input limit.
async fn download(
    call: &Call<'_>,
    url: &str,
    slack_instance: Option<&str>,
    limits: &Limits,
) -> Result<Vec<u8>, ToolError> {
    let config = &call.instance.config;
    let credential = match slack_instance {
        Some(id) => Some(slack_token(call, id).await?),
        None => None,
    };
    let policy = Policy {
        allowed_hosts: config
            .get("attachment_hosts")
            .map_or(DEFAULT_ATTACHMENT_HOSTS, String::as_str)
            .split([',', ' '])
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect(),
        credential,
        max_response_bytes: usize::try_from(limits.max_input_bytes).unwrap_or(usize::MAX),
        timeout: call
            .deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(20)),
        max_redirects: 3,
        allow_plain_http: config
            .get("attachment_allow_plain_http")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    let request = Request {
        method: "GET".into(),
        url: url.to_owned(),
        headers: Default::default(),
        query: Default::default(),
        body: None,
    };
    let response = call
        .app
        .secure_http()
        .send(&policy, request)
        .await
        .map_err(|e| {
            use crate::secure_http::SecureHttpError as E;
            match e {
                E::TooLarge(_) => limits
                    .input_bytes(limits.max_input_bytes.saturating_add(1))
                    .map(|()| ToolError::internal("size check disagreed"))
                    .unwrap_or_else(Into::into),
                E::HostNotAllowed(_) | E::BlockedAddress { .. } | E::PlainHttpNotAllowed(_) => {
                    ToolError::new(ErrorCode::Denied, e.to_string(), false)
                }
                E::BadRequest(_) => ToolError::invalid_input_message(e.to_string()),
                other => ToolError::new(
                    ErrorCode::ProviderUnavailable,
                    other.to_string(),
                    other.retryable(),
                ),
            }
        })?;
    if !(200..300).contains(&response.status) {
        return Err(ToolError::provider(
            response.status,
            format!("the attachment URL answered HTTP {}", response.status),
        ));
    }
    Ok(response.raw)
}
