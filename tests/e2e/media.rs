//! Media tools end to end against the media fake (OpenAI, ElevenLabs) and the emulator: real
//! PNGs and WAVs measured from their bytes, limits refused before any provider call, speech
//! fallback with every attempt on the receipt, presigned URLs serving the stored bytes, and
//! transcription of an artifact and of an attachment URL through the egress guard.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::Digest;
use switchyard::artifacts::NewArtifact;
use switchyard::keys;
use switchyard::secret::SecretString;
use switchyard::tools::receipts::Receipt;
use switchyard::tools::ToolResponse;
use switchyard_media_fake::encode::{png_size, wav, wav_duration_ms};
use switchyard_media_fake::{MediaFake, Scripted, MS_PER_CHARACTER};

use crate::support::{serving_stack_with, Stack, NOW};

const AGENT: &str = "agent-media";
const MEDIA: &str = "acme-media";

/// A stack whose secure HTTP may reach `exempt`, platform keys for `providers`, and a media
/// instance of workspace `acme` pointing at `fake` with `extra` settings.
async fn setup(
    fake: &MediaFake,
    providers: &[&str],
    extra: &[(&str, &str)],
    exempt: Vec<std::net::SocketAddr>,
) -> Stack {
    let (stack, _) = serving_stack_with(|app| app.with_ssrf_exemptions(exempt)).await;
    for provider in providers {
        let key = match *provider {
            "openai" => MediaFake::OPENAI_KEY,
            _ => MediaFake::ELEVENLABS_KEY,
        };
        keys::set_platform_key(stack.app.keys(), provider, &SecretString::from(key))
            .await
            .expect("platform key");
    }
    let mut settings: Vec<(String, String)> = vec![
        ("api_base_url".into(), fake.base_url.clone()),
        ("elevenlabs_base_url".into(), fake.base_url.clone()),
        ("elevenlabs_voice_id".into(), "voice-rachel-0001".into()),
        ("elevenlabs_output_format".into(), "wav_8000".into()),
    ];
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
    crate::support::call_tool(&stack.app, AGENT, MEDIA, tool, input).await
}

fn output(response: &ToolResponse) -> Value {
    match response {
        ToolResponse::Ok { output, .. } => output.clone(),
        ToolResponse::Err { error, .. } => panic!("tool failed: {error:?}"),
    }
}

fn error(response: &ToolResponse) -> (String, String) {
    let e = response.error().expect("an error");
    (e.code.as_str().to_owned(), e.message.clone())
}

async fn receipt(stack: &Stack, response: &ToolResponse) -> Receipt {
    crate::support::receipt_of(&stack.app, response).await
}

/// The bytes a presigned URL serves (straight from the emulator's S3).
async fn download(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.expect("presigned GET");
    assert_eq!(response.status(), 200, "presigned URL {url}");
    response.bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn images_are_stored_measured_and_served_by_presigned_url() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &["openai"], &[], Vec::new()).await;
    let response = call(
        &stack,
        "media.generate_image",
        json!({"prompt": "a red fox", "size": "1536x1024", "quality": "low", "n": 2}),
    )
    .await;
    let out = output(&response);
    let artifacts = out["artifacts"].as_array().expect("artifacts");
    assert_eq!(artifacts.len(), 2);
    for artifact in artifacts {
        assert_eq!(
            (artifact["width"].as_u64(), artifact["height"].as_u64()),
            (Some(1536), Some(1024))
        );
        let bytes = download(artifact["url"].as_str().expect("url")).await;
        assert_eq!(png_size(&bytes), Some((1536, 1024)));
        assert_eq!(
            artifact["sha256"],
            hex::encode(sha2::Sha256::digest(&bytes))
        );
        assert_eq!(artifact["size_bytes"], bytes.len());
        let id = artifact["artifact_id"].as_str().expect("id");
        let stored = stack
            .app
            .artifacts
            .get(id)
            .await
            .expect("get")
            .expect("metadata");
        assert_eq!(stored.dimensions, Some((1536, 1024)));
        assert_eq!(stored.workspace, "acme");
        assert_eq!(stored.key, format!("artifacts/acme/{id}.png"));
    }
    let sent = fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("authorization"),
        Some(&*format!("Bearer {}", MediaFake::OPENAI_KEY))
    );
    assert_eq!(sent[0].body["model"], "gpt-image-1");
    let receipt = receipt(&stack, &response).await;
    assert_eq!(receipt.usage.len(), 1);
    assert_eq!(receipt.usage[0].model, "openai/gpt-image-1/1536x1024/low");
    assert_eq!(receipt.usage[0].units["images"], 2.0);
    let stored = stack
        .app
        .artifacts
        .get(artifacts[0]["artifact_id"].as_str().expect("id"))
        .await
        .expect("get")
        .expect("metadata");
    assert_eq!(
        stored.receipt_id.as_deref(),
        Some(receipt.receipt_id.as_str())
    );

    // dall-e-3 is selectable; its bytes come inline too (b64_json), never by a second fetch.
    let response = call(
        &stack,
        "media.generate_image",
        json!({"prompt": "a lighthouse", "model": "dall-e-3", "size": "1792x1024", "quality": "hd"}),
    )
    .await;
    let out = output(&response);
    assert_eq!(out["artifacts"][0]["width"], 1792);
    let last = fake.requests().pop().expect("request");
    assert_eq!(last.body["response_format"], "b64_json");
    assert_eq!(
        receipt_usage_model(&stack, &response).await,
        "openai/dall-e-3/1792x1024/hd"
    );
}

async fn receipt_usage_model(stack: &Stack, response: &ToolResponse) -> String {
    receipt(stack, response).await.usage[0].model.clone()
}

#[tokio::test]
async fn limits_refuse_before_any_provider_call() {
    let fake = MediaFake::start().await;
    let stack = setup(
        &fake,
        &["openai"],
        &[("max_image_pixels", "1048576"), ("max_audio_seconds", "5")],
        Vec::new(),
    )
    .await;
    // 2 x 1024 x 1024 pixels asked, 1024 x 1024 allowed.
    let response = call(
        &stack,
        "media.generate_image",
        json!({"prompt": "two cats", "size": "1024x1024", "n": 2}),
    )
    .await;
    let (code, message) = error(&response);
    assert_eq!(code, "limit_exceeded");
    assert!(message.contains("max_image_pixels"), "{message}");
    assert!(!response.error().expect("error").retryable);
    // One image of the allowed size passes the same limit.
    output(
        &call(
            &stack,
            "media.generate_image",
            json!({"prompt": "a cat", "size": "1024x1024"}),
        )
        .await,
    );
    assert_eq!(fake.requests().len(), 1);

    // A 6-second recording against a 5-second limit: measured from the WAV, never uploaded.
    let long = wav(6_000);
    let artifact = stack
        .app
        .artifacts
        .put(&wav_artifact(Some(6_000)), &long, NOW)
        .await
        .expect("put");
    let response = call(
        &stack,
        "media.transcribe_audio",
        json!({"artifact_id": artifact.id}),
    )
    .await;
    let (code, message) = error(&response);
    assert_eq!(code, "limit_exceeded");
    assert!(message.contains("max_audio_seconds"), "{message}");
    assert_eq!(
        fake.requests().len(),
        1,
        "no transcription request was made"
    );
    assert!(receipt(&stack, &response).await.usage.is_empty());
}

fn wav_artifact(duration_ms: Option<u64>) -> NewArtifact<'static> {
    NewArtifact {
        workspace: "acme",
        provider: "upload",
        mime_type: "audio/wav",
        extension: "wav",
        duration_ms,
        expires_at: NOW + 3_600,
        ..NewArtifact::default()
    }
}

#[tokio::test]
async fn speech_falls_back_to_elevenlabs_with_both_attempts_on_the_receipt() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &["openai", "elevenlabs"], &[], Vec::new()).await;
    // OpenAI fails every retry of the call.
    fake.script(
        "/v1/audio/speech",
        (0..4).map(|_| Scripted::server_error()).collect(),
    );
    let text = "Your order has shipped.";
    let response = call(
        &stack,
        "media.synthesize_speech",
        json!({"text": text, "provider_preference": ["openai", "elevenlabs"]}),
    )
    .await;
    let out = output(&response);
    assert_eq!(out["provider"], "elevenlabs");
    assert_eq!(out["attempts"][0]["provider"], "openai");
    assert_eq!(out["attempts"][0]["outcome"], "provider_unavailable");
    let expected_ms = text.len() as u64 * MS_PER_CHARACTER;
    assert_eq!(out["artifact"]["duration_ms"], expected_ms);
    let bytes = download(out["artifact"]["url"].as_str().expect("url")).await;
    assert_eq!(wav_duration_ms(&bytes), Some(expected_ms));
    let receipt = receipt(&stack, &response).await;
    let paths: Vec<&str> = receipt.attempts.iter().map(|a| a.path.as_str()).collect();
    assert!(
        paths.iter().filter(|p| **p == "/v1/audio/speech").count() >= 2,
        "{paths:?}"
    );
    assert_eq!(paths.last(), Some(&"/v1/text-to-speech/voice-rachel-0001"));
    assert_eq!(receipt.usage.len(), 1);
    assert_eq!(receipt.usage[0].provider, "elevenlabs");
    assert_eq!(receipt.usage[0].units["characters"], text.len() as f64);
    let eleven = fake.requests().pop().expect("request");
    assert_eq!(eleven.header("xi-api-key"), Some(MediaFake::ELEVENLABS_KEY));
}

#[tokio::test]
async fn speech_skips_a_provider_without_a_key_and_says_so() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &["elevenlabs"], &[], Vec::new()).await;
    let response = call(&stack, "media.synthesize_speech", json!({"text": "Hello"})).await;
    let out = output(&response);
    assert_eq!(out["provider"], "elevenlabs");
    assert_eq!(
        out["attempts"][0],
        json!({"provider": "openai", "outcome": "skipped", "reason": "no key"})
    );
    assert!(fake
        .requests()
        .iter()
        .all(|r| !r.path.starts_with("/v1/audio")));
    let receipt = receipt(&stack, &response).await;
    assert!(receipt.attempts[0]
        .decision
        .as_deref()
        .is_some_and(|d| d.starts_with("skipped openai")));
}

#[tokio::test]
async fn transcription_of_an_artifact_measures_it_and_returns_segments() {
    let fake = MediaFake::start().await;
    fake.set_transcript("the quick brown fox jumps over the lazy dog");
    let stack = setup(&fake, &["openai"], &[], Vec::new()).await;
    let audio = wav(12_000);
    let artifact = stack
        .app
        .artifacts
        .put(&wav_artifact(None), &audio, NOW)
        .await
        .expect("put");
    let response = call(
        &stack,
        "media.transcribe_audio",
        json!({"artifact_id": artifact.id, "segments": true, "language": "en"}),
    )
    .await;
    let out = output(&response);
    assert_eq!(out["text"], "the quick brown fox jumps over the lazy dog");
    assert_eq!(out["duration_ms"], 12_000);
    assert_eq!(out["segments"].as_array().map(Vec::len), Some(3));
    assert_eq!(out["source_artifact_id"], artifact.id.as_str());
    let upload = fake.requests().pop().expect("upload");
    let body = String::from_utf8_lossy(&upload.bytes);
    assert!(
        body.contains("name=\"language\"\r\n\r\nen\r\n"),
        "language sent"
    );
    assert!(body.contains("verbose_json"));
    let receipt = receipt(&stack, &response).await;
    assert_eq!(receipt.usage[0].units["audio_seconds"], 12.0);

    // The same audio by its S3 key; another workspace's key is not found.
    let by_key = call(
        &stack,
        "media.transcribe_audio",
        json!({"s3_key": artifact.key}),
    )
    .await;
    assert_eq!(output(&by_key)["duration_ms"], 12_000);
    let foreign = stack
        .app
        .artifacts
        .put(
            &NewArtifact {
                workspace: "other",
                ..wav_artifact(None)
            },
            &audio,
            NOW,
        )
        .await
        .expect("put");
    let response = call(
        &stack,
        "media.transcribe_audio",
        json!({"artifact_id": foreign.id}),
    )
    .await;
    assert_eq!(error(&response).0, "invalid_input");
}

/// A loopback file server: serves `body` at every path, recording the headers it was sent.
async fn file_server(body: Vec<u8>) -> (std::net::SocketAddr, Arc<Mutex<Vec<http::HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().fallback(move |headers: http::HeaderMap| {
        let body = body.clone();
        let record = record.clone();
        async move {
            record.lock().expect("lock").push(headers);
            ([("content-type", "audio/wav")], body)
        }
    });
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (addr, seen)
}

#[tokio::test]
async fn attachment_urls_are_fetched_through_the_egress_guard() {
    let fake = MediaFake::start().await;
    let audio = wav(3_000);
    let (addr, seen) = file_server(audio.clone()).await;
    let stack = setup(
        &fake,
        &["openai"],
        &[
            ("attachment_hosts", "127.0.0.1"),
            ("attachment_allow_plain_http", "true"),
        ],
        vec![addr],
    )
    .await;
    switchyard_ops::admin::create_instance(
        &stack.app,
        "slack",
        "acme-slack",
        "acme",
        &[
            ("signing_secret".into(), "s".into()),
            ("bot_token".into(), "xoxb-media-test".into()),
        ],
    )
    .await
    .expect("slack instance");
    switchyard_ops::admin::grant(&stack.app, "acme-slack", AGENT, &Default::default())
        .await
        .expect("grant");
    let url = format!("http://{addr}/files-pri/T1-F1/voice.wav");
    let response = call(
        &stack,
        "media.transcribe_audio",
        json!({"url": url, "slack_instance_id": "acme-slack"}),
    )
    .await;
    let out = output(&response);
    assert_eq!(out["duration_ms"], 3_000);
    assert_eq!(out["source_url"], url.as_str());
    // The fetched bytes are kept as an artifact, measured.
    let kept = stack
        .app
        .artifacts
        .get(out["source_artifact_id"].as_str().expect("id"))
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.duration_ms, Some(3_000));
    assert_eq!(kept.size_bytes, audio.len() as u64);
    // The bot token goes over https only: this plain-http fetch went without it.
    let headers = seen.lock().expect("lock").clone();
    assert_eq!(headers.len(), 1);
    assert!(headers[0].get("authorization").is_none());

    // A host outside attachment_hosts, or the loopback port the test did not exempt: refused,
    // and nothing is uploaded.
    let uploads = fake.requests().len();
    for url in ["http://example.invalid/a.wav", "http://127.0.0.1:9/a.wav"] {
        let response = call(&stack, "media.transcribe_audio", json!({"url": url})).await;
        assert_eq!(error(&response).0, "denied", "{url}");
    }
    assert_eq!(fake.requests().len(), uploads);
    // A Slack instance the agent is not granted cannot lend its token.
    switchyard_ops::admin::revoke_grant(&stack.app, "acme-slack", AGENT)
        .await
        .expect("revoke");
    let response = call(
        &stack,
        "media.transcribe_audio",
        json!({"url": url, "slack_instance_id": "acme-slack"}),
    )
    .await;
    assert_eq!(error(&response).0, "forbidden");
}

/// Milliseconds to the response headers (the first byte) of each of `n` sends of `request`.
async fn first_byte_ms(n: usize, request: impl Fn() -> reqwest::RequestBuilder) -> Vec<f64> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = std::time::Instant::now();
        let response = request().send().await.expect("send");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.expect("body");
    }
    times.sort_by(f64::total_cmp);
    times
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// For the closing note (`infra/bench.sh`): time to first byte of a synchronous
/// `media.synthesize_speech` through the local host's `/tools` route (key lookup, fake TTS,
/// measuring, S3 put, metadata, presigning, receipt), beside a plain POST of the same text to
/// the fake's speech endpoint in the same run.
#[tokio::test]
#[ignore = "benchmark: run by infra/bench.sh"]
async fn bench_tts_time_to_first_byte() {
    let fake = MediaFake::start().await;
    let stack = setup(&fake, &["openai"], &[], Vec::new()).await;
    let base = stack.serve().await;
    let client = reqwest::Client::new();
    let text = "Your order has shipped and will arrive on Tuesday.";
    let n = 30;
    let baseline = first_byte_ms(n, || {
        client
            .post(format!("{}/v1/audio/speech", fake.base_url))
            .bearer_auth(MediaFake::OPENAI_KEY)
            .json(
                &json!({"model": "gpt-4o-mini-tts", "input": text, "voice": "alloy",
                "response_format": "wav"}),
            )
    })
    .await;
    let token = crate::support::bearer(&base, AGENT, "acme").await;
    let tool = first_byte_ms(n, || {
        client
            .post(format!("{base}/tools/media/synthesize_speech"))
            .bearer_auth(&token)
            .json(&json!({"instance_id": MEDIA, "agent_id": AGENT, "input": {"text": text}}))
    })
    .await;
    for (label, times) in [
        ("baseline: POST fake /v1/audio/speech", &baseline),
        ("media.synthesize_speech via /tools", &tool),
    ] {
        println!(
            "tts ttfb {label}: n={n} p50={:.1} ms p95={:.1} ms",
            percentile(times, 0.5),
            percentile(times, 0.95)
        );
    }
}
