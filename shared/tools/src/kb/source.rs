//! The text a document to ingest holds: given inline, a text artifact of the caller's workspace,
//! or a Google Doc read through the `docs.get_document` tool (the whole tool pipeline: the Docs
//! instance must be in the same workspace and granted to the agent, its guardrails apply, and
//! the read leaves its own receipt).

use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

use crate::error::ErrorCode;
use crate::executor::Call;
use crate::{ToolError, ToolRequest, ToolResponse};
use switchyard_aws::artifacts::ArtifactError;

/// The largest text artifact read unless the instance says `max_document_bytes`.
pub(crate) const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 10 * 1024 * 1024;
/// The tool a Google Doc is read with.
const GOOGLE_DOC_TOOL: &str = "docs.get_document";
/// The most characters read from a Google Doc (the tool's own maximum).
const GOOGLE_DOC_MAX_CHARS: u64 = 1_000_000;

/// A document's text and the name it is stored under.
#[derive(Debug)]
pub(crate) struct Document {
    pub text: String,
    /// `source` of every chunk: the input's, else one naming where the text came from.
    pub source: String,
}

fn invalid(message: String) -> ToolError {
    ToolError::invalid_input_message(message)
}

/// The document `input` names (`text`, `artifact_id` or `google_doc`).
pub(crate) async fn load(call: &Call<'_>, input: &Value) -> Result<Document, ToolError> {
    let named = input
        .get("source")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(text) = input.get("text").and_then(Value::as_str) {
        let source = named.ok_or_else(|| invalid("text needs a source name".into()))?;
        return Ok(Document {
            text: text.to_owned(),
            source,
        });
    }
    if let Some(id) = input.get("artifact_id").and_then(Value::as_str) {
        return Ok(Document {
            text: artifact_text(call, id).await?,
            source: named.unwrap_or_else(|| format!("artifact:{id}")),
        });
    }
    if let Some(doc) = input.get("google_doc") {
        let instance = doc
            .get("instance_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let document = doc
            .get("document_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(Document {
            text: google_doc_text(call, instance, document).await?,
            source: named.unwrap_or_else(|| format!("gdoc:{document}")),
        });
    }
    Err(invalid(
        "one of text, artifact_id or google_doc is required".into(),
    ))
}

/// A text artifact of the instance's workspace, at most `max_document_bytes`, as UTF-8.
async fn artifact_text(call: &Call<'_>, id: &str) -> Result<String, ToolError> {
    let cap = call
        .instance
        .config
        .get("max_document_bytes")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES);
    let not_found = || invalid(format!("no artifact {id} in this workspace"));
    let too_large = |size: u64| {
        ToolError::new(
            ErrorCode::LimitExceeded,
            format!("max_document_bytes: the artifact has {size} bytes, the limit is {cap}"),
            false,
        )
    };
    let artifact = crate::within(
        call.deadline,
        "the artifact lookup",
        call.app.artifacts.get(id),
    )
    .await?
    .map_err(|e| ToolError::unavailable(e.to_string()))?
    .filter(|a| a.workspace == call.instance.workspace)
    .ok_or_else(not_found)?;
    if artifact.size_bytes > cap {
        return Err(too_large(artifact.size_bytes));
    }
    let bytes = crate::within(
        call.deadline,
        "reading the artifact",
        call.app.artifacts.bytes(&artifact, cap),
    )
    .await?
    .map_err(|e| match e {
        ArtifactError::TooLarge { size, .. } => too_large(size),
        ArtifactError::NotFound(_) => not_found(),
        other => ToolError::unavailable(other.to_string()),
    })?;
    String::from_utf8(bytes).map_err(|_| {
        invalid(format!(
            "artifact {id} ({}) is not UTF-8 text",
            artifact.mime_type
        ))
    })
}

/// A boxed tool call: `invoke` runs this handler, so calling it from here is recursion.
fn nested_invoke<'a>(
    call: &'a Call<'_>,
    request: ToolRequest,
) -> Pin<Box<dyn Future<Output = ToolResponse> + Send + 'a>> {
    Box::pin(crate::invoke(
        call.app,
        GOOGLE_DOC_TOOL,
        request,
        call.deadline,
    ))
}

/// The plain text of Google Doc `document` through Docs instance `instance_id`.
async fn google_doc_text(
    call: &Call<'_>,
    instance_id: &str,
    document: &str,
) -> Result<String, ToolError> {
    let denied = || {
        ToolError::new(
            ErrorCode::Forbidden,
            "the Docs instance is not in this workspace",
            false,
        )
    };
    let docs = crate::within(
        call.deadline,
        "the Docs instance lookup",
        call.app.instances.get(instance_id),
    )
    .await?
    .map_err(|e| ToolError::unavailable(e.to_string()))?
    .ok_or_else(denied)?;
    if docs.workspace != call.instance.workspace {
        return Err(denied());
    }
    let request = ToolRequest {
        instance_id: instance_id.to_owned(),
        agent_id: call.agent_id.to_owned(),
        input: json!({"document_id": document, "max_chars": GOOGLE_DOC_MAX_CHARS}),
        idempotency_key: None,
        trace_id: None,
        on_behalf_of: call.on_behalf_of.map(str::to_owned),
    };
    match nested_invoke(call, request).await {
        ToolResponse::Ok { output, .. } => output
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ToolError::internal("docs.get_document answered no text")),
        ToolResponse::Err { error, .. } => Err(ToolError {
            message: format!("reading the Google Doc: {}", error.message),
            ..error
        }),
    }
}
