//! An image artifact as a `data:` URL for a vision model: only the caller's workspace's
//! artifacts, size-capped before reading, and typed from the bytes (not the stored mime type).

use base64::Engine as _;

use crate::error::ErrorCode;
use crate::executor::Call;
use crate::ToolError;
use switchyard_aws::artifacts::ArtifactError;

/// The largest image sent inline unless the instance says `max_image_bytes` (OpenAI's cap on
/// an image input is 20 MB).
pub(crate) const DEFAULT_MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

fn not_found(id: &str) -> ToolError {
    ToolError::new(
        ErrorCode::InvalidInput,
        format!("no artifact {id} in this workspace"),
        false,
    )
}

fn too_large(size: u64, cap: u64) -> ToolError {
    ToolError::new(
        ErrorCode::LimitExceeded,
        format!("max_image_bytes: the image has {size} bytes, the limit is {cap}"),
        false,
    )
}

/// An image URL for the provider to fetch, held to the egress guard's address rules: https
/// only, and no literal private, loopback, link-local or metadata address (nor `localhost`), so
/// the gateway never hands a provider a URL into a private network.
pub(crate) fn checked_url(url: &str) -> Result<String, ToolError> {
    let refused = |why: &str| ToolError::invalid_input_message(format!("image_url {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|_| refused("is not a URL"))?;
    if parsed.scheme() != "https" {
        return Err(refused("must be https"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| refused("has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let blocked = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => crate::secure_http::is_blocked_ip(ip),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    };
    if blocked {
        return Err(refused("names a private or local address"));
    }
    Ok(url.to_owned())
}

/// The artifact `id` of the instance's workspace as `data:<mime>;base64,<bytes>`.
pub(crate) async fn data_url(call: &Call<'_>, id: &str) -> Result<String, ToolError> {
    let cap = call
        .instance
        .config
        .get("max_image_bytes")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_IMAGE_BYTES);
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
    if artifact.size_bytes > cap {
        return Err(too_large(artifact.size_bytes, cap));
    }
    let bytes = crate::within(
        call.deadline,
        "reading the artifact",
        call.app.artifacts.bytes(&artifact, cap),
    )
    .await?
    .map_err(|e| match e {
        ArtifactError::TooLarge { size, .. } => too_large(size, cap),
        ArtifactError::NotFound(_) => not_found(id),
        other => ToolError::unavailable(other.to_string()),
    })?;
    let mime = match imagesize::image_type(&bytes) {
        Ok(imagesize::ImageType::Png) => "image/png",
        Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
        Ok(imagesize::ImageType::Webp) => "image/webp",
        Ok(imagesize::ImageType::Gif) => "image/gif",
        _ => {
            return Err(ToolError::invalid_input_message(format!(
                "artifact {id} is not a PNG, JPEG, WebP or GIF image"
            )))
        }
    };
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(format!("data:{mime};base64,{data}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_urls_into_private_networks_are_refused() {
        assert!(checked_url("https://example.com/cat.png").is_ok());
        for bad in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/x.png",
            "https://127.0.0.1/x.png",
            "https://[::1]/x.png",
            "https://localhost/x.png",
            "https://db.localhost./x.png",
            "http://example.com/cat.png",
            "not a url",
        ] {
            let e = checked_url(bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
        }
    }
}
