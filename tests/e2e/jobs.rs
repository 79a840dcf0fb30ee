//! Background media jobs end to end against the media fake and the emulator: a background call
//! is answered at once and queued; the media worker runs it through the pipeline and the agent
//! hears `media.job_completed` with the artifact (in S3) or `media.job_failed` with the error
//! code; a redelivered job runs once; the instance's size threshold sends long speech to the
//! background; `switchyard job show|list` read the records.

use serde_json::{json, Value};
use switchyard::deferred::DeferredMessage;
use switchyard::jobs::JobStatus;
use switchyard::keys;
use switchyard::secret::SecretString;
use switchyard::tools::{ToolRequest, ToolResponse};
use switchyard_media_fake::encode::wav_duration_ms;
use switchyard_media_fake::{MediaFake, Scripted, MS_PER_CHARACTER};
use switchyard_ops::local::DriverSettings;

use crate::cli::cli;
use crate::support::{serving_stack, Stack};

const AGENT: &str = "agent-jobs";
const MEDIA: &str = "acme-media";

async fn setup(fake: &MediaFake, extra: &[(&str, &str)]) -> Stack {
    let (stack, _) = serving_stack().await;
    keys::set_platform_key(
        stack.app.keys(),
        "openai",
        &SecretString::from(MediaFake::OPENAI_KEY),
    )
    .await
    .expect("platform key");
    let mut settings: Vec<(String, String)> = vec![("api_base_url".into(), fake.base_url.clone())];
    settings.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    switchyard_ops::admin::create_instance(&stack.app, "media", MEDIA, "acme", &settings)
        .await
        .expect("media instance");
    switchyard_ops::admin::grant(&stack.app, MEDIA, AGENT, &Default::default())
        .await
        .expect("grant");
    stack
}

async fn call(stack: &Stack, tool: &str, input: Value) -> ToolResponse {
    let request = ToolRequest {
        instance_id: MEDIA.into(),
        agent_id: AGENT.into(),
        input,
        idempotency_key: None,
        trace_id: None,
        on_behalf_of: None,
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    switchyard::tools::invoke(stack.app.tools(), tool, request, deadline).await
}

/// The job id of a queued answer (whose receipt records the enqueueing).
async fn queued(stack: &Stack, response: &ToolResponse) -> String {
    let ToolResponse::Ok {
        output, receipt_id, ..
    } = response
    else {
        panic!("expected a queued job, got {response:?}");
    };
    assert_eq!(output["status"], "queued");
    let receipt = stack
        .app
        .tools()
        .receipts
        .get(receipt_id)
        .await
        .expect("receipts")
        .expect("an enqueueing receipt");
    assert_eq!(receipt.status, "queued");
    output["job_id"].as_str().expect("job id").to_owned()
}

fn provider_calls(fake: &MediaFake, path: &str) -> usize {
    fake.requests().iter().filter(|r| r.path == path).count()
}

async fn drain_jobs(stack: &Stack) {
    let settings = DriverSettings {
        batch_size: 10,
        visibility_timeout: 1,
        wait_secs: 0,
    };
    while switchyard_ops::local::drive_jobs_once(&stack.app, settings)
        .await
        .expect("drive jobs")
        .0
        > 0
    {}
}

async fn job_events(stack: &Stack) -> Vec<switchyard::events::PlatformEvent> {
    stack
        .tapped()
        .await
        .into_iter()
        .filter(|e| e.event_type.starts_with("media.job_"))
        .collect()
}

#[tokio::test]
async fn background_speech_completes_through_the_worker_with_its_artifact_in_s3() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &[]).await;
    let text = "Your background order has shipped.";
    let response = call(
        &stack,
        "media.synthesize_speech",
        json!({"text": text, "mode": "background"}),
    )
    .await;
    let job_id = queued(&stack, &response).await;
    assert_eq!(
        provider_calls(&fake, "/v1/audio/speech"),
        0,
        "not run in the call"
    );
    let job = stack
        .app
        .tools()
        .jobs
        .get(&job_id)
        .await
        .expect("jobs")
        .expect("job");
    assert_eq!(job.status, JobStatus::Queued);
    assert!(job.input.get("mode").is_none());

    drain_jobs(&stack).await;
    assert_eq!(provider_calls(&fake, "/v1/audio/speech"), 1);
    let events = job_events(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.event_type, "media.job_completed");
    assert_eq!(event.agent_id, AGENT);
    assert_eq!(event.payload["job_id"], job_id);
    let artifact = &event.payload["artifacts"][0];
    let id = artifact["artifact_id"].as_str().expect("artifact id");
    let stored = stack
        .app
        .artifacts
        .get(id)
        .await
        .expect("artifacts")
        .expect("artifact record");
    assert_eq!(artifact["key"], stored.key);
    assert_eq!(artifact["mime_type"], "audio/wav");
    assert_eq!(artifact["size_bytes"], stored.size_bytes);
    let bytes = stack
        .app
        .artifacts
        .bytes(&stored, u64::MAX)
        .await
        .expect("the object is in S3");
    assert_eq!(
        wav_duration_ms(&bytes),
        Some(text.len() as u64 * MS_PER_CHARACTER)
    );
    let downloaded = reqwest::get(artifact["url"].as_str().expect("url"))
        .await
        .expect("presigned GET")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(downloaded.as_ref(), bytes.as_slice());

    let job = stack
        .app
        .tools()
        .jobs
        .get(&job_id)
        .await
        .expect("jobs")
        .expect("job");
    assert_eq!(job.status, JobStatus::Succeeded);
    let shown = cli(&stack, &["job", "show", &job_id]).await.expect("show");
    assert!(shown.contains("succeeded") && shown.contains(id), "{shown}");
    let listed = cli(
        &stack,
        &[
            "job",
            "list",
            "--workspace",
            "acme",
            "--status",
            "succeeded",
        ],
    )
    .await
    .expect("list");
    assert!(listed.contains(&job_id), "{listed}");
    let none = cli(&stack, &["job", "list", "--status", "failed"])
        .await
        .expect("list");
    assert!(!none.contains(&job_id), "{none}");
}

#[tokio::test]
async fn a_failing_provider_fails_the_job_with_its_error_code() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &[]).await;
    fake.script(
        "/v1/images",
        vec![Scripted::error(
            400,
            "invalid_request_error",
            Some("content_policy_violation"),
            "Your request was rejected by the safety system.",
        )],
    );
    let response = call(
        &stack,
        "media.generate_image",
        json!({"prompt": "something refused", "size": "1024x1024", "mode": "background"}),
    )
    .await;
    let job_id = queued(&stack, &response).await;
    drain_jobs(&stack).await;
    let events = job_events(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, "media.job_failed");
    assert_eq!(events[0].payload["error"]["code"], "provider_error");
    let job = stack
        .app
        .tools()
        .jobs
        .get(&job_id)
        .await
        .expect("jobs")
        .expect("job");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error_code.as_deref(), Some("provider_error"));
}

#[tokio::test]
async fn a_redelivered_job_runs_once() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &[]).await;
    let response = call(
        &stack,
        "media.synthesize_speech",
        json!({"text": "Said once.", "mode": "background"}),
    )
    .await;
    let job_id = queued(&stack, &response).await;
    // The same message twice before the worker runs (SQS at-least-once), and once more after.
    let message = DeferredMessage::Job { id: job_id.clone() };
    let queue = &stack.app.tools().jobs_queue;
    queue.send(&message).await.expect("duplicate");
    drain_jobs(&stack).await;
    queue.send(&message).await.expect("late duplicate");
    drain_jobs(&stack).await;
    assert_eq!(provider_calls(&fake, "/v1/audio/speech"), 1);
    let events = job_events(&stack).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, "media.job_completed");
}

#[tokio::test]
async fn speech_over_the_instance_threshold_runs_in_the_background() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &[("background_over_characters", "20")]).await;
    let short = call(&stack, "media.synthesize_speech", json!({"text": "Short."})).await;
    let ToolResponse::Ok { output, .. } = &short else {
        panic!("{short:?}");
    };
    assert!(output.get("artifact").is_some(), "short speech runs now");
    let long = call(
        &stack,
        "media.synthesize_speech",
        json!({"text": "This sentence is longer than twenty characters."}),
    )
    .await;
    let job_id = queued(&stack, &long).await;
    assert_eq!(provider_calls(&fake, "/v1/audio/speech"), 1);
    drain_jobs(&stack).await;
    assert_eq!(provider_calls(&fake, "/v1/audio/speech"), 2);
    let job = stack
        .app
        .tools()
        .jobs
        .get(&job_id)
        .await
        .expect("jobs")
        .expect("job");
    assert_eq!(job.status, JobStatus::Succeeded);
}
