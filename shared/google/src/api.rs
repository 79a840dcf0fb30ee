//! Google API calls as internal tool methods (`google_sync.*`), run as worker calls.

use serde_json::Value;
use tokio::time::Instant;

use switchyard_aws::instances::Instance;
use switchyard_tools::{ErrorCode, ToolError, ToolResponse};

use crate::GoogleSync;

/// Who the receipts name as the caller.
pub const CALLER: &str = "system:google-sync";

/// A Google call that failed: the tool error, with the provider's HTTP status when it answered.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{tool}: {code}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ApiError {
    pub tool: String,
    pub code: ErrorCode,
    pub status: Option<u16>,
    pub message: String,
    pub retryable: bool,
}

impl ApiError {
    fn from_tool(tool: &str, error: ToolError) -> Self {
        Self {
            tool: tool.to_owned(),
            code: error.code,
            status: error.provider_status,
            message: error.message,
            retryable: error.retryable,
        }
    }

    /// Google answered with `status` (404: Gmail history expired; 410: a stale sync token).
    pub fn is_status(&self, status: u16) -> bool {
        self.status == Some(status)
    }
}

/// Calls `google_sync.<method>` on `instance` with `input`, by `deadline`.
pub async fn call(
    app: &GoogleSync,
    instance: &Instance,
    method: &str,
    input: Value,
    deadline: Instant,
) -> Result<Value, ApiError> {
    let tool = format!("google_sync.{method}");
    match switchyard_tools::call_for_worker(app, &tool, instance, CALLER, input, deadline).await {
        ToolResponse::Ok { output, .. } => Ok(output),
        ToolResponse::Err { error, .. } => Err(ApiError::from_tool(&tool, error)),
    }
}

/// An epoch-milliseconds field (Google sends them as strings) in unix seconds.
pub fn millis_to_secs(value: Option<&Value>) -> Option<u64> {
    let ms = match value? {
        Value::String(s) => s.parse::<u64>().ok()?,
        Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    Some(ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expirations_in_milliseconds_read_as_seconds() {
        assert_eq!(
            millis_to_secs(Some(&json!("1431990098200"))),
            Some(1_431_990_098)
        );
        assert_eq!(
            millis_to_secs(Some(&json!(1_431_990_098_200u64))),
            Some(1_431_990_098)
        );
        assert_eq!(millis_to_secs(Some(&json!("soon"))), None);
        assert_eq!(millis_to_secs(None), None);
    }
}
