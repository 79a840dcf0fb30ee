//! The wire protocols of LLM providers, behind one trait. A provider (in `llm.json`'s
//! `aiConfig.x-providers`) names its protocol; DeepSeek speaks OpenAI's chat protocol at its own
//! base URL, so adding such a provider is data only.

use serde_json::{json, Value};

/// One text-generation request, in provider-neutral terms.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest {
    pub model: String,
    pub system: Option<String>,
    /// `(role, text)`, roles `user` or `assistant`.
    pub turns: Vec<(String, String)>,
    /// Image URLs (https or `data:`) attached to the last user turn.
    pub images: Vec<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// A JSON Schema the answer must match.
    pub schema: Option<Value>,
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatAnswer {
    pub text: String,
    pub input_tokens: f64,
    pub output_tokens: f64,
}

/// A provider's answer that is not what its protocol promises.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unexpected answer: {0}")]
pub(crate) struct Unexpected(pub &'static str);

/// How to talk to one kind of LLM API.
pub(crate) trait Protocol: Sync {
    /// The name providers use for it in the definition.
    fn id(&self) -> &'static str;
    /// The text-generation path under the provider's base URL.
    fn chat_path(&self) -> &'static str;
    /// The header carrying the API key, and its value.
    fn auth_header(&self, key: &str) -> (&'static str, String);
    fn chat_body(&self, request: &ChatRequest) -> Value;
    fn read_chat(&self, body: &Value) -> Result<ChatAnswer, Unexpected>;
    /// The embeddings path, where the protocol has one.
    fn embeddings_path(&self) -> Option<&'static str> {
        None
    }
    /// `(vectors in input order, tokens)`.
    fn read_embeddings(&self, _body: &Value) -> Result<(Vec<Value>, f64), Unexpected> {
        Err(Unexpected("no embeddings in this protocol"))
    }
}

/// Every protocol, registered once.
pub(crate) const PROTOCOLS: &[&dyn Protocol] = &[&OpenAiChat, &AnthropicMessages];

/// The protocol named `id`.
pub(crate) fn find(id: &str) -> Option<&'static dyn Protocol> {
    PROTOCOLS.iter().copied().find(|p| p.id() == id)
}

/// Anthropic's image source: a `data:<type>;base64,<data>` URL becomes a base64 source (its
/// API takes no data URLs), any other URL a url source.
fn anthropic_image_source(url: &str) -> Value {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .map_or_else(
            || json!({"type": "url", "url": url}),
            |(media_type, data)| json!({"type": "base64", "media_type": media_type, "data": data}),
        )
}

fn tokens(body: &Value, pointer: &str) -> Result<f64, Unexpected> {
    body.pointer(pointer)
        .and_then(Value::as_f64)
        .ok_or(Unexpected("no token usage"))
}

/// OpenAI's `POST /chat/completions` (also DeepSeek's).
#[derive(Debug)]
pub(crate) struct OpenAiChat;

impl Protocol for OpenAiChat {
    fn id(&self) -> &'static str {
        "openai_chat"
    }

    fn chat_path(&self) -> &'static str {
        "/chat/completions"
    }

    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {key}"))
    }

    fn chat_body(&self, r: &ChatRequest) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &r.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        let last_user = r.turns.iter().rposition(|(role, _)| role == "user");
        for (i, (role, text)) in r.turns.iter().enumerate() {
            if Some(i) == last_user && !r.images.is_empty() {
                let mut parts = vec![json!({"type": "text", "text": text})];
                parts.extend(
                    r.images
                        .iter()
                        .map(|u| json!({"type": "image_url", "image_url": {"url": u}})),
                );
                messages.push(json!({"role": role, "content": parts}));
            } else {
                messages.push(json!({"role": role, "content": text}));
            }
        }
        let mut body = json!({"model": r.model, "messages": messages});
        if let Some(t) = r.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = r.max_tokens {
            body["max_completion_tokens"] = json!(m);
        }
        if let Some(schema) = &r.schema {
            body["response_format"] = json!({"type": "json_schema",
                "json_schema": {"name": "output", "schema": schema}});
        }
        body
    }

    fn read_chat(&self, body: &Value) -> Result<ChatAnswer, Unexpected> {
        Ok(ChatAnswer {
            text: body
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .ok_or(Unexpected("no choices[0].message.content"))?
                .to_owned(),
            input_tokens: tokens(body, "/usage/prompt_tokens")?,
            output_tokens: tokens(body, "/usage/completion_tokens")?,
        })
    }

    fn embeddings_path(&self) -> Option<&'static str> {
        Some("/embeddings")
    }

    fn read_embeddings(&self, body: &Value) -> Result<(Vec<Value>, f64), Unexpected> {
        let mut data: Vec<&Value> = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or(Unexpected("no data"))?
            .iter()
            .collect();
        data.sort_by_key(|d| d.get("index").and_then(Value::as_u64).unwrap_or(u64::MAX));
        let vectors = data
            .into_iter()
            .map(|d| {
                d.get("embedding")
                    .cloned()
                    .ok_or(Unexpected("no embedding"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((vectors, tokens(body, "/usage/prompt_tokens")?))
    }
}

/// Anthropic's `POST /messages`. It has no JSON-Schema response format: the schema goes into
/// the system prompt and the answer is validated like any other.
#[derive(Debug)]
pub(crate) struct AnthropicMessages;

/// Anthropic requires `max_tokens`.
const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 1024;

impl Protocol for AnthropicMessages {
    fn id(&self) -> &'static str {
        "anthropic_messages"
    }

    fn chat_path(&self) -> &'static str {
        "/messages"
    }

    fn auth_header(&self, key: &str) -> (&'static str, String) {
        ("x-api-key", key.to_owned())
    }

    fn chat_body(&self, r: &ChatRequest) -> Value {
        let last_user = r.turns.iter().rposition(|(role, _)| role == "user");
        let messages: Vec<Value> = r
            .turns
            .iter()
            .enumerate()
            .map(|(i, (role, text))| {
                if Some(i) == last_user && !r.images.is_empty() {
                    let mut parts: Vec<Value> = r
                        .images
                        .iter()
                        .map(|u| json!({"type": "image", "source": anthropic_image_source(u)}))
                        .collect();
                    parts.push(json!({"type": "text", "text": text}));
                    json!({"role": role, "content": parts})
                } else {
                    json!({"role": role, "content": text})
                }
            })
            .collect();
        let mut system = r.system.clone().unwrap_or_default();
        if let Some(schema) = &r.schema {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&format!(
                "Answer with one JSON value only, no prose, matching this JSON Schema: {schema}"
            ));
        }
        let mut body = json!({"model": r.model, "messages": messages,
            "max_tokens": r.max_tokens.unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS)});
        if !system.is_empty() {
            body["system"] = json!(system);
        }
        if let Some(t) = r.temperature {
            body["temperature"] = json!(t);
        }
        body
    }

    fn read_chat(&self, body: &Value) -> Result<ChatAnswer, Unexpected> {
        let blocks = body
            .get("content")
            .and_then(Value::as_array)
            .ok_or(Unexpected("no content blocks"))?;
        let text: String = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        Ok(ChatAnswer {
            text,
            input_tokens: tokens(body, "/usage/input_tokens")?,
            output_tokens: tokens(body, "/usage/output_tokens")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            system: Some("be brief".into()),
            turns: vec![("user".into(), "what is this?".into())],
            images: vec!["https://example.com/a.png".into()],
            temperature: Some(0.2),
            max_tokens: None,
            schema: Some(json!({"type": "object"})),
        }
    }

    #[test]
    fn openai_bodies_carry_system_images_and_the_schema() {
        let body = OpenAiChat.chat_body(&request());
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            body["messages"][1]["content"][1]["image_url"]["url"],
            "https://example.com/a.png"
        );
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["temperature"], 0.2);
    }

    #[test]
    fn anthropic_bodies_need_max_tokens_and_put_the_schema_in_the_system_prompt() {
        let body = AnthropicMessages.chat_body(&request());
        assert_eq!(body["max_tokens"], ANTHROPIC_DEFAULT_MAX_TOKENS);
        assert!(body["system"]
            .as_str()
            .is_some_and(|s| s.starts_with("be brief") && s.contains("JSON Schema")));
        assert_eq!(body["messages"][0]["content"][0]["type"], "image");
        let answer = AnthropicMessages
            .read_chat(&json!({"content": [{"type": "text", "text": "hi"}],
                "usage": {"input_tokens": 3, "output_tokens": 1}}))
            .expect("read");
        assert_eq!(answer.text, "hi");
        assert_eq!(answer.input_tokens, 3.0);
        assert!(AnthropicMessages
            .read_chat(&json!({"content": []}))
            .is_err());
    }

    #[test]
    fn anthropic_takes_inline_images_as_base64_sources() {
        let mut r = request();
        r.images = vec!["data:image/png;base64,iVBORw0K".into()];
        let body = AnthropicMessages.chat_body(&r);
        let image = &body["messages"][0]["content"][0];
        assert_eq!(
            image["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0K"})
        );
        let mut openai = request();
        openai.images.clone_from(&r.images);
        let body = OpenAiChat.chat_body(&openai);
        let url = &body["messages"][1]["content"][1]["image_url"]["url"];
        assert_eq!(
            url, "data:image/png;base64,iVBORw0K",
            "OpenAI takes data URLs"
        );
    }

    #[test]
    fn embeddings_read_in_input_order() {
        let (vectors, tokens) = OpenAiChat
            .read_embeddings(&json!({"data": [
                {"index": 1, "embedding": [0.0, 1.0]},
                {"index": 0, "embedding": [1.0, 0.0]}],
                "usage": {"prompt_tokens": 4}}))
            .expect("read");
        assert_eq!(vectors, vec![json!([1.0, 0.0]), json!([0.0, 1.0])]);
        assert_eq!(tokens, 4.0);
    }
}
