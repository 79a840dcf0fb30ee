//! An HTTP answer, as the webhook, OAuth and tool routes build it (Lambda and the local host
//! turn it into their own response types).

use serde_json::Value;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    /// A `Location` header (redirects).
    pub location: Option<String>,
    /// A `Set-Cookie` header (the OAuth flow's browser binding).
    pub set_cookie: Option<String>,
}

impl Reply {
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            body: Vec::new(),
            location: None,
            set_cookie: None,
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain"),
            body: text.as_bytes().to_vec(),
            location: None,
            set_cookie: None,
        }
    }

    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            body: serde_json::to_vec(value).unwrap_or_default(),
            location: None,
            set_cookie: None,
        }
    }

    pub fn html(status: u16, html: String) -> Self {
        Self {
            status,
            content_type: Some("text/html; charset=utf-8"),
            body: html.into_bytes(),
            location: None,
            set_cookie: None,
        }
    }

    /// This reply, setting `cookie` (a full `Set-Cookie` value).
    pub fn with_cookie(mut self, cookie: String) -> Self {
        self.set_cookie = Some(cookie);
        self
    }

    /// A 302 to `location`.
    pub fn redirect(location: String) -> Self {
        Self {
            location: Some(location),
            ..Self::empty(302)
        }
    }
}
