//! A loopback fake of the Pinecone data plane (an index host), answering as
//! `shared/specs/providers/pinecone-db-data.oas.yaml` (API version 2026-04) documents:
//!
//! - every request needs the `Api-Key` header (401 otherwise);
//! - `POST /vectors/upsert`: `vectors` (1 to [`MAX_UPSERT_VECTORS`], each `id`, `values` of the
//!   index's dimension, optional `metadata`) into `namespace` (default `""`); answers
//!   `{upsertedCount}`;
//! - `POST /query`: `vector` (or the `id` of a stored vector), `topK` (1 to 10000), `namespace`,
//!   `filter` (metadata filter: `$eq $ne $in $nin $gt $gte $lt $lte $exists $and $or`, a bare value
//!   meaning `$eq`, several fields meaning all of them), `includeMetadata`, `includeValues`;
//!   matches scored by cosine similarity, most similar first; `{matches, namespace, usage}`;
//! - `POST /vectors/delete`: `ids`, `deleteAll` or `filter` in `namespace`; answers `{}`;
//! - `GET /vectors/list?namespace&prefix&limit&paginationToken`: ids by prefix, sorted, in pages
//!   (`pagination.next`);
//! - `POST /describe_index_stats`: vector counts per namespace.
//!
//! Errors use the spec's `rpcStatus` envelope: `{code, message, details}` with the gRPC code
//! (3 invalid argument, 16 unauthenticated, 5 not found). Every request is recorded
//! ([`PineconeFake::requests`]); canned answers can be queued ([`PineconeFake::script`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

/// The most vectors one upsert request may carry (`UpsertRequest.vectors.maxLength`).
pub const MAX_UPSERT_VECTORS: usize = 1000;
/// The most ids one delete request may carry (`DeleteRequest.ids.maxLength`).
pub const MAX_DELETE_IDS: usize = 1000;
/// The largest `topK` (`QueryRequest.topK.maximum`).
pub const MAX_TOP_K: u64 = 10_000;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A stored vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub values: Vec<f64>,
    pub metadata: Map<String, Value>,
}

#[derive(Debug)]
struct State {
    key: String,
    dimension: usize,
    /// namespace -> id -> vector.
    namespaces: BTreeMap<String, BTreeMap<String, Stored>>,
    recorded: Vec<Recorded>,
    scripted: VecDeque<(String, u16, Value)>,
}

/// A running fake index on `127.0.0.1:<ephemeral>`.
#[derive(Debug, Clone)]
pub struct PineconeFake {
    /// `http://127.0.0.1:PORT`: the index host.
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl PineconeFake {
    /// Starts an index of `dimension` accepting the API key `key`.
    pub async fn start(key: &str, dimension: usize) -> PineconeFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Pinecone fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let state = Arc::new(Mutex::new(State {
            key: key.to_owned(),
            dimension,
            namespaces: BTreeMap::new(),
            recorded: Vec::new(),
            scripted: VecDeque::new(),
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("Pinecone fake stopped: {error}");
            }
        });
        PineconeFake {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// The vectors of `namespace`, by id.
    pub fn vectors(&self, namespace: &str) -> BTreeMap<String, Stored> {
        self.lock()
            .namespaces
            .get(namespace)
            .cloned()
            .unwrap_or_default()
    }

    /// The namespaces holding at least one vector.
    pub fn namespaces(&self) -> Vec<String> {
        self.lock()
            .namespaces
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Queues `status` with `body` for the next request whose path starts with `prefix`.
    pub fn script(&self, prefix: &str, status: u16, body: Value) {
        self.lock()
            .scripted
            .push_back((prefix.to_owned(), status, body));
    }
}

fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The spec's `rpcStatus` error envelope.
fn error(status: u16, code: i32, message: &str) -> Response {
    answer(
        status,
        &json!({"code": code, "message": message, "details": []}),
    )
}

fn invalid(message: &str) -> Response {
    error(400, 3, message)
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    s.recorded.push(Recorded {
        path: path.clone(),
        headers: headers.clone(),
        body: parsed.as_ref().cloned().unwrap_or(Value::Null),
    });
    if let Some(at) = s.scripted.iter().position(|(p, _, _)| path.starts_with(p)) {
        if let Some((_, status, body)) = s.scripted.remove(at) {
            return answer(status, &body);
        }
    }
    let key_ok = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| k == s.key);
    if !key_ok {
        return error(401, 16, "Invalid API Key");
    }
    if method == Method::GET && path == "/vectors/list" {
        return list(&s, uri.query().unwrap_or_default());
    }
    if method != Method::POST {
        return error(404, 5, "Not Found");
    }
    let Ok(Value::Object(body)) = parsed else {
        return invalid("the request body must be a JSON object");
    };
    match path.as_str() {
        "/vectors/upsert" => upsert(&mut s, &body),
        "/query" => query(&s, &body),
        "/vectors/delete" => delete(&mut s, &body),
        "/describe_index_stats" => stats(&s),
        _ => error(404, 5, "Not Found"),
    }
}

fn namespace_of(body: &Map<String, Value>) -> String {
    body.get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn numbers(value: Option<&Value>) -> Option<Vec<f64>> {
    value?.as_array()?.iter().map(Value::as_f64).collect()
}

fn upsert(s: &mut State, body: &Map<String, Value>) -> Response {
    let Some(vectors) = body.get("vectors").and_then(Value::as_array) else {
        return invalid("vectors is required");
    };
    if vectors.is_empty() || vectors.len() > MAX_UPSERT_VECTORS {
        return invalid(&format!(
            "The request contains {} vectors; an upsert takes 1 to {MAX_UPSERT_VECTORS}",
            vectors.len()
        ));
    }
    let mut parsed = Vec::with_capacity(vectors.len());
    for v in vectors {
        let Some(id) = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
        else {
            return invalid("every vector needs an id");
        };
        let Some(values) = numbers(v.get("values")) else {
            return invalid(&format!("vector {id} needs numeric values"));
        };
        if values.len() != s.dimension {
            return invalid(&format!(
                "Vector dimension {} does not match the dimension of the index {}",
                values.len(),
                s.dimension
            ));
        }
        let metadata = match v.get("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return invalid(&format!("metadata of {id} must be an object")),
        };
        parsed.push(Stored {
            id: id.to_owned(),
            values,
            metadata,
        });
    }
    let count = parsed.len();
    let space = s.namespaces.entry(namespace_of(body)).or_default();
    for v in parsed {
        space.insert(v.id.clone(), v);
    }
    answer(200, &json!({"upsertedCount": count}))
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn query(s: &State, body: &Map<String, Value>) -> Response {
    let namespace = namespace_of(body);
    let space = s.namespaces.get(&namespace);
    let Some(top_k) = body.get("topK").and_then(Value::as_u64) else {
        return invalid("topK is required");
    };
    if !(1..=MAX_TOP_K).contains(&top_k) {
        return invalid(&format!("topK must be 1 to {MAX_TOP_K}"));
    }
    let vector = match (
        numbers(body.get("vector")),
        body.get("id").and_then(Value::as_str),
    ) {
        (Some(v), None) => v,
        (None, Some(id)) => match space.and_then(|sp| sp.get(id)) {
            Some(found) => found.values.clone(),
            None => return answer(200, &json!({"matches": [], "namespace": namespace})),
        },
        _ => return invalid("exactly one of vector or id is required"),
    };
    if vector.len() != s.dimension {
        return invalid(&format!(
            "Vector dimension {} does not match the dimension of the index {}",
            vector.len(),
            s.dimension
        ));
    }
    let filter = match body.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::Object(f)) => Some(f),
        Some(_) => return invalid("filter must be an object"),
    };
    if let Some(Err(problem)) = filter.map(validate) {
        return invalid(&problem);
    }
    let mut scored: Vec<(f64, &Stored)> = Vec::new();
    for v in space.into_iter().flat_map(BTreeMap::values) {
        if let Some(f) = filter {
            match matches(f, &v.metadata) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(problem) => return invalid(&problem),
            }
        }
        scored.push((cosine(&vector, &v.values), v));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let with_metadata = body.get("includeMetadata").and_then(Value::as_bool) == Some(true);
    let with_values = body.get("includeValues").and_then(Value::as_bool) == Some(true);
    let matches: Vec<Value> = scored
        .iter()
        .take(usize::try_from(top_k).unwrap_or(usize::MAX))
        .map(|(score, v)| {
            let mut m = json!({"id": v.id, "score": score, "values": []});
            if with_values {
                m["values"] = json!(v.values);
            }
            if with_metadata {
                m["metadata"] = Value::Object(v.metadata.clone());
            }
            m
        })
        .collect();
    answer(
        200,
        &json!({"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}),
    )
}

/// Whether every operator of `filter` is known and given the operand it takes.
fn validate(filter: &Map<String, Value>) -> Result<(), String> {
    for (key, condition) in filter {
        match key.as_str() {
            "$and" | "$or" => {
                let parts = condition
                    .as_array()
                    .ok_or_else(|| format!("{key} takes an array of filters"))?;
                for p in parts {
                    validate(
                        p.as_object()
                            .ok_or_else(|| format!("{key} takes an array of filters"))?,
                    )?;
                }
            }
            op if op.starts_with('$') => return Err(format!("unknown top-level operator {op}")),
            _ => {
                for (op, operand) in condition.as_object().into_iter().flatten() {
                    match op.as_str() {
                        "$eq" | "$ne" | "$exists" => {}
                        "$in" | "$nin" if operand.is_array() => {}
                        "$gt" | "$gte" | "$lt" | "$lte" if operand.is_number() => {}
                        other => return Err(format!("operator {other} with operand {operand}")),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `metadata` satisfies `filter`; `Err` names an operator the filter misuses.
fn matches(filter: &Map<String, Value>, metadata: &Map<String, Value>) -> Result<bool, String> {
    for (key, condition) in filter {
        let ok = match key.as_str() {
            "$and" | "$or" => {
                let Some(parts) = condition.as_array() else {
                    return Err(format!("{key} takes an array of filters"));
                };
                let mut results = Vec::with_capacity(parts.len());
                for p in parts {
                    let Some(p) = p.as_object() else {
                        return Err(format!("{key} takes an array of filters"));
                    };
                    results.push(matches(p, metadata)?);
                }
                if key == "$and" {
                    results.iter().all(|r| *r)
                } else {
                    results.iter().any(|r| *r)
                }
            }
            op if op.starts_with('$') => return Err(format!("unknown top-level operator {op}")),
            field => field_matches(metadata.get(field), condition)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn field_matches(value: Option<&Value>, condition: &Value) -> Result<bool, String> {
    let Some(ops) = condition.as_object() else {
        return Ok(equals(value, condition));
    };
    for (op, operand) in ops {
        let ok = match op.as_str() {
            "$eq" => equals(value, operand),
            "$ne" => !equals(value, operand),
            "$in" | "$nin" => {
                let Some(list) = operand.as_array() else {
                    return Err(format!("{op} takes an array"));
                };
                let found = list.iter().any(|x| equals(value, x));
                if op == "$in" {
                    found
                } else {
                    !found
                }
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                let (Some(a), Some(b)) = (value.and_then(Value::as_f64), operand.as_f64()) else {
                    return Err(format!("{op} compares numbers"));
                };
                match op.as_str() {
                    "$gt" => a > b,
                    "$gte" => a >= b,
                    "$lt" => a < b,
                    _ => a <= b,
                }
            }
            "$exists" => value.is_some() == (operand.as_bool() == Some(true)),
            other => return Err(format!("unknown operator {other}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Metadata equality: a list value matches when it contains the operand (Pinecone's lists).
fn equals(value: Option<&Value>, operand: &Value) -> bool {
    match value {
        Some(Value::Array(items)) => items.contains(operand),
        Some(Value::Number(a)) => operand.as_f64() == a.as_f64(),
        Some(v) => v == operand,
        None => false,
    }
}

fn delete(s: &mut State, body: &Map<String, Value>) -> Response {
    let namespace = namespace_of(body);
    let ids = body.get("ids").and_then(Value::as_array);
    let all = body.get("deleteAll").and_then(Value::as_bool) == Some(true);
    let filter = body.get("filter").and_then(Value::as_object);
    let given = usize::from(ids.is_some()) + usize::from(all) + usize::from(filter.is_some());
    if given != 1 {
        return invalid("exactly one of ids, deleteAll or filter is required");
    }
    if let Some(ids) = ids {
        if ids.is_empty() || ids.len() > MAX_DELETE_IDS {
            return invalid(&format!("ids takes 1 to {MAX_DELETE_IDS} ids"));
        }
    }
    if let Some(f) = filter {
        // A malformed filter is refused before anything is deleted.
        if let Err(problem) = validate(f) {
            return invalid(&problem);
        }
    }
    let Some(space) = s.namespaces.get_mut(&namespace) else {
        return answer(200, &json!({}));
    };
    if all {
        space.clear();
    } else if let Some(ids) = ids {
        for id in ids.iter().filter_map(Value::as_str) {
            space.remove(id);
        }
    } else if let Some(f) = filter {
        space.retain(|_, v| !matches(f, &v.metadata).unwrap_or(false));
    }
    answer(200, &json!({}))
}

/// `%XX` decoding of a query-string value (`+` is a space).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list(s: &State, query: &str) -> Response {
    let params: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let namespace = params.get("namespace").cloned().unwrap_or_default();
    let prefix = params.get("prefix").cloned().unwrap_or_default();
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return invalid("limit must be 1 to 100"),
    };
    let after = params.get("paginationToken").cloned();
    let ids: Vec<&String> = s
        .namespaces
        .get(&namespace)
        .into_iter()
        .flat_map(BTreeMap::keys)
        .filter(|id| id.starts_with(&prefix))
        .filter(|id| after.as_ref().is_none_or(|a| *id > a))
        .collect();
    let page: Vec<Value> = ids.iter().take(limit).map(|id| json!({"id": id})).collect();
    let mut body = json!({"vectors": page, "namespace": namespace, "usage": {"readUnits": 1}});
    if ids.len() > limit {
        // The token is the last id of the page (opaque to callers).
        body["pagination"] = json!({"next": ids[limit - 1]});
    }
    answer(200, &body)
}

fn stats(s: &State) -> Response {
    let namespaces: Map<String, Value> = s
        .namespaces
        .iter()
        .map(|(k, v)| (k.clone(), json!({"vectorCount": v.len()})))
        .collect();
    let total: usize = s.namespaces.values().map(BTreeMap::len).sum();
    answer(
        200,
        &json!({"namespaces": namespaces, "dimension": s.dimension,
            "indexFullness": 0.0, "totalVectorCount": total, "metric": "cosine"}),
    )
}

#[cfg(test)]
mod tests;
