//! Runs a method against its provider: the data-driven HTTP mapping of `x-switchyard`, plus the
//! few handlers for what data cannot say.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::definitions::{HttpDef, Method};
use crate::instances::Instance;
use crate::outbound::{self, Attempt, CallError, Exchange, Retry, Target};
use crate::secret::SecretString;
use crate::ToolError;
use crate::Tools;

/// Input fields that steer the executor and are never sent.
const CONTROL_FIELDS: &[&str] = &["max_pages", "action"];
/// Notion accepts at most 100 children per append.
const NOTION_CHILDREN_PER_REQUEST: usize = 100;

/// A request body.
#[derive(Debug)]
pub(crate) enum Payload {
    None,
    Json(Value),
    /// Bytes with their content type (a multipart upload).
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// One request a method sends: HTTP method, path (after the base URL), query, body, and whether
/// it carries the credential.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub verb: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub payload: Payload,
    pub auth: bool,
}

/// Everything one call needs.
pub(crate) struct Call<'a> {
    pub app: &'a Tools,
    pub method: &'a Method,
    pub instance: &'a Instance,
    pub credential: Option<SecretString>,
    pub deadline: Instant,
    /// The input's secret path parameters, percent-encoded as they appear in paths: redacted
    /// from every recorded attempt.
    pub secret_segments: Vec<String>,
    pub attempts: Vec<Attempt>,
    pub last_status: Option<u16>,
    /// What priced provider calls consumed (see [`crate::usage`]).
    pub usage: Vec<crate::usage::Usage>,
    /// The caller (an agent id, or a worker's `system:` name).
    pub agent_id: &'a str,
    /// The person the call acts for, if any (nested calls act for the same person).
    pub on_behalf_of: Option<&'a str>,
    /// The id the call's receipt will have (artifacts record it).
    pub receipt_id: String,
    /// The messages the call sent (email), as `<service>:<message id>`, kept on the receipt so
    /// later delivery statuses can be found from it.
    pub message_ids: Vec<String>,
}

impl Call<'_> {
    /// Sends the request `build` makes to `route` within the call's deadline (rate-limit waits
    /// and retries as `retry` allows, each attempt recorded with the call's secret segments
    /// redacted) and records the status. A non-2xx answer is an `Ok` exchange for the caller
    /// to interpret; only a request that got no answer is an error.
    pub(crate) async fn send_to(
        &mut self,
        route: &str,
        retry: Retry,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Exchange, ToolError> {
        let target = Target {
            route,
            retry,
            secret_segments: &self.secret_segments,
            rate_limit_errors: None,
        };
        let exchange = outbound::call(
            &self.app.buckets,
            target,
            self.deadline,
            &mut self.attempts,
            build,
        )
        .await
        .map_err(|e| ToolError::from_call(&e, true))?;
        self.last_status = Some(exchange.status);
        Ok(exchange)
    }

    /// Runs the method; the output before output-schema validation.
    pub(crate) async fn run(&mut self, input: &Value) -> Result<Value, ToolError> {
        match self.method.def.exec.handler.as_deref() {
            Some("discord_followup") => self.discord_followup(input).await,
            Some("notion_append_blocks") => self.notion_append_blocks(input).await,
            Some("secure_http") => self.secure_http(input).await,
            Some(handler) if crate::media::handles(handler) => {
                crate::media::run(self, handler, input).await
            }
            Some(handler) if crate::google::handles(handler) => {
                crate::google::run(self, handler, input).await
            }
            Some(handler) if crate::llm::handles(handler) => {
                crate::llm::run(self, handler, input).await
            }
            Some(handler) if crate::vector::handles(handler) => {
                crate::vector::run(self, handler, input).await
            }
            Some(handler) if crate::kb::handles(handler) => {
                crate::kb::run(self, handler, input).await
            }
            Some(handler) if crate::email::handles(handler) => {
                crate::email::run(self, handler, input).await
            }
            Some(handler) if crate::whatsapp::handles(handler) => {
                crate::whatsapp::run(self, handler, input).await
            }
            Some(handler) if crate::tiktok::handles(handler) => {
                crate::tiktok::run(self, handler, input).await
            }
            Some(handler) if crate::shopify::handles(handler) => {
                crate::shopify::run(self, handler, input).await
            }
            _ => {
                let http = self
                    .method
                    .def
                    .exec
                    .http
                    .clone()
                    .ok_or_else(|| ToolError::internal("method has no http mapping"))?;
                self.mapped(&http, input).await
            }
        }
    }

    fn base_url(&self) -> Result<String, ToolError> {
        self.instance
            .config
            .get("api_base_url")
            .cloned()
            .or_else(|| self.method.integration.exec.base_url.clone())
            .map(|u| u.trim_end_matches('/').to_owned())
            .ok_or_else(|| ToolError::misconfigured("no API base URL"))
    }

    /// Fills `{field}` placeholders from `input`; returns the path and the fields used.
    pub(crate) fn fill_path(
        path: &str,
        input: &Value,
    ) -> Result<(String, BTreeSet<String>), ToolError> {
        let mut filled = path.to_owned();
        let mut used = BTreeSet::new();
        for name in crate::providers::placeholders(path) {
            let value = input
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| ToolError::invalid_input_message(format!("{name} is required")))?;
            let encoded = encode_segment(value);
            filled = filled.replace(&format!("{{{name}}}"), &encoded);
            used.insert(name.to_owned());
        }
        Ok((filled, used))
    }

    /// The generic mapping: one request, or one per page.
    async fn mapped(&mut self, http: &HttpDef, input: &Value) -> Result<Value, ToolError> {
        let (path, used) = Self::fill_path(&http.path, input)?;
        let mut fields: Map<String, Value> = input
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !used.contains(k) && !CONTROL_FIELDS.contains(&k.as_str()))
            .collect();
        let pagination = self.method.def.exec.pagination.clone();
        let max_pages = pagination
            .as_ref()
            .and_then(|p| p.max_pages_field.as_deref())
            .and_then(|f| input.get(f))
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 10);
        let mut items: Vec<Value> = Vec::new();
        let mut last = Value::Null;
        for _ in 0..max_pages {
            let exchange = self.send(http, &path, &fields).await?;
            last = self.interpret(exchange)?;
            let Some(p) = &pagination else {
                break;
            };
            if let Some(page) = last.pointer(&p.items).and_then(Value::as_array) {
                items.extend(page.iter().cloned());
            }
            let next = last
                .pointer(&p.next_cursor)
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            match next {
                Some(cursor) => {
                    fields.insert(p.cursor_param.clone(), Value::String(cursor));
                }
                None => break,
            }
        }
        let mut output = map_output(self.method.def.exec.output.as_ref(), &last);
        if let (Some(p), Value::Object(out)) = (&pagination, &mut output) {
            let key = p.items.rsplit('/').next().unwrap_or("items").to_owned();
            out.insert(key, Value::Array(items));
        }
        Ok(output)
    }

    /// Sends one request (with retries) built from the mapping.
    async fn send(
        &mut self,
        http: &HttpDef,
        path: &str,
        fields: &Map<String, Value>,
    ) -> Result<Exchange, ToolError> {
        let mut query: Vec<(String, String)> = http
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let payload = if http.body == "none" {
            for (k, v) in fields {
                match v {
                    Value::String(s) => query.push((k.clone(), s.clone())),
                    Value::Number(_) | Value::Bool(_) => query.push((k.clone(), v.to_string())),
                    _ => {}
                }
            }
            Payload::None
        } else {
            Payload::Json(Value::Object(fields.clone()))
        };
        self.exchange(Outgoing {
            verb: &http.method,
            path,
            query,
            payload,
            auth: http.auth,
        })
        .await
    }

    /// Sends one request (with retries) to the provider: the instance's base URL, the
    /// integration's headers and credential, the method's retry safety and the integration's
    /// rate-limit answers. Handlers build their requests with it.
    pub(crate) async fn exchange(&mut self, out: Outgoing<'_>) -> Result<Exchange, ToolError> {
        let url = format!("{}{}", self.base_url()?, out.path);
        let method = reqwest::Method::from_bytes(out.verb.as_bytes())
            .map_err(|_| ToolError::internal("bad HTTP method in definition"))?;
        let authorization = if out.auth {
            let scheme = self
                .method
                .integration
                .exec
                .credential
                .as_ref()
                .map(|c| c.scheme.clone())
                .unwrap_or_else(|| "Bearer".into());
            let token = self
                .credential
                .as_ref()
                .ok_or_else(|| ToolError::auth("the instance has no credential for this tool"))?;
            Some(format!("{scheme} {}", token.expose()))
        } else {
            None
        };
        let headers = self.method.integration.exec.headers.clone();
        let http_client = self.app.http().clone();
        let route = format!("{} {}", out.verb, out.path);
        let repeat_is_safe = self.method.retry_safe(out.verb);
        let target = Target {
            route: &route,
            retry: if repeat_is_safe {
                Retry::AfterSending
            } else {
                Retry::OnlyUnsent
            },
            secret_segments: &self.secret_segments,
            rate_limit_errors: self.method.integration.exec.rate_limit_errors.as_ref(),
        };
        let query = out.query;
        let payload = out.payload;
        let build = || {
            let mut request = http_client
                .request(method.clone(), &url)
                .query(&query)
                .header("accept", "application/json");
            for (k, v) in &headers {
                request = request.header(k, v);
            }
            if let Some(auth) = &authorization {
                request = request.header("authorization", auth);
            }
            match &payload {
                Payload::None => request,
                Payload::Json(body) => request.json(body),
                Payload::Raw {
                    content_type,
                    bytes,
                } => request
                    .header("content-type", content_type)
                    .body(bytes.clone()),
            }
        };
        let result = outbound::call(
            &self.app.buckets,
            target,
            self.deadline,
            &mut self.attempts,
            build,
        )
        .await;
        match result {
            Ok(exchange) => {
                self.last_status = Some(exchange.status);
                Ok(exchange)
            }
            Err(e) => {
                self.last_status = match &e {
                    CallError::RateLimited {
                        status: Some(status),
                        ..
                    } => Some(*status),
                    CallError::Unavailable(status) => Some(*status),
                    _ => self.last_status,
                };
                Err(ToolError::from_call(&e, repeat_is_safe))
            }
        }
    }

    /// Turns a provider answer into a body or a mapped provider error.
    pub(crate) fn interpret(&self, exchange: Exchange) -> Result<Value, ToolError> {
        let body = exchange.body;
        if !(200..300).contains(&exchange.status) {
            return Err(ToolError::provider(
                exchange.status,
                provider_message(&body),
            ));
        }
        if let Some(pointer) = &self.method.integration.exec.ok_field {
            if body.pointer(pointer) != Some(&Value::Bool(true)) {
                let error = body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("not ok")
                    .to_owned();
                return Err(ToolError::provider_ok_false(exchange.status, error));
            }
        }
        Ok(body)
    }

    async fn discord_followup(&mut self, input: &Value) -> Result<Value, ToolError> {
        let edit = input.get("action").and_then(Value::as_str) == Some("edit_original");
        let http = HttpDef {
            method: if edit { "PATCH" } else { "POST" }.into(),
            path: if edit {
                "/webhooks/{application_id}/{interaction_token}/messages/@original".into()
            } else {
                "/webhooks/{application_id}/{interaction_token}".into()
            },
            body: "json".into(),
            // The interaction token in the path is the credential.
            auth: false,
            query: if edit {
                Default::default()
            } else {
                [("wait".to_owned(), "true".to_owned())].into()
            },
        };
        self.mapped(&http, input).await
    }

    async fn notion_append_blocks(&mut self, input: &Value) -> Result<Value, ToolError> {
        let block_id = input
            .get("block_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::invalid_input_message("block_id is required".into()))?;
        let children = input
            .get("children")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let http = HttpDef {
            method: "PATCH".into(),
            path: "/v1/blocks/{block_id}/children".into(),
            body: "json".into(),
            auth: true,
            query: Default::default(),
        };
        let (path, _) = Self::fill_path(&http.path, input)?;
        let mut after = input.get("after").cloned();
        let mut results = Vec::new();
        for chunk in children.chunks(NOTION_CHILDREN_PER_REQUEST) {
            let mut fields = Map::new();
            fields.insert("children".into(), Value::Array(chunk.to_vec()));
            if let Some(a) = &after {
                fields.insert("after".into(), a.clone());
            }
            let exchange = self.send(&http, &path, &fields).await?;
            let body = self.interpret(exchange)?;
            let page: Vec<Value> = body
                .get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // The next chunk goes after the last block this one appended, keeping the order.
            after = page.last().and_then(|b| b.get("id")).cloned().or(after);
            results.extend(page);
        }
        let _ = block_id;
        Ok(serde_json::json!({"appended": children.len(), "results": results}))
    }

    async fn secure_http(&mut self, input: &Value) -> Result<Value, ToolError> {
        crate::secure::run(self, input).await
    }
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The provider's own error text (Discord `message`, Notion `code: message`, Slack `error`,
/// Google's `{"error": {"message", "errors": [{"reason"}]}}` as `reason: message`).
fn provider_message(body: &Value) -> String {
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    if let Some(message) = body.pointer("/error/message").and_then(Value::as_str) {
        return match body
            .pointer("/error/errors/0/reason")
            .and_then(Value::as_str)
        {
            Some(reason) => format!("{reason}: {message}"),
            None => message.to_owned(),
        };
    }
    match (text("code"), text("message"), text("error")) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (None, Some(message), _) => message.to_owned(),
        (_, None, Some(error)) => error.to_owned(),
        _ => match body {
            Value::String(s) => s.chars().take(200).collect(),
            _ => "provider error".into(),
        },
    }
}

/// Builds the output from pointers into the response (`"$"`: the whole response).
fn map_output(spec: Option<&Value>, body: &Value) -> Value {
    match spec {
        None => body.clone(),
        Some(Value::String(s)) if s == "$" => body.clone(),
        Some(Value::Object(fields)) => Value::Object(
            fields
                .iter()
                .filter_map(|(name, pointer)| {
                    let value = body.pointer(pointer.as_str()?)?;
                    Some((name.clone(), value.clone()))
                })
                .collect(),
        ),
        Some(_) => body.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_maps_pointers_and_skips_missing() {
        let body = json!({"ok": true, "channel": "C1", "ts": "1.2", "message": {"text": "hi"}});
        let spec =
            json!({"channel": "/channel", "ts": "/ts", "text": "/message/text", "none": "/nope"});
        assert_eq!(
            map_output(Some(&spec), &body),
            json!({"channel": "C1", "ts": "1.2", "text": "hi"})
        );
        assert_eq!(map_output(Some(&json!("$")), &body), body);
    }

    #[test]
    fn path_placeholders_are_url_encoded() {
        let (path, used) =
            Call::fill_path("/v1/pages/{page_id}", &json!({"page_id": "a/b c"})).expect("filled");
        assert_eq!(path, "/v1/pages/a%2Fb%20c");
        assert!(used.contains("page_id"));
        assert!(Call::fill_path("/v1/pages/{page_id}", &json!({})).is_err());
    }

    #[test]
    fn google_error_bodies_read_as_reason_and_message() {
        let body = json!({"error": {"code": 404, "message": "File not found: x.",
            "errors": [{"message": "File not found: x.", "domain": "global", "reason": "notFound"}],
            "status": "NOT_FOUND"}});
        assert_eq!(provider_message(&body), "notFound: File not found: x.");
        assert_eq!(
            provider_message(&json!({"error": {"code": 410, "message": "gone"}})),
            "gone"
        );
    }

    #[test]
    fn provider_messages() {
        assert_eq!(
            provider_message(&json!({"message": "Unknown Channel", "code": 10003})),
            "Unknown Channel"
        );
        assert_eq!(
            provider_message(
                &json!({"object": "error", "code": "object_not_found", "message": "nope"})
            ),
            "object_not_found: nope"
        );
        assert_eq!(
            provider_message(&json!({"ok": false, "error": "channel_not_found"})),
            "channel_not_found"
        );
    }
}
