//! What a failed tool call tells the agent: a stable code, a public message, and the request id
//! that finds the detail in the logs.
//!
//! Agents are not operators: a DynamoDB error chain or a vault failure says nothing they can act
//! on and may describe our infrastructure. Codes whose detail is the agent's own business (its
//! input, a guardrail, the provider's own answer) carry it; every other code carries only its
//! fixed public message, and the detail goes to the logs under the request id the agent gets.

use serde::{Deserialize, Serialize};

use crate::definitions::SchemaViolation;
use crate::outbound::CallError;

/// Every error code a tool call can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidInput,
    Forbidden,
    Denied,
    UnknownTool,
    NotFound,
    InProgress,
    Disabled,
    /// The idempotency key was used before with another input (or by another call shape).
    IdempotencyConflict,
    /// The request may have reached the provider and its result is unknown; the key is spent.
    OutcomeUnknown,
    /// The stored result of an idempotency key cannot be read.
    StoredResultUnreadable,
    RateLimited,
    ProviderUnavailable,
    Unavailable,
    Timeout,
    Misconfigured,
    Internal,
    AuthFailed,
    ProviderAuth,
    ProviderNotFound,
    ProviderConflict,
    ProviderError,
    InvalidOutput,
    /// The OAuth connection was not granted a scope the method needs; no provider call was made.
    InsufficientScope,
    /// What the method would send or return is over its size cap.
    TooLarge,
    /// A per-workspace media limit (bytes, audio duration, image pixels) refused the call,
    /// measured before any provider was paid; the message names the limit.
    LimitExceeded,
    /// The call is for a user who has not connected this instance (per-user connections); the
    /// error carries `connect_url`, a signed start link for that user. Never answered with
    /// someone else's token or the shared credential instead.
    ConnectionRequired,
    /// The instance requires a human's approval for this method: the call was stored, not run
    /// (`approval_id`, `expires_at`); the outcome arrives as `integration.approval_resolved`.
    ApprovalRequired,
    /// A free-form message to a person who has not written in the provider's customer-service
    /// window (WhatsApp: 24 hours); no provider call was made. A template message may be sent.
    OutsideSessionWindow,
    /// The recipient opted out (`STOP`); no provider call was made.
    RecipientOptedOut,
    /// The message template is not `APPROVED` (pending, rejected, paused or missing); no
    /// message was sent.
    TemplateNotApproved,
    /// The instance's daily request quota for a provider API is used up (TikTok Research API);
    /// no provider call was made. It renews at 00:00 UTC.
    QuotaExceeded,
}

impl ErrorCode {
    /// The code as it is sent (`invalid_input`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidInput => "invalid_input",
            Self::Forbidden => "forbidden",
            Self::Denied => "denied",
            Self::UnknownTool => "unknown_tool",
            Self::NotFound => "not_found",
            Self::InProgress => "in_progress",
            Self::Disabled => "disabled",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::StoredResultUnreadable => "stored_result_unreadable",
            Self::RateLimited => "rate_limited",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Misconfigured => "misconfigured",
            Self::Internal => "internal",
            Self::AuthFailed => "auth_failed",
            Self::ProviderAuth => "provider_auth",
            Self::ProviderNotFound => "provider_not_found",
            Self::ProviderConflict => "provider_conflict",
            Self::ProviderError => "provider_error",
            Self::InvalidOutput => "invalid_output",
            Self::InsufficientScope => "insufficient_scope",
            Self::TooLarge => "too_large",
            Self::LimitExceeded => "limit_exceeded",
            Self::ConnectionRequired => "connection_required",
            Self::ApprovalRequired => "approval_required",
            Self::OutsideSessionWindow => "outside_session_window",
            Self::RecipientOptedOut => "recipient_opted_out",
            Self::TemplateNotApproved => "template_not_approved",
            Self::QuotaExceeded => "quota_exceeded",
        }
    }

    /// The HTTP status of the `/tools` route.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidInput => 400,
            Self::Forbidden
            | Self::Denied
            | Self::InsufficientScope
            | Self::ConnectionRequired
            | Self::RecipientOptedOut => 403,
            Self::OutsideSessionWindow | Self::TemplateNotApproved => 409,
            Self::QuotaExceeded => 429,
            Self::TooLarge | Self::LimitExceeded => 413,
            Self::UnknownTool | Self::NotFound => 404,
            Self::InProgress | Self::Disabled | Self::ApprovalRequired => 409,
            Self::IdempotencyConflict => 422,
            Self::RateLimited => 429,
            Self::ProviderUnavailable | Self::Unavailable => 503,
            Self::Timeout => 504,
            Self::Misconfigured | Self::Internal | Self::StoredResultUnreadable => 500,
            Self::OutcomeUnknown
            | Self::AuthFailed
            | Self::ProviderAuth
            | Self::ProviderNotFound
            | Self::ProviderConflict
            | Self::ProviderError
            | Self::InvalidOutput => 502,
        }
    }

    /// Whether the detail is the agent's to see: about its own input, a guardrail, or the
    /// provider's own answer. Everything else is ours and stays in the logs.
    fn shows_detail(self) -> bool {
        matches!(
            self,
            Self::InvalidRequest
                | Self::InvalidInput
                | Self::Denied
                | Self::UnknownTool
                | Self::Disabled
                | Self::RateLimited
                | Self::ProviderAuth
                | Self::ProviderNotFound
                | Self::ProviderConflict
                | Self::ProviderError
                | Self::InvalidOutput
                | Self::InsufficientScope
                | Self::TooLarge
                | Self::LimitExceeded
                | Self::ConnectionRequired
                | Self::ApprovalRequired
                | Self::OutsideSessionWindow
                | Self::RecipientOptedOut
                | Self::TemplateNotApproved
                | Self::QuotaExceeded
        )
    }

    /// The stable message an agent sees for this code.
    pub fn public_message(self) -> &'static str {
        match self {
            Self::InvalidRequest => "not a tool request",
            Self::InvalidInput => "the input does not match the method's schema",
            Self::Forbidden => "the agent is not granted this instance",
            Self::Denied => "a guardrail refused this call",
            Self::UnknownTool => "no such tool",
            Self::NotFound => "no such instance for this tool",
            Self::InProgress => "a call with this idempotency key is still running",
            Self::Disabled => "the tool is disabled on this instance after repeated provider failures",
            Self::IdempotencyConflict => {
                "this idempotency key was used with another input; use a new key for a new request"
            }
            Self::OutcomeUnknown => {
                "the request may have reached the provider and its result is unknown; check the provider before acting again, with a new idempotency key"
            }
            Self::StoredResultUnreadable => {
                "the stored result of this idempotency key cannot be read; check the provider before acting again, with a new idempotency key"
            }
            Self::RateLimited => "the provider asked to wait past this call's deadline",
            Self::ProviderUnavailable => "the provider failed or could not be reached",
            Self::Unavailable => "a gateway dependency is unavailable; retry later",
            Self::Timeout => "the call's deadline was reached",
            Self::Misconfigured => "the instance is misconfigured for this tool; an operator must fix it",
            Self::Internal => "internal error",
            Self::AuthFailed => "no usable credential for this instance; an operator must reconnect or fix it",
            Self::ProviderAuth => "the provider refused the credential",
            Self::ProviderNotFound => "the provider did not find it",
            Self::ProviderConflict => "the provider reported a conflict",
            Self::ProviderError => "the provider refused the request",
            Self::InvalidOutput => {
                "the provider's answer does not match the method's output schema"
            }
            Self::InsufficientScope => {
                "the connection was not granted a scope this tool needs; reconnect with it"
            }
            Self::TooLarge => "the content is over this tool's size cap",
            Self::LimitExceeded => "the call is over a media limit of this workspace",
            Self::ConnectionRequired => {
                "the user has not connected this instance; open connect_url to connect"
            }
            Self::ApprovalRequired => {
                "this call needs a human's approval; it runs once approved, and the outcome arrives as integration.approval_resolved"
            }
            Self::OutsideSessionWindow => {
                "the recipient has not written within the customer-service window; send an approved template instead"
            }
            Self::RecipientOptedOut => "the recipient opted out of messages",
            Self::TemplateNotApproved => "the message template is not approved",
            Self::QuotaExceeded => "the instance's daily quota for this API is used up",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a failure says about the provider, for the circuit breaker and the idempotency key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fault {
    /// Not the provider's fault: the caller's request, a guardrail, a limit, our own state.
    #[default]
    NotProvider,
    /// The provider failed (5xx, transport, timeout while it had the request, 429 after retries).
    /// `may_have_acted`: the request may have taken effect and repeating it is not known to be
    /// safe.
    Provider { may_have_acted: bool },
}

/// The approval a gated call waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub approval_id: String,
    /// Unix seconds after which the approval can no longer be given.
    pub expires_at: u64,
}

/// A failed call, as the agent sees it: precise, never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<u16>,
    /// For `invalid_input`: the failing paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<SchemaViolation>,
    /// Our id of this call: the logs hold the detail under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For `connection_required`: a signed, expiring start link that connects the user (boxed:
    /// rare, and errors travel by value through every `Result`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<Box<String>>,
    /// For `approval_required`: the approval the call waits for (`approval_id`, `expires_at`
    /// beside `code` in the answer). Boxed: every other error carries none.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Box<PendingApproval>>,
    /// The full detail, for the logs only.
    #[serde(skip)]
    pub detail: Option<String>,
    /// For the breaker and the idempotency key; never sent.
    #[serde(skip)]
    pub fault: Fault,
}

impl ToolError {
    /// An error with `code`; `detail` is shown only where the code allows (else logged).
    pub fn new(code: ErrorCode, detail: impl Into<String>, retryable: bool) -> Self {
        let detail = detail.into();
        Self {
            code,
            message: if code.shows_detail() && !detail.is_empty() {
                detail.clone()
            } else {
                code.public_message().to_owned()
            },
            retryable,
            provider_status: None,
            violations: Vec::new(),
            request_id: None,
            connect_url: None,
            approval: None,
            detail: Some(detail),
            fault: Fault::NotProvider,
        }
    }

    pub fn internal(detail: &str) -> Self {
        Self::new(ErrorCode::Internal, detail, false)
    }

    pub fn misconfigured(detail: &str) -> Self {
        Self::new(ErrorCode::Misconfigured, detail, false)
    }

    pub fn auth(detail: &str) -> Self {
        Self::new(ErrorCode::AuthFailed, detail, false)
    }

    /// A gateway dependency (DynamoDB, KMS) failed: retryable, detail logged only.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, detail, true)
    }

    /// The deadline passed before the provider was called.
    pub fn timeout_before_provider(step: &str) -> Self {
        Self::new(
            ErrorCode::Timeout,
            format!("the deadline passed during {step}; the provider was not called"),
            true,
        )
    }

    pub fn invalid_input_message(message: String) -> Self {
        Self::new(ErrorCode::InvalidInput, message, false)
    }

    pub(crate) fn invalid_input(violations: Vec<SchemaViolation>) -> Self {
        let paths: Vec<&str> = violations
            .iter()
            .map(|v| {
                if v.path.is_empty() {
                    "/"
                } else {
                    v.path.as_str()
                }
            })
            .collect();
        let message = format!("input does not match the schema at {}", paths.join(", "));
        Self {
            violations,
            ..Self::new(ErrorCode::InvalidInput, message, false)
        }
    }

    /// A provider's non-2xx answer (429 and 5xx never get here: see [`ToolError::from_call`]).
    pub fn provider(status: u16, message: String) -> Self {
        let code = match status {
            401 | 403 => ErrorCode::ProviderAuth,
            404 => ErrorCode::ProviderNotFound,
            409 => ErrorCode::ProviderConflict,
            _ => ErrorCode::ProviderError,
        };
        Self {
            provider_status: Some(status),
            fault: if status >= 500 {
                Fault::Provider {
                    may_have_acted: false,
                }
            } else {
                Fault::NotProvider
            },
            ..Self::new(code, message, false)
        }
    }

    /// Slack's HTTP 200 with `ok: false`.
    pub fn provider_ok_false(status: u16, error: String) -> Self {
        let retryable = matches!(
            error.as_str(),
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable"
        );
        Self {
            provider_status: Some(status),
            ..Self::new(ErrorCode::ProviderError, error, retryable)
        }
    }

    /// A call that ended without a usable answer. `repeat_is_safe`: the method may be sent again
    /// after it may have reached the provider, so an unknown outcome does not matter.
    pub(crate) fn from_call(e: &CallError, repeat_is_safe: bool) -> Self {
        let mut error = match *e {
            CallError::RateLimited {
                retry_after_ms,
                status,
            } => Self {
                provider_status: status,
                ..Self::new(
                    ErrorCode::RateLimited,
                    format!(
                        "the provider asked to wait {retry_after_ms} ms, past this call's deadline"
                    ),
                    true,
                )
            },
            CallError::Unavailable(status) => Self {
                provider_status: Some(status),
                ..Self::new(ErrorCode::ProviderUnavailable, e.to_string(), true)
            },
            CallError::Transport { .. } => {
                Self::new(ErrorCode::ProviderUnavailable, e.to_string(), true)
            }
            CallError::Deadline { sent } => Self::new(
                ErrorCode::Timeout,
                if sent {
                    "the deadline passed while the provider had the request"
                } else {
                    "the deadline passed before the request was sent"
                },
                true,
            ),
        };
        if e.is_provider_fault() {
            error.fault = Fault::Provider {
                may_have_acted: e.may_have_reached_provider() && !repeat_is_safe,
            };
        }
        error
    }

    /// The HTTP status for the `/tools` route.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// Whether the request may have taken effect at the provider without us knowing the result.
    pub fn may_have_acted(&self) -> bool {
        matches!(
            self.fault,
            Fault::Provider {
                may_have_acted: true
            }
        )
    }

    /// What the agent is told when the request may have acted: the outcome is unknown and the
    /// same request must not simply be repeated.
    pub(crate) fn into_outcome_unknown(self) -> Self {
        let detail = format!(
            "{}: {}",
            self.code,
            self.detail.as_deref().unwrap_or(&self.message)
        );
        Self {
            provider_status: self.provider_status,
            fault: self.fault,
            ..Self::new(ErrorCode::OutcomeUnknown, detail, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_is_logged_theirs_is_shown() {
        let aws = "dispatch failure: io error: connection refused (arn:aws:dynamodb:eu-west-1:123456789012:table/x)";
        let e = ToolError::unavailable(aws);
        assert_eq!(e.message, ErrorCode::Unavailable.public_message());
        assert_eq!(e.detail.as_deref(), Some(aws));
        let json = serde_json::to_string(&e).expect("json");
        assert!(
            !json.contains("arn:aws") && !json.contains("dispatch"),
            "{json}"
        );
        let provider = ToolError::provider(404, "Unknown Channel".into());
        assert_eq!(provider.message, "Unknown Channel");
    }

    #[test]
    fn codes_round_trip_as_snake_case() {
        for code in [
            ErrorCode::IdempotencyConflict,
            ErrorCode::OutcomeUnknown,
            ErrorCode::InsufficientScope,
            ErrorCode::TooLarge,
        ] {
            let text = serde_json::to_value(code).expect("json");
            assert_eq!(text, code.as_str());
            assert_eq!(
                serde_json::from_value::<ErrorCode>(text).expect("back"),
                code
            );
        }
    }

    #[test]
    fn only_provider_failures_are_faults() {
        let fault = |e: &CallError| ToolError::from_call(e, false).fault;
        assert_eq!(
            fault(&CallError::RateLimited {
                retry_after_ms: 1,
                status: None
            }),
            Fault::NotProvider,
            "our own bucket memory held it back"
        );
        assert_eq!(
            fault(&CallError::Unavailable(503)),
            Fault::Provider {
                may_have_acted: true
            }
        );
        assert_eq!(
            fault(&CallError::Deadline { sent: false }),
            Fault::NotProvider
        );
        assert_eq!(
            ToolError::from_call(&CallError::Unavailable(503), true).fault,
            Fault::Provider {
                may_have_acted: false
            }
        );
        assert_eq!(
            ToolError::provider(404, "Unknown Webhook".into()).fault,
            Fault::NotProvider
        );
    }
}
