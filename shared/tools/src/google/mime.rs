//! RFC 5322 messages for Gmail, built with `mail-builder`: UTF-8 headers as RFC 2047 encoded
//! words, text and HTML as `multipart/alternative`, attachments base64-encoded.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_builder::headers::address::Address;
use mail_builder::MessageBuilder;
use serde_json::Value;

use crate::{ErrorCode, ToolError};

/// Attachments above this total (decoded) are refused before anything is sent: the message is
/// base64 inside a JSON body inside a Lambda payload (6 MB), and Gmail's JSON `raw` send is for
/// small messages. Larger files belong in Drive.
pub(crate) const MAX_ATTACHMENT_BYTES: usize = 3 << 20;

/// One address: `a@example.com` or `Name <a@example.com>`.
fn address(text: &str) -> Result<Address<'static>, ToolError> {
    let text = text.trim();
    let (name, email) = match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => {
            let name = text[..open].trim().trim_matches('"').trim();
            (
                (!name.is_empty()).then(|| name.to_owned()),
                text[open + 1..text.len() - 1].trim().to_owned(),
            )
        }
        _ => (None, text.to_owned()),
    };
    let valid = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains([' ', '<', '>', ',', '\r', '\n']);
    if !valid {
        return Err(ToolError::invalid_input_message(format!(
            "{text:?} is not an email address"
        )));
    }
    Ok(Address::new_address(name, email))
}

fn addresses(input: &Value, key: &str) -> Result<Option<Address<'static>>, ToolError> {
    let Some(list) = input.get(key).and_then(Value::as_array) else {
        return Ok(None);
    };
    let parsed = list
        .iter()
        .filter_map(Value::as_str)
        .map(address)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!parsed.is_empty()).then(|| Address::new_list(parsed)))
}

/// Refuses header values that would inject headers.
fn header_text(input: &Value, key: &str) -> Result<Option<String>, ToolError> {
    match input.get(key).and_then(Value::as_str) {
        Some(v) if v.contains(['\r', '\n']) => Err(ToolError::invalid_input_message(format!(
            "{key} must be one line"
        ))),
        Some(v) => Ok(Some(v.to_owned())),
        None => Ok(None),
    }
}

/// The message of a `send_message`/`create_draft` input (`to`, `cc`, `bcc`, `from`,
/// `reply_to`, `subject`, `text`, `html`, `in_reply_to`, `attachments`), as RFC 5322 bytes.
pub(crate) fn build(input: &Value) -> Result<Vec<u8>, ToolError> {
    let mut message = MessageBuilder::new().message_id(format!(
        "{}@switchyard.invalid",
        uuid::Uuid::new_v4().simple()
    ));
    if let Some(from) = header_text(input, "from")? {
        message = message.from(address(&from)?);
    }
    if let Some(to) = addresses(input, "to")? {
        message = message.to(to);
    }
    if let Some(cc) = addresses(input, "cc")? {
        message = message.cc(cc);
    }
    if let Some(bcc) = addresses(input, "bcc")? {
        message = message.bcc(bcc);
    }
    if let Some(reply_to) = header_text(input, "reply_to")? {
        message = message.reply_to(address(&reply_to)?);
    }
    if let Some(subject) = header_text(input, "subject")? {
        message = message.subject(subject);
    }
    if let Some(id) = header_text(input, "in_reply_to")? {
        let id = id.trim_matches(['<', '>']).to_owned();
        message = message.in_reply_to(id.clone()).references(id);
    }
    let text = input.get("text").and_then(Value::as_str);
    let html = input.get("html").and_then(Value::as_str);
    if text.is_none() && html.is_none() {
        return Err(ToolError::invalid_input_message(
            "text or html is required".into(),
        ));
    }
    if let Some(text) = text {
        message = message.text_body(text.to_owned());
    }
    if let Some(html) = html {
        message = message.html_body(html.to_owned());
    }
    let mut total = 0usize;
    for attachment in input
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| {
            attachment
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let bytes = STANDARD.decode(field("content_base64")).map_err(|_| {
            ToolError::invalid_input_message(format!(
                "attachment {:?}: content_base64 is not base64",
                field("filename")
            ))
        })?;
        total += bytes.len();
        if total > MAX_ATTACHMENT_BYTES {
            return Err(ToolError::new(
                ErrorCode::TooLarge,
                format!(
                    "attachments total more than {MAX_ATTACHMENT_BYTES} bytes; share large files through Drive"
                ),
                false,
            ));
        }
        let content_type = match field("content_type") {
            "" => "application/octet-stream".to_owned(),
            t => t.to_owned(),
        };
        message = message.attachment(content_type, field("filename").to_owned(), bytes);
    }
    message
        .write_to_vec()
        .map_err(|e| ToolError::internal(&format!("building the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_parse_and_refuse_garbage() {
        assert!(address("Zoë <zoe@example.com>").is_ok());
        assert!(address("zoe@example.com").is_ok());
        assert!(address("not an address").is_err());
        assert!(address("a@b.com\r\nBcc: x@y.com").is_err());
    }

    #[test]
    fn header_injection_and_empty_bodies_are_refused() {
        let base = json!({"to": ["a@example.com"], "text": "hi"});
        let mut bad = base.clone();
        bad["subject"] = "x\r\nBcc: evil@example.com".into();
        assert_eq!(
            build(&bad).expect_err("refused").code,
            ErrorCode::InvalidInput
        );
        let no_body = json!({"to": ["a@example.com"], "subject": "s"});
        assert_eq!(
            build(&no_body).expect_err("refused").code,
            ErrorCode::InvalidInput
        );
        assert!(build(&base).is_ok());
    }

    #[test]
    fn attachments_over_the_cap_are_too_large() {
        let big = STANDARD.encode(vec![0u8; MAX_ATTACHMENT_BYTES + 1]);
        let input = json!({"to": ["a@example.com"], "text": "hi",
            "attachments": [{"filename": "a.bin", "content_base64": big}]});
        assert_eq!(build(&input).expect_err("capped").code, ErrorCode::TooLarge);
    }
}
