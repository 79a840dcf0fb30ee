//! Message templates: list, create and status through `/{waba_id}/message_templates`, and the
//! `APPROVED` check `whatsapp.send_template` makes before it sends.
//!
//! An approved status is cached per warm process for [`APPROVED_TTL`] (a send burst looks the
//! template up once); any other answer is looked up again on the next send, so a template
//! approved a moment ago is usable at once. A template Meta pauses or disables while cached
//! is still tried; Graph then refuses the send itself.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{config_id, graph};
use crate::executor::{Call, Payload};
use crate::{ErrorCode, ToolError};

/// How long an `APPROVED` status is trusted without asking again.
pub(crate) const APPROVED_TTL: Duration = Duration::from_secs(60);
/// The fields a listing asks for.
const FIELDS: &str = "name,language,status,category,id,components";

/// Approved templates this process saw: (instance, name, language) → when.
#[derive(Debug, Default)]
pub(crate) struct TemplateCache {
    approved: Mutex<HashMap<(String, String, String), Instant>>,
}

impl TemplateCache {
    fn is_approved(&self, key: &(String, String, String)) -> bool {
        let approved = self.approved.lock().unwrap_or_else(PoisonError::into_inner);
        approved
            .get(key)
            .is_some_and(|at| at.elapsed() < APPROVED_TTL)
    }

    fn remember(&self, key: (String, String, String)) {
        let mut approved = self.approved.lock().unwrap_or_else(PoisonError::into_inner);
        approved.retain(|_, at| at.elapsed() < APPROVED_TTL);
        approved.insert(key, Instant::now());
    }
}

/// One template as the tools answer it.
fn summary(template: &Value) -> Value {
    let field = |k: &str| template.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": field("id"),
        "name": field("name"),
        "language": field("language"),
        "status": field("status"),
        "category": field("category"),
        "components": template.get("components").cloned().unwrap_or_else(|| json!([])),
    })
}

/// One page of the WABA's templates, `name` filtering when given.
async fn page(
    call: &mut Call<'_>,
    name: Option<&str>,
    limit: u64,
    after: Option<&str>,
) -> Result<Value, ToolError> {
    let waba = config_id(call, "waba_id")?;
    let mut query = vec![
        ("fields".to_owned(), FIELDS.to_owned()),
        ("limit".to_owned(), limit.to_string()),
    ];
    if let Some(name) = name {
        query.push(("name".into(), name.to_owned()));
    }
    if let Some(after) = after {
        query.push(("after".into(), after.to_owned()));
    }
    graph(
        call,
        "GET",
        &format!("/{waba}/message_templates"),
        query,
        Payload::None,
    )
    .await
}

fn templates_of(body: &Value) -> Vec<Value> {
    body.get("data")
        .and_then(Value::as_array)
        .map(|d| d.iter().map(summary).collect())
        .unwrap_or_default()
}

/// `whatsapp.templates.list`: one page, and the cursor of the next.
pub(crate) async fn list(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let limit = input.get("limit").and_then(Value::as_u64).unwrap_or(25);
    let after = input.get("after").and_then(Value::as_str);
    let body = page(call, None, limit, after).await?;
    // Graph gives `paging.next` only when there is a next page; `cursors.after` always.
    let next = body
        .pointer("/paging/next")
        .and_then(|_| body.pointer("/paging/cursors/after"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({"templates": templates_of(&body), "next_cursor": next}))
}

/// `whatsapp.templates.create`: submits a template for review (it starts `PENDING`).
pub(crate) async fn create(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let waba = config_id(call, "waba_id")?;
    let mut body = json!({
        "name": input.get("name").cloned().unwrap_or(Value::Null),
        "language": input.get("language").cloned().unwrap_or(Value::Null),
        "category": input.get("category").cloned().unwrap_or(Value::Null),
        "components": input.get("components").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(allow) = input.get("allow_category_change") {
        body["allow_category_change"] = allow.clone();
    }
    let answer = graph(
        call,
        "POST",
        &format!("/{waba}/message_templates"),
        Vec::new(),
        Payload::Json(body),
    )
    .await?;
    Ok(json!({
        "id": answer.get("id").cloned().unwrap_or(Value::Null),
        "status": answer.get("status").cloned().unwrap_or(Value::Null),
        "category": answer.get("category").cloned().unwrap_or(Value::Null),
    }))
}

/// The templates named `name` (one per language).
async fn named(call: &mut Call<'_>, name: &str) -> Result<Vec<Value>, ToolError> {
    let body = page(call, Some(name), 100, None).await?;
    // Graph's `name` filter matches by substring: keep the exact name only.
    Ok(templates_of(&body)
        .into_iter()
        .filter(|t| t.get("name").and_then(Value::as_str) == Some(name))
        .collect())
}

/// `whatsapp.templates.status`: the status of each language of a template.
pub(crate) async fn status(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let language = input.get("language").and_then(Value::as_str);
    let found: Vec<Value> = named(call, name)
        .await?
        .into_iter()
        .filter(|t| language.is_none_or(|l| t.get("language").and_then(Value::as_str) == Some(l)))
        .map(|t| json!({"id": t["id"], "language": t["language"], "status": t["status"], "category": t["category"]}))
        .collect();
    Ok(json!({"name": name, "found": !found.is_empty(), "languages": found}))
}

/// `Ok` when template `name` in `language` is `APPROVED`; `template_not_approved` (nothing
/// sent) when it is anything else or does not exist.
pub(crate) async fn require_approved(
    call: &mut Call<'_>,
    name: &str,
    language: &str,
) -> Result<(), ToolError> {
    let key = (
        call.instance.id.clone(),
        name.to_owned(),
        language.to_owned(),
    );
    if call.app.templates.is_approved(&key) {
        return Ok(());
    }
    let status = named(call, name)
        .await?
        .into_iter()
        .find(|t| t.get("language").and_then(Value::as_str) == Some(language))
        .and_then(|t| t.get("status").and_then(Value::as_str).map(str::to_owned));
    match status.as_deref() {
        Some("APPROVED") => {
            call.app.templates.remember(key);
            Ok(())
        }
        other => Err(ToolError::new(
            ErrorCode::TemplateNotApproved,
            format!(
                "template {name} ({language}) is {}; nothing was sent",
                other.unwrap_or("not found")
            ),
            false,
        )),
    }
}
