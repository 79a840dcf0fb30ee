//! A Pinecone index as the tools use it: its data-plane host (instance config `index_host`), the
//! API key (platform key `pinecone`, or the workspace's own), and the workspace's namespace,
//! which always comes from the instance's `namespace_template` (default `{workspace}-kb`) and
//! never from an agent's input.

use serde_json::{json, Value};

use crate::error::ErrorCode;
use crate::executor::Call;
use crate::outbound::Retry;
use crate::secret::SecretString;
use crate::ToolError;

/// The API key's name among the platform keys and workspace overrides.
pub(crate) const KEY_NAME: &str = "pinecone";
/// The data-plane API version the requests are written for (the spec in
/// `shared/specs/providers/pinecone-db-data.oas.yaml`).
pub(crate) const API_VERSION: &str = "2026-04";
/// The namespace of a workspace unless the instance says `namespace_template`.
pub(crate) const DEFAULT_NAMESPACE_TEMPLATE: &str = "{workspace}-kb";
/// The most vectors one upsert request carries (`UpsertRequest.vectors.maxLength`).
pub(crate) const MAX_UPSERT_VECTORS: usize = 1000;
/// The most ids one delete request carries (`DeleteRequest.ids.maxLength`).
pub(crate) const MAX_DELETE_IDS: usize = 1000;

/// Why a namespace template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NamespaceError {
    /// Without `{workspace}` every workspace would share one namespace.
    #[error("namespace_template {0:?} must contain {{workspace}}")]
    NoWorkspace(String),
    #[error("namespace_template {0:?} has a placeholder other than {{workspace}}")]
    UnknownPlaceholder(String),
}

/// The namespace of `workspace` under `template`.
pub(crate) fn namespace(template: &str, workspace: &str) -> Result<String, NamespaceError> {
    if !template.contains("{workspace}") {
        return Err(NamespaceError::NoWorkspace(template.to_owned()));
    }
    let filled = template.replace("{workspace}", workspace);
    if filled.contains('{') || filled.contains('}') {
        return Err(NamespaceError::UnknownPlaceholder(template.to_owned()));
    }
    Ok(filled)
}

/// The index of one call.
pub(crate) struct Index {
    base_url: String,
    key: SecretString,
    pub namespace: String,
}

/// The instance's index, key and namespace; no request is sent.
pub(crate) async fn open(call: &Call<'_>) -> Result<Index, ToolError> {
    let config = &call.instance.config;
    let template = config
        .get("namespace_template")
        .map_or(DEFAULT_NAMESPACE_TEMPLATE, String::as_str);
    let namespace = namespace(template, &call.instance.workspace)
        .map_err(|e| ToolError::misconfigured(&e.to_string()))?;
    let host = config
        .get("index_host")
        .map(|h| h.trim().trim_end_matches('/'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ToolError::misconfigured("the instance has no index_host"))?;
    // The console shows the host without a scheme; a test fake's is a full loopback URL.
    let base_url = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let key = match tokio::time::timeout_at(
        call.deadline,
        switchyard_oauth::keys::api_key(&call.app.keys, &call.instance.workspace, KEY_NAME),
    )
    .await
    {
        Ok(Ok(key)) => key.value,
        Ok(Err(switchyard_oauth::keys::KeyError::Missing(_))) => {
            return Err(ToolError::new(
                ErrorCode::Misconfigured,
                "no Pinecone API key for this workspace or the platform",
                false,
            ))
        }
        Ok(Err(e)) => return Err(ToolError::unavailable(e.to_string())),
        Err(_) => return Err(ToolError::timeout_before_provider("the API key lookup")),
    };
    Ok(Index {
        base_url,
        key,
        namespace,
    })
}

/// A Pinecone error answer as a tool error: 400 (`INVALID_ARGUMENT`: a wrong dimension, a bad
/// filter) is the caller's input; 401/403 `provider_auth`; 404 `provider_not_found`; others
/// `provider_error`. The message is Pinecone's `rpcStatus.message`.
pub(crate) fn error_of(status: u16, body: &Value) -> ToolError {
    let message = body
        .get("message")
        .or_else(|| body.pointer("/error/message"))
        .and_then(Value::as_str)
        .unwrap_or("Pinecone error")
        .to_owned();
    if status == 400 {
        return ToolError {
            provider_status: Some(status),
            ..ToolError::new(
                ErrorCode::InvalidInput,
                format!("Pinecone refused the request: {message}"),
                false,
            )
        };
    }
    ToolError::provider(status, message)
}

impl Index {
    /// Sends `body` to `path`. Every data-plane call the tools make is safe to repeat (an
    /// upsert of the same ids, a delete, a query), so a 5xx or a lost answer is retried.
    async fn post(
        &self,
        call: &mut Call<'_>,
        path: &str,
        body: &Value,
    ) -> Result<Value, ToolError> {
        let url = format!("{}{path}", self.base_url);
        let route = format!("POST pinecone{path}");
        let http = call.app.http().clone();
        let key = self.key.expose().to_owned();
        let build = || {
            http.post(&url)
                .header("accept", "application/json")
                .header("Api-Key", &key)
                .header("X-Pinecone-Api-Version", API_VERSION)
                .json(body)
        };
        let exchange = call.send_to(&route, Retry::AfterSending, build).await?;
        if !(200..300).contains(&exchange.status) {
            return Err(error_of(exchange.status, &exchange.body));
        }
        Ok(exchange.body)
    }

    /// Upserts `vectors` (`{id, values, metadata}`) into the namespace, in requests of at most
    /// [`MAX_UPSERT_VECTORS`]; the count Pinecone reports.
    pub(crate) async fn upsert(
        &self,
        call: &mut Call<'_>,
        vectors: &[Value],
    ) -> Result<u64, ToolError> {
        let mut count = 0;
        for batch in vectors.chunks(MAX_UPSERT_VECTORS) {
            let answer = self
                .post(
                    call,
                    "/vectors/upsert",
                    &json!({"namespace": self.namespace, "vectors": batch}),
                )
                .await?;
            count += answer
                .get("upsertedCount")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        }
        Ok(count)
    }

    /// The `top_k` nearest vectors to `vector` among those matching `filter`, with metadata.
    pub(crate) async fn query(
        &self,
        call: &mut Call<'_>,
        vector: &[f64],
        top_k: u64,
        filter: Option<&Value>,
        include_values: bool,
    ) -> Result<Vec<Value>, ToolError> {
        let mut body = json!({
            "namespace": self.namespace,
            "vector": vector,
            "topK": top_k,
            "includeMetadata": true,
            "includeValues": include_values,
        });
        if let Some(f) = filter {
            body["filter"] = f.clone();
        }
        let answer = self.post(call, "/query", &body).await?;
        Ok(answer
            .get("matches")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Deletes what `selection` names: `{"ids": [...]}`, `{"filter": {...}}` or
    /// `{"deleteAll": true}`; ids go in requests of at most [`MAX_DELETE_IDS`].
    pub(crate) async fn delete(
        &self,
        call: &mut Call<'_>,
        selection: Delete<'_>,
    ) -> Result<(), ToolError> {
        let mut bodies = Vec::new();
        match selection {
            Delete::Ids(ids) => {
                for batch in ids.chunks(MAX_DELETE_IDS) {
                    bodies.push(json!({"namespace": self.namespace, "ids": batch}));
                }
            }
            Delete::Filter(filter) => {
                bodies.push(json!({"namespace": self.namespace, "filter": filter}));
            }
            Delete::All => bodies.push(json!({"namespace": self.namespace, "deleteAll": true})),
        }
        for body in bodies {
            self.post(call, "/vectors/delete", &body).await?;
        }
        Ok(())
    }

    /// The ids in the namespace starting with `prefix` (`GET /vectors/list`, every page).
    pub(crate) async fn list_ids(
        &self,
        call: &mut Call<'_>,
        prefix: &str,
    ) -> Result<Vec<String>, ToolError> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("namespace", self.namespace.clone()),
                ("prefix", prefix.to_owned()),
                ("limit", "100".to_owned()),
            ];
            if let Some(t) = &token {
                query.push(("paginationToken", t.clone()));
            }
            let answer = self.get(call, "/vectors/list", &query).await?;
            ids.extend(
                answer
                    .get("vectors")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_owned)),
            );
            token = answer
                .pointer("/pagination/next")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(ids);
            }
        }
    }

    async fn get(
        &self,
        call: &mut Call<'_>,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ToolError> {
        let url = format!("{}{path}", self.base_url);
        let route = format!("GET pinecone{path}");
        let http = call.app.http().clone();
        let key = self.key.expose().to_owned();
        let build = || {
            http.get(&url)
                .query(query)
                .header("accept", "application/json")
                .header("Api-Key", &key)
                .header("X-Pinecone-Api-Version", API_VERSION)
        };
        let exchange = call.send_to(&route, Retry::AfterSending, build).await?;
        if !(200..300).contains(&exchange.status) {
            return Err(error_of(exchange.status, &exchange.body));
        }
        Ok(exchange.body)
    }
}

/// What a delete removes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delete<'a> {
    Ids(&'a [String]),
    Filter(&'a Value),
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_come_from_the_template_and_always_name_the_workspace() {
        assert_eq!(
            namespace(DEFAULT_NAMESPACE_TEMPLATE, "acme"),
            Ok("acme-kb".to_owned())
        );
        assert_eq!(
            namespace("kb-{workspace}-v2", "acme"),
            Ok("kb-acme-v2".to_owned())
        );
        assert!(matches!(
            namespace("shared", "acme"),
            Err(NamespaceError::NoWorkspace(_))
        ));
        assert!(matches!(
            namespace("{workspace}-{agent}", "acme"),
            Err(NamespaceError::UnknownPlaceholder(_))
        ));
    }

    #[test]
    fn pinecone_errors_map_to_tool_codes() {
        let body =
            json!({"code": 3, "message": "Vector dimension 3 does not match", "details": []});
        let e = error_of(400, &body);
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert_eq!(e.provider_status, Some(400));
        assert!(e.message.contains("Vector dimension"));
        assert_eq!(
            error_of(401, &json!({"code": 16, "message": "Invalid API Key"})).code,
            ErrorCode::ProviderAuth
        );
        assert_eq!(
            error_of(404, &json!({"code": 5, "message": "Not Found"})).code,
            ErrorCode::ProviderNotFound
        );
        assert_eq!(error_of(500, &json!({})).code, ErrorCode::ProviderError);
    }
}
