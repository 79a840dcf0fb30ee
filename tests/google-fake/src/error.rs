//! Google's JSON error body, as every API here answers it:
//! `{"error":{"code":404,"message":"…","errors":[{"message":"…","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}`.

use serde_json::{json, Value};

/// An error answer: HTTP status, the `errors[0]` reason and domain, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub domain: &'static str,
    pub message: String,
}

impl ApiError {
    /// An error of `code` with `reason` in domain `global`.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            domain: "global",
            message: message.into(),
        }
    }

    /// 400 `badRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "badRequest", message)
    }

    /// 400 `invalid` (a parameter value Google rejects, e.g. a page token).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid", message)
    }

    /// 400 `required`.
    pub fn required(message: impl Into<String>) -> Self {
        Self::new(400, "required", message)
    }

    /// 404 `notFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "notFound", message)
    }

    /// 401 `authError`: no or an unknown bearer token.
    pub fn unauthenticated() -> Self {
        Self::new(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
    }

    /// 403 `insufficientPermissions`: the token lacks every scope the method accepts.
    pub fn insufficient_scope() -> Self {
        Self::new(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )
    }

    /// The body Google sends. `errors[].message` is the short form Google puts there for auth
    /// errors and the message otherwise.
    pub fn body(&self) -> Value {
        let detail = match self.reason {
            "authError" => "Invalid Credentials",
            "insufficientPermissions" => "Insufficient Permission",
            _ => self.message.as_str(),
        };
        let mut item = json!({"message": detail, "domain": self.domain, "reason": self.reason});
        if self.reason == "authError" {
            item["location"] = "Authorization".into();
            item["locationType"] = "header".into();
        }
        let mut error = json!({"code": self.code, "message": self.message, "errors": [item]});
        if let Some(status) = canonical_status(self.code) {
            error["status"] = status.into();
        }
        json!({ "error": error })
    }
}

/// The google.rpc status name Google adds for `code` (none for 410, whose Calendar body has none).
pub(crate) fn canonical_status(code: u16) -> Option<&'static str> {
    Some(match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "NOT_IMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_has_googles_shape() {
        assert_eq!(
            ApiError::not_found("Requested entity was not found.").body(),
            json!({"error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
                "status": "NOT_FOUND",
            }})
        );
        assert!(ApiError::new(410, "fullSyncRequired", "x").body()["error"]
            .get("status")
            .is_none());
    }
}
