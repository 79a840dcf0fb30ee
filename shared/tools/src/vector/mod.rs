//! The `vector.*` tools (`shared/integrations/vector.json`): Pinecone upsert, query and delete
//! in the workspace's namespace. The index, key and namespace come from the instance and the
//! platform ([`index`]); the input schema refuses a `namespace`, so an agent cannot reach
//! another workspace's vectors. The knowledge base ([`crate::kb`]) uses the same index code.

pub(crate) mod index;

use serde_json::{json, Value};

use crate::executor::Call;
use crate::ToolError;
use index::Delete;

/// The handlers this module runs (each also listed in `definitions::HANDLERS`).
const HANDLED: &[&str] = &["vector_upsert", "vector_query", "vector_delete"];

/// Whether `handler` is one of this module's.
pub(crate) fn handles(handler: &str) -> bool {
    HANDLED.contains(&handler)
}

/// Runs `handler` for `input`.
pub(crate) async fn run(
    call: &mut Call<'_>,
    handler: &str,
    input: &Value,
) -> Result<Value, ToolError> {
    match handler {
        "vector_upsert" => upsert(call, input).await,
        "vector_query" => query(call, input).await,
        "vector_delete" => delete(call, input).await,
        other => Err(ToolError::internal(&format!("no vector handler {other}"))),
    }
}

async fn upsert(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let index = index::open(call).await?;
    let vectors = input
        .get("vectors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count = index.upsert(call, &vectors).await?;
    Ok(json!({"upserted_count": count, "namespace": index.namespace}))
}

async fn query(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let index = index::open(call).await?;
    let vector: Vec<f64> = input
        .get("vector")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let top_k = input.get("top_k").and_then(Value::as_u64).unwrap_or(10);
    let include_values = input.get("include_values").and_then(Value::as_bool) == Some(true);
    let matches = index
        .query(call, &vector, top_k, input.get("filter"), include_values)
        .await?;
    let matches: Vec<Value> = matches
        .into_iter()
        .map(|m| {
            let mut out = json!({
                "id": m.get("id").cloned().unwrap_or(Value::Null),
                "score": m.get("score").cloned().unwrap_or(json!(0.0)),
                "metadata": m.get("metadata").cloned().unwrap_or_else(|| json!({})),
            });
            if include_values {
                out["values"] = m.get("values").cloned().unwrap_or_else(|| json!([]));
            }
            out
        })
        .collect();
    Ok(json!({"matches": matches, "namespace": index.namespace}))
}

async fn delete(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let index = index::open(call).await?;
    let ids: Option<Vec<String>> = input.get("ids").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let (selection, deleted) = match (&ids, input.get("filter"), input.get("delete_all")) {
        (Some(ids), None, None) => (Delete::Ids(ids), json!({"ids": ids})),
        (None, Some(filter), None) => (Delete::Filter(filter), json!({"filter": filter})),
        (None, None, Some(Value::Bool(true))) => (Delete::All, json!({"all": true})),
        _ => {
            return Err(ToolError::invalid_input_message(
                "exactly one of ids, filter or delete_all: true is required".into(),
            ))
        }
    };
    index.delete(call, selection).await?;
    Ok(json!({"deleted": deleted, "namespace": index.namespace}))
}
