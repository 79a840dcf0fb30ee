//! Background media jobs: a call that asks for `"mode": "background"`, or is over the
//! instance's size threshold, is answered at once with `{job_id, status: "queued"}` (and a
//! receipt for the enqueueing), stored in `JobsTable` and queued on `JobsQueue`. The media
//! worker claims it (`queued → running`, conditional), runs it through the normal pipeline
//! (same credentials, limits, receipts, artifacts) under the job id as idempotency key, records
//! the outcome and publishes `media.job_completed` (with the artifact) or `media.job_failed`
//! to the agent.
//!
//! Which methods may run in the background, and what size sends them there, is definition data
//! (`x-switchyard.background`), not code.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchyard_aws::deferred::DeferredMessage;
use switchyard_aws::jobs::{Job, JobStatus};
use tokio::time::Instant;

use crate::deferred::{self, Handled};
use crate::definitions::Method;
use crate::instances::Instance;
use crate::receipts::Receipt;
use crate::{ToolRequest, ToolResponse, Tools};

/// The input field that asks for a background run.
pub const MODE_FIELD: &str = "mode";

/// How long the presigned URL in a `media.job_completed` event is valid.
const EVENT_URL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A method's background settings (`x-switchyard.background`): `{}` runs in the background only
/// when asked; `sizeOf` + `thresholdKey` also when the input at `sizeOf` (a string's characters,
/// or a number) is over the instance config's integer `thresholdKey`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackgroundDef {
    #[serde(default)]
    pub size_of: Option<String>,
    #[serde(default)]
    pub threshold_key: Option<String>,
}

impl BackgroundDef {
    /// Whether `input` on `instance` runs in the background.
    pub fn applies(&self, instance: &Instance, input: &Value) -> bool {
        if input.get(MODE_FIELD).and_then(Value::as_str) == Some("background") {
            return true;
        }
        let (Some(pointer), Some(key)) = (&self.size_of, &self.threshold_key) else {
            return false;
        };
        let Some(threshold) = instance
            .config
            .get(key)
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return false;
        };
        let size = match input.pointer(pointer) {
            Some(Value::String(s)) => s.chars().count() as u64,
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        };
        size > threshold
    }
}

/// The input the worker runs: the call's own, without the mode that deferred it.
fn runnable(input: &Value) -> Value {
    match input {
        Value::Object(map) => {
            let mut map: Map<String, Value> = map.clone();
            map.remove(MODE_FIELD);
            Value::Object(map)
        }
        other => other.clone(),
    }
}

fn queued(job: &Job) -> Value {
    json!({"job_id": job.id, "status": job.status.as_str()})
}

/// Queues the call when it runs in the background; `None`: run it now.
pub(crate) async fn queue_if_background(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    request: &ToolRequest,
) -> Option<ToolResponse> {
    let background = method.def.exec.background.as_ref()?;
    if !background.applies(instance, &request.input) {
        return None;
    }
    let (id, input_hash) = deferred::record_id("job", instance, &method.tool_id, request);
    let now = app.clock.now();
    let receipt_id = format!("rcpt_{}", uuid::Uuid::new_v4().simple());
    let job = Job {
        id,
        status: JobStatus::Queued,
        tool: method.tool_id.clone(),
        instance_id: instance.id.clone(),
        workspace: instance.workspace.clone(),
        agent_id: request.agent_id.clone(),
        user: request.on_behalf_of.clone(),
        input: runnable(&request.input),
        input_hash,
        trace_id: request.trace_id.clone(),
        receipt_id: receipt_id.clone(),
        result_receipt_id: None,
        output: None,
        error_code: None,
        error_message: None,
        created_at: now,
        started_at: None,
        finished_at: None,
    };
    match app.jobs.create(&job).await {
        Ok(true) => {}
        // The agent's retry of a call it already queued: the same job.
        Ok(false) => {
            return Some(match app.jobs.get(&job.id).await {
                Ok(Some(existing)) if existing.input_hash == job.input_hash => ToolResponse::Ok {
                    ok: true,
                    output: queued(&existing),
                    receipt_id: existing.receipt_id,
                },
                Ok(_) => deferred::conflict(&job.id),
                Err(e) => deferred::unavailable(&e),
            })
        }
        Err(e) => return Some(deferred::unavailable(&e)),
    }
    if let Err(e) = app
        .jobs_queue
        .send(&DeferredMessage::Job { id: job.id.clone() })
        .await
    {
        // Not queued: the job would never run. Record it failed so it is not left queued.
        let mut failed = job.clone();
        failed.status = JobStatus::Failed;
        failed.error_code = Some(crate::ErrorCode::Unavailable.as_str().into());
        failed.finished_at = Some(now);
        if let Err(e) = app.jobs.replace(&failed, JobStatus::Queued.as_str()).await {
            tracing::error!(job = %job.id, error = %e, "could not mark an unqueued job failed");
        }
        return Some(deferred::unavailable(&e));
    }
    let receipt = Receipt {
        receipt_id: receipt_id.clone(),
        tool: method.tool_id.clone(),
        instance_id: instance.id.clone(),
        agent_id: request.agent_id.clone(),
        user: request.on_behalf_of.clone(),
        request_id: String::new(),
        trace_id: request.trace_id.clone(),
        idempotency_key: request.idempotency_key.clone(),
        status: "queued".into(),
        error_code: None,
        provider_status: None,
        provider_request_ids: Vec::new(),
        attempts: Vec::new(),
        latency_ms: 0,
        cost: None,
        usage: Vec::new(),
        message_ids: Vec::new(),
        cost_usd: None,
        created_at: now,
    };
    if let Err(e) = app.receipts.put(&receipt).await {
        tracing::error!(job = %job.id, error = %e, "could not write the enqueueing receipt");
    }
    Some(ToolResponse::Ok {
        ok: true,
        output: queued(&job),
        receipt_id,
    })
}

/// Runs job `id` for the media worker.
pub(crate) async fn run(app: &Tools, id: &str, deadline: Instant) -> Handled {
    let mut job = match app.jobs.get(id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            tracing::error!(job = id, "queued job has no record; dropped");
            return Handled::Done;
        }
        Err(e) => {
            tracing::warn!(job = id, error = %e, "job record unreadable now; retried");
            return Handled::Retry;
        }
    };
    match job.status {
        JobStatus::Queued => {
            let mut running = job.clone();
            running.status = JobStatus::Running;
            running.started_at = Some(app.clock.now());
            match app.jobs.replace(&running, JobStatus::Queued.as_str()).await {
                Ok(true) => job = running,
                // Another delivery claimed it: that one runs it.
                Ok(false) => return Handled::Done,
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "could not claim the job; retried");
                    return Handled::Retry;
                }
            }
        }
        // A runner stopped mid-job (a timeout, a crash): run again under the job's key, which
        // replays the provider call's answer if it was made and finished.
        JobStatus::Running => {}
        JobStatus::Succeeded | JobStatus::Failed => return Handled::Done,
    }
    let request = ToolRequest {
        instance_id: job.instance_id.clone(),
        agent_id: job.agent_id.clone(),
        input: job.input.clone(),
        idempotency_key: Some(job.id.clone()),
        trace_id: job.trace_id.clone(),
        on_behalf_of: None,
    };
    let response =
        crate::invoke_resumed(app, &job.tool, request, deadline, job.user.as_deref()).await;
    if let Some(error) = response.error() {
        if error.code == crate::ErrorCode::InProgress || error.retryable {
            // Another runner holds the key, or the failure may pass: try the message again.
            return Handled::Retry;
        }
    }
    finish(app, job, response).await
}

/// Records the outcome of a running job and tells the agent.
async fn finish(app: &Tools, mut job: Job, response: ToolResponse) -> Handled {
    job.finished_at = Some(app.clock.now());
    match &response {
        ToolResponse::Ok {
            output, receipt_id, ..
        } => {
            job.status = JobStatus::Succeeded;
            job.output = Some(output.clone());
            job.result_receipt_id = Some(receipt_id.clone());
        }
        ToolResponse::Err {
            error, receipt_id, ..
        } => {
            job.status = JobStatus::Failed;
            job.error_code = Some(error.code.as_str().to_owned());
            job.error_message = Some(error.message.clone());
            job.result_receipt_id.clone_from(receipt_id);
        }
    }
    match app.jobs.replace(&job, JobStatus::Running.as_str()).await {
        Ok(true) => {}
        // Another runner recorded it (and told the agent).
        Ok(false) => return Handled::Done,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "could not record the outcome; retried");
            return Handled::Retry;
        }
    }
    let instance = match app.instances.get(&job.instance_id).await {
        Ok(Some(instance)) => instance,
        _ => {
            tracing::error!(job = %job.id, "the job's instance is gone: no event");
            return Handled::Done;
        }
    };
    let (event_type, payload) = match job.status {
        JobStatus::Succeeded => (
            "media.job_completed",
            json!({
                "job_id": job.id,
                "tool": job.tool,
                "status": job.status.as_str(),
                "receipt_id": job.result_receipt_id,
                "artifacts": artifacts(app, job.output.as_ref()).await,
            }),
        ),
        _ => (
            "media.job_failed",
            json!({
                "job_id": job.id,
                "tool": job.tool,
                "status": job.status.as_str(),
                "receipt_id": job.result_receipt_id,
                "error": {"code": job.error_code, "message": job.error_message},
            }),
        ),
    };
    if let Err(e) =
        deferred::notify(app, &instance, &job.agent_id, &job.id, event_type, payload).await
    {
        // The outcome is recorded; `switchyard job show` has it even if the event is lost.
        tracing::error!(job = %job.id, error = %e, "could not publish the job's outcome");
    }
    Handled::Done
}

/// The artifacts of a media tool's output (`artifact` or `artifacts[]`), each with its id, S3
/// key, MIME type, size and a fresh presigned URL read from the artifact's record.
async fn artifacts(app: &Tools, output: Option<&Value>) -> Vec<Value> {
    let Some(output) = output else {
        return Vec::new();
    };
    let ids: Vec<&str> = output
        .get("artifact")
        .into_iter()
        .chain(
            output
                .get("artifacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .filter_map(|a| a.get("artifact_id").and_then(Value::as_str))
        .collect();
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        match app.artifacts.get(id).await {
            Ok(Some(artifact)) => {
                let url = app
                    .artifacts
                    .presigned_url(&artifact, EVENT_URL_TTL)
                    .await
                    .ok();
                found.push(json!({
                    "artifact_id": artifact.id,
                    "key": artifact.key,
                    "mime_type": artifact.mime_type,
                    "size_bytes": artifact.size_bytes,
                    "url": url,
                    "url_expires_in_secs": EVENT_URL_TTL.as_secs(),
                }));
            }
            Ok(None) => tracing::error!(artifact = id, "a job's artifact has no record"),
            Err(e) => tracing::error!(artifact = id, error = %e, "artifact unreadable"),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(config: &[(&str, &str)]) -> Instance {
        Instance {
            id: "m".into(),
            provider: "media".into(),
            workspace: "acme".into(),
            config: config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            secret_keys: vec![],
            sealed: None,
            grants: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn background_when_asked_or_over_the_threshold() {
        let def = BackgroundDef {
            size_of: Some("/text".into()),
            threshold_key: Some("background_over_characters".into()),
        };
        let none = instance(&[]);
        let ten = instance(&[("background_over_characters", "10")]);
        assert!(!def.applies(&none, &json!({"text": "x".repeat(5000)})));
        assert!(def.applies(&none, &json!({"text": "hi", "mode": "background"})));
        assert!(!def.applies(&ten, &json!({"text": "ten chars!"})));
        assert!(def.applies(&ten, &json!({"text": "eleven chars"})));
        // The threshold protects the tool function's time: asking for sync does not lift it.
        assert!(def.applies(&ten, &json!({"text": "x".repeat(50), "mode": "sync"})));
        let mode_only = BackgroundDef::default();
        assert!(!mode_only.applies(&ten, &json!({"prompt": "x".repeat(50)})));
    }

    #[test]
    fn the_worker_runs_the_input_without_its_mode() {
        assert_eq!(
            runnable(&json!({"text": "hi", "mode": "background"})),
            json!({"text": "hi"})
        );
    }
}
