//! The `llm.*` tools: text generation with provider fallback, embeddings, image understanding.
//!
//! Providers are data: `llm.json`'s `aiConfig.x-providers` lists each with its wire protocol
//! ([`protocol::Protocol`]), base URL, API key name, default models and extra headers. An
//! instance may point a provider elsewhere with `<provider>_base_url` (the tests' fakes). Keys
//! are the platform's (Secrets Manager) with a workspace override through the vault; a provider
//! without a key is skipped, and both the output (`skipped`) and the receipt (an attempt whose
//! decision says so) show it. Every provider call that answered pushes its token usage onto the
//! call, so the receipt is priced from what each provider reported.

mod image;
mod protocol;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ErrorCode;
use crate::executor::Call;
use crate::outbound::{Attempt, Retry};
use crate::usage::Usage;
use crate::ToolError;
use protocol::{ChatAnswer, ChatRequest, Protocol};

/// The handlers of this module.
pub(crate) const HANDLERS: &[&str] = &["llm_generate_text", "llm_embed", "llm_analyze_image"];

/// Whether `handler` is one of these tools.
pub(crate) fn handles(handler: &str) -> bool {
    HANDLERS.contains(&handler)
}

/// Runs `handler`.
pub(crate) async fn run(
    call: &mut Call<'_>,
    handler: &str,
    input: &Value,
) -> Result<Value, ToolError> {
    match handler {
        "llm_generate_text" => generate_text(call, input, Vec::new()).await,
        "llm_analyze_image" => analyze_image(call, input).await,
        _ => embed(call, input).await,
    }
}

/// One provider, as the definition describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ProviderDef {
    pub id: String,
    pub protocol: String,
    pub base_url: String,
    /// The API key's name in the platform keys and workspace overrides.
    pub key_name: String,
    pub default_model: String,
    #[serde(default)]
    pub vision_model: Option<String>,
    #[serde(default)]
    pub embedding_model: Option<String>,
    /// Inputs per embeddings request the provider accepts.
    #[serde(default)]
    pub max_embedding_inputs: Option<usize>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Why the provider list is unusable (a definition defect; a unit test loads it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ProviderDefError {
    #[error("aiConfig.x-providers is missing or malformed: {0}")]
    Malformed(String),
    #[error("provider {0} names unknown protocol {1}")]
    UnknownProtocol(String, String),
}

/// The providers of an `aiConfig`, in their default preference order.
pub(crate) fn providers(ai_config: Option<&Value>) -> Result<Vec<ProviderDef>, ProviderDefError> {
    let list = ai_config
        .and_then(|a| a.get("x-providers"))
        .cloned()
        .ok_or_else(|| ProviderDefError::Malformed("absent".into()))?;
    let providers: Vec<ProviderDef> =
        serde_json::from_value(list).map_err(|e| ProviderDefError::Malformed(e.to_string()))?;
    for p in &providers {
        if protocol::find(&p.protocol).is_none() {
            return Err(ProviderDefError::UnknownProtocol(
                p.id.clone(),
                p.protocol.clone(),
            ));
        }
    }
    Ok(providers)
}

/// A provider ready to call: its definition, protocol, base URL and key.
struct Ready<'d> {
    def: &'d ProviderDef,
    protocol: &'static dyn Protocol,
    base_url: String,
    key: crate::secret::SecretString,
}

/// The providers to try, in order: `provider_preference` if given (unknown names refused),
/// else the definition's order.
fn order<'d>(defs: &'d [ProviderDef], input: &Value) -> Result<Vec<&'d ProviderDef>, ToolError> {
    let Some(preference) = input.get("provider_preference").and_then(Value::as_array) else {
        return Ok(defs.iter().collect());
    };
    preference
        .iter()
        .filter_map(Value::as_str)
        .map(|name| {
            defs.iter().find(|d| d.id == name).ok_or_else(|| {
                ToolError::invalid_input_message(format!("unknown provider {name:?}"))
            })
        })
        .collect()
}

/// Resolves the key of `def` for the instance's workspace; `Ok(None)`: none is set (skipped).
async fn ready<'d>(call: &Call<'_>, def: &'d ProviderDef) -> Result<Option<Ready<'d>>, ToolError> {
    let protocol = protocol::find(&def.protocol)
        .ok_or_else(|| ToolError::misconfigured(&format!("protocol {}", def.protocol)))?;
    let key = match tokio::time::timeout_at(
        call.deadline,
        switchyard_oauth::keys::api_key(&call.app.keys, &call.instance.workspace, &def.key_name),
    )
    .await
    {
        Ok(Ok(key)) => key.value,
        Ok(Err(switchyard_oauth::keys::KeyError::Missing(_))) => return Ok(None),
        Ok(Err(e)) => return Err(ToolError::unavailable(e.to_string())),
        Err(_) => return Err(ToolError::timeout_before_provider("the API key lookup")),
    };
    let base_url = call
        .instance
        .config
        .get(&format!("{}_base_url", def.id))
        .unwrap_or(&def.base_url)
        .trim_end_matches('/')
        .to_owned();
    Ok(Some(Ready {
        def,
        protocol,
        base_url,
        key,
    }))
}

/// Records on the receipt that `def` was not called, and why.
fn skip(call: &mut Call<'_>, def: &ProviderDef, path: &str, reason: &str) {
    call.attempts.push(Attempt {
        method: "POST".into(),
        path: path.to_owned(),
        status: None,
        latency_ms: 0,
        decision: Some(format!("skipped provider {}: {reason}", def.id)),
        waited_ms: 0,
        rate_limit: BTreeMap::new(),
        provider_request_id: None,
    });
}

/// Sends one JSON request to a provider; a non-2xx answer is the provider's error.
async fn post(
    call: &mut Call<'_>,
    ready: &Ready<'_>,
    path: &str,
    body: &Value,
) -> Result<Value, ToolError> {
    let url = format!("{}{path}", ready.base_url);
    let route = format!("POST {}{path}", ready.def.id);
    let (header, value) = ready.protocol.auth_header(ready.key.expose());
    let http = call.app.http().clone();
    let headers = &ready.def.headers;
    let build = || {
        let mut request = http
            .post(&url)
            .header("accept", "application/json")
            .header(header, &value)
            .json(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request
    };
    // Generation has no side effect, but it is paid for: a 5xx is not repeated on the same
    // provider (the next provider is tried instead); a 429 waits as the provider asks.
    let exchange = call.send_to(&route, Retry::OnlyUnsent, build).await?;
    if !(200..300).contains(&exchange.status) {
        let message = exchange
            .body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("provider error")
            .to_owned();
        return Err(ToolError::provider(exchange.status, message));
    }
    Ok(exchange.body)
}

/// Notes on the last attempt that the call moves on to the next provider.
fn falling_back(call: &mut Call<'_>, from: &str, error: &ToolError) {
    if let Some(last) = call.attempts.last_mut() {
        let note = format!(
            "{}: falling back from {from} to the next provider",
            error.code
        );
        last.decision = Some(match last.decision.take() {
            Some(d) => format!("{d}; {note}"),
            None => note,
        });
    }
}

fn text_of(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

async fn generate_text(
    call: &mut Call<'_>,
    input: &Value,
    images: Vec<String>,
) -> Result<Value, ToolError> {
    let defs = providers(call.method.integration.ai_config.as_ref())
        .map_err(|e| ToolError::misconfigured(&e.to_string()))?;
    let schema = input.get("response_schema").cloned();
    let validator = match &schema {
        Some(s) => Some(jsonschema::validator_for(s).map_err(|e| {
            ToolError::invalid_input_message(format!("response_schema is not a JSON Schema: {e}"))
        })?),
        None => None,
    };
    let mut system = input.get("system").and_then(text_of);
    let mut turns = Vec::new();
    for m in input
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let content = m.get("content").and_then(text_of).unwrap_or_default();
        if role == "system" {
            // One system prompt: messages' system turns join the `system` field.
            system = Some(match system {
                Some(s) => format!("{s}\n\n{content}"),
                None => content,
            });
        } else {
            turns.push((role.to_owned(), content));
        }
    }
    let model = input.get("model").and_then(Value::as_str);
    let mut skipped = Vec::new();
    let mut last_error = None;
    for def in order(&defs, input)? {
        let Some(ready) = ready(call, def).await? else {
            let path = protocol::find(&def.protocol).map_or("", |p| p.chat_path());
            skip(
                call,
                def,
                path,
                "no API key for this workspace or the platform",
            );
            skipped.push(json!({"provider": def.id, "reason": "no_key"}));
            continue;
        };
        let model = model
            .map(str::to_owned)
            .or_else(|| {
                (!images.is_empty())
                    .then(|| def.vision_model.clone())
                    .flatten()
            })
            .unwrap_or_else(|| def.default_model.clone());
        let request = ChatRequest {
            model: model.clone(),
            system: system.clone(),
            turns: turns.clone(),
            images: images.clone(),
            temperature: input.get("temperature").and_then(Value::as_f64),
            max_tokens: input.get("max_tokens").and_then(Value::as_u64),
            schema: schema.clone(),
        };
        let body = ready.protocol.chat_body(&request);
        let answered = post(call, &ready, ready.protocol.chat_path(), &body).await;
        let answer: ChatAnswer =
            match answered.and_then(|b| ready.protocol.read_chat(&b).map_err(|e| unexpected(&e))) {
                Ok(a) => a,
                Err(e) if e.retryable => {
                    falling_back(call, &def.id, &e);
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
        call.usage.push(Usage::new(
            &def.id,
            &model,
            &[
                ("input_tokens", answer.input_tokens),
                ("output_tokens", answer.output_tokens),
            ],
        ));
        let mut output = json!({
            "text": answer.text,
            "provider": def.id,
            "model": model,
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
            "skipped": skipped,
        });
        if let Some(validator) = &validator {
            let parsed: Value = serde_json::from_str(answer.text.trim()).map_err(|e| {
                ToolError::new(
                    ErrorCode::InvalidOutput,
                    format!("{} answered text that is not JSON: {e}", def.id),
                    false,
                )
            })?;
            let problems: Vec<String> = validator
                .iter_errors(&parsed)
                .map(|e| e.to_string())
                .collect();
            if !problems.is_empty() {
                return Err(ToolError::new(
                    ErrorCode::InvalidOutput,
                    format!(
                        "{}'s answer does not match response_schema: {}",
                        def.id,
                        problems.join("; ")
                    ),
                    false,
                ));
            }
            output["json"] = parsed;
        }
        return Ok(output);
    }
    Err(last_error.unwrap_or_else(|| {
        ToolError::new(
            ErrorCode::Misconfigured,
            format!("no provider could be called: none of {skipped:?} has an API key"),
            false,
        )
    }))
}

fn unexpected(e: &protocol::Unexpected) -> ToolError {
    ToolError::new(ErrorCode::ProviderError, e.to_string(), false)
}

/// Vision: the image goes to the provider as the https URL the input gives (the provider fetches
/// it), or, for an `artifact_id` of the instance's workspace, as a `data:` URL of the stored
/// bytes, capped at `max_image_bytes` and checked to be an image from the bytes themselves.
async fn analyze_image(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let url = match (
        input.get("image_url").and_then(Value::as_str),
        input.get("artifact_id").and_then(Value::as_str),
    ) {
        (Some(url), None) => image::checked_url(url)?,
        (None, Some(id)) => image::data_url(call, id).await?,
        _ => {
            return Err(ToolError::invalid_input_message(
                "exactly one of image_url or artifact_id is required".into(),
            ))
        }
    };
    let prompt = input
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or("Describe this image.");
    let mut request = input.clone();
    request["messages"] = json!([{"role": "user", "content": prompt}]);
    generate_text(call, &request, vec![url]).await
}

/// Embeddings as the tool answers them; see [`embed_texts`].
async fn embed(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let defs = providers(call.method.integration.ai_config.as_ref())
        .map_err(|e| ToolError::misconfigured(&e.to_string()))?;
    let texts: Vec<String> = match input.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(text_of).collect(),
        _ => return Err(ToolError::invalid_input_message("input is required".into())),
    };
    let embedded = embed_texts(call, &defs, &texts, input).await?;
    let dimensions = embedded.vectors.first().map_or(0, Vec::len);
    Ok(json!({
        "vectors": embedded.vectors,
        "provider": embedded.provider,
        "model": embedded.model,
        "dimensions": dimensions,
        "usage": {"embedding_tokens": embedded.tokens},
        "skipped": embedded.skipped,
    }))
}

/// What [`embed_texts`] produced.
#[derive(Debug, Clone)]
pub(crate) struct Embedded {
    /// One vector per text, in input order.
    pub vectors: Vec<Vec<f64>>,
    pub provider: String,
    pub model: String,
    /// The embedding tokens the provider reported (also pushed onto the call's usage).
    pub tokens: f64,
    /// Providers skipped for want of a key.
    pub skipped: Vec<Value>,
}

/// The providers of the `llm` integration's definition: other tools that embed (the knowledge
/// base) use the same providers, keys and prices as `llm.embed`, with the base URLs of their own
/// instance (`<provider>_base_url`).
pub(crate) fn embedding_providers(call: &Call<'_>) -> Result<Vec<ProviderDef>, ToolError> {
    let catalog = call
        .app
        .catalog()
        .map_err(|e| ToolError::internal(&e.to_string()))?;
    let llm = catalog
        .integration(EMBEDDINGS_INTEGRATION)
        .ok_or_else(|| ToolError::misconfigured("no llm integration definition"))?;
    providers(llm.ai_config.as_ref()).map_err(|e| ToolError::misconfigured(&e.to_string()))
}

/// The integration whose `aiConfig` lists the embedding providers.
const EMBEDDINGS_INTEGRATION: &str = "llm";

/// Embeds `texts` with the first provider of `defs` (in `options.provider_preference` order)
/// that has an embedding model and a key, in batches of at most the provider's limit; the
/// vectors come back in input order. `options` may also say `model` and `dimensions`. The
/// token usage is pushed onto the call, so the receipt is priced.
pub(crate) async fn embed_texts(
    call: &mut Call<'_>,
    defs: &[ProviderDef],
    texts: &[String],
    options: &Value,
) -> Result<Embedded, ToolError> {
    let mut skipped = Vec::new();
    for def in order(defs, options)? {
        let (Some(model), Some(path)) = (
            def.embedding_model.clone(),
            protocol::find(&def.protocol).and_then(|p| p.embeddings_path()),
        ) else {
            continue;
        };
        let Some(ready) = ready(call, def).await? else {
            skip(
                call,
                def,
                path,
                "no API key for this workspace or the platform",
            );
            skipped.push(json!({"provider": def.id, "reason": "no_key"}));
            continue;
        };
        let model = options
            .get("model")
            .and_then(Value::as_str)
            .map_or(model, str::to_owned);
        let batch = def.max_embedding_inputs.unwrap_or(texts.len()).max(1);
        let mut vectors = Vec::with_capacity(texts.len());
        let mut tokens = 0.0;
        for chunk in texts.chunks(batch) {
            let mut body = json!({"model": model, "input": chunk, "encoding_format": "float"});
            if let Some(d) = options.get("dimensions") {
                body["dimensions"] = d.clone();
            }
            let answer = post(call, &ready, path, &body).await?;
            let (got, used) = ready
                .protocol
                .read_embeddings(&answer)
                .map_err(|e| unexpected(&e))?;
            if got.len() != chunk.len() {
                return Err(unexpected(&protocol::Unexpected("a vector per input")));
            }
            for v in got {
                let numbers: Option<Vec<f64>> = v
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_f64).collect());
                vectors.push(numbers.ok_or_else(|| {
                    unexpected(&protocol::Unexpected("numeric embedding vectors"))
                })?);
            }
            tokens += used;
        }
        call.usage
            .push(Usage::new(&def.id, &model, &[("embedding_tokens", tokens)]));
        return Ok(Embedded {
            vectors,
            provider: def.id.clone(),
            model,
            tokens,
            skipped,
        });
    }
    Err(ToolError::new(
        ErrorCode::Misconfigured,
        format!("no embeddings provider could be called (skipped: {skipped:?})"),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_providers_parse_with_known_protocols() {
        let catalog = crate::definitions::Catalog::load().expect("definitions");
        let llm = catalog.integration("llm").expect("llm integration");
        let defs = providers(llm.ai_config.as_ref()).expect("providers");
        let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["openai", "anthropic", "deepseek"]);
        let bad = json!({"x-providers": [{"id": "x", "protocol": "smoke_signals",
            "baseUrl": "https://x", "keyName": "x", "defaultModel": "m"}]});
        assert!(matches!(
            providers(Some(&bad)),
            Err(ProviderDefError::UnknownProtocol(..))
        ));
    }

    #[test]
    fn preference_orders_and_refuses_unknown_providers() {
        let catalog = crate::definitions::Catalog::load().expect("definitions");
        let defs = providers(
            catalog
                .integration("llm")
                .and_then(|l| l.ai_config.as_ref()),
        )
        .expect("providers");
        let picked = order(
            &defs,
            &json!({"provider_preference": ["deepseek", "openai"]}),
        )
        .expect("order");
        let ids: Vec<&str> = picked.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["deepseek", "openai"]);
        assert!(order(&defs, &json!({"provider_preference": ["nope"]})).is_err());
    }

    #[test]
    fn every_default_model_is_priced() {
        let catalog = crate::definitions::Catalog::load().expect("definitions");
        let table = crate::prices::PriceTable::load(
            catalog
                .integrations()
                .map(|i| (i.integration_id.as_str(), i.ai_config.as_ref())),
        )
        .expect("prices");
        let defs = providers(
            catalog
                .integration("llm")
                .and_then(|l| l.ai_config.as_ref()),
        )
        .expect("providers");
        for d in &defs {
            let key = crate::prices::model_key(&d.id, &d.default_model);
            assert!(table.unit_price(&key, "input_tokens").is_some(), "{key}");
            if let Some(m) = &d.embedding_model {
                let key = crate::prices::model_key(&d.id, m);
                assert!(
                    table.unit_price(&key, "embedding_tokens").is_some(),
                    "{key}"
                );
            }
        }
    }
}
