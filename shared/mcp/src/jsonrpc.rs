//! The JSON-RPC 2.0 messages MCP is made of: what a client posts, and the answers.

use serde::Deserialize;
use serde_json::{json, Value};

/// JSON-RPC error codes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Parse,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    Internal,
}

impl ErrorCode {
    pub fn code(self) -> i64 {
        match self {
            Self::Parse => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidParams => -32602,
            Self::Internal => -32603,
        }
    }
}

/// A protocol error (not a tool's failure, which is a result with `isError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One message a client posted.
#[derive(Debug, Clone, Deserialize)]
pub struct Incoming {
    #[serde(default)]
    pub jsonrpc: Option<String>,
    /// Absent for notifications.
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub params: Option<Value>,
}

/// What a posted body is.
#[derive(Debug)]
pub enum Message {
    /// A request: it gets an answer.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification, or a response to a server request: accepted, nothing to answer.
    Accepted,
}

/// Reads a posted body.
pub fn read(body: &[u8]) -> Result<Message, (Value, RpcError)> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| (Value::Null, RpcError::new(ErrorCode::Parse, e.to_string())))?;
    if value.is_array() {
        // Batches were removed from MCP in 2025-06-18.
        return Err((
            Value::Null,
            RpcError::new(ErrorCode::InvalidRequest, "batches are not supported"),
        ));
    }
    let incoming: Incoming = serde_json::from_value(value).map_err(|e| {
        (
            Value::Null,
            RpcError::new(ErrorCode::InvalidRequest, e.to_string()),
        )
    })?;
    let id = incoming.id.clone().unwrap_or(Value::Null);
    if incoming.jsonrpc.as_deref() != Some("2.0") {
        return Err((
            id,
            RpcError::new(ErrorCode::InvalidRequest, "jsonrpc must be \"2.0\""),
        ));
    }
    match (incoming.id, incoming.method) {
        (Some(id @ (Value::String(_) | Value::Number(_))), Some(method)) => Ok(Message::Request {
            id,
            method,
            params: incoming.params.unwrap_or(Value::Null),
        }),
        (Some(id), Some(_)) => Err((
            Value::Null,
            RpcError::new(
                ErrorCode::InvalidRequest,
                format!("id must be a string or a number, not {id}"),
            ),
        )),
        // A notification (method, no id) or a response (id, no method).
        _ => Ok(Message::Accepted),
    }
}

/// A successful answer.
pub fn result(id: &Value, result: Value) -> Value {
    let mut answer = serde_json::Map::new();
    answer.insert("jsonrpc".into(), "2.0".into());
    answer.insert("id".into(), id.clone());
    answer.insert("result".into(), result);
    Value::Object(answer)
}

/// An error answer.
pub fn error(id: &Value, error: &RpcError) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": error.code.code(), "message": error.message},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_and_malformed_bodies() {
        let request = read(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).expect("request");
        assert!(matches!(request, Message::Request { ref method, .. } if method == "ping"));
        let note = read(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(matches!(note, Ok(Message::Accepted)));
        let cases: [(&[u8], ErrorCode); 4] = [
            (b"{not json", ErrorCode::Parse),
            (
                br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                ErrorCode::InvalidRequest,
            ),
            (
                br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                ErrorCode::InvalidRequest,
            ),
        ];
        for (body, code) in cases {
            let (_, e) = read(body).expect_err("malformed");
            assert_eq!(e.code, code, "{}", String::from_utf8_lossy(body));
        }
    }
}
