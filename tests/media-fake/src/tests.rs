use base64::Engine;
use serde_json::{json, Value};

use crate::encode::{png_size, wav, wav_duration_ms};
use crate::{MediaFake, Scripted, MS_PER_CHARACTER};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

async fn post(fake: &MediaFake, path: &str, body: Value, key: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}{path}", fake.base_url))
        .json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("post")
}

#[tokio::test]
async fn gpt_image_answers_b64_pngs_of_the_requested_size_with_usage() {
    let fake = MediaFake::start().await;
    let response = post(
        &fake,
        "/v1/images/generations",
        json!({"model": "gpt-image-1", "prompt": "a fox", "size": "1536x1024", "n": 2, "quality": "low"}),
        Some(MediaFake::OPENAI_KEY),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data[0]["b64_json"].as_str().expect("b64"))
        .expect("base64");
    assert_eq!(png_size(&bytes), Some((1536, 1024)));
    assert!(body["usage"]["output_tokens"].as_u64().expect("usage") > 0);
    assert_eq!(body["quality"], "low");
}

#[tokio::test]
async fn image_parameters_are_validated_per_model() {
    let fake = MediaFake::start().await;
    let key = Some(MediaFake::OPENAI_KEY);
    for (body, param) in [
        (json!({"model": "dall-e-3", "prompt": "x", "n": 2}), "n"),
        (
            json!({"model": "dall-e-3", "prompt": "x", "size": "1536x1024"}),
            "size",
        ),
        (
            json!({"model": "gpt-image-1", "prompt": "x", "quality": "hd"}),
            "quality",
        ),
        (
            json!({"model": "gpt-image-1", "prompt": "x", "response_format": "url"}),
            "response_format",
        ),
    ] {
        let response = post(&fake, "/v1/images/generations", body, key).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["param"], param);
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
    let response = post(
        &fake,
        "/v1/images/generations",
        json!({"model": "dall-e-3", "prompt": "x", "size": "1792x1024"}),
        key,
    )
    .await;
    let body: Value = response.json().await.expect("json");
    let url = body["data"][0]["url"].as_str().expect("url");
    let png = client()
        .get(url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(png_size(&png), Some((1792, 1024)));
}

#[tokio::test]
async fn speech_lasts_in_proportion_to_the_text_and_needs_the_key() {
    let fake = MediaFake::start().await;
    let text = "Hello from the fake.";
    let unauthorized = post(
        &fake,
        "/v1/audio/speech",
        json!({"model": "tts-1", "input": text, "voice": "alloy"}),
        None,
    )
    .await;
    assert_eq!(unauthorized.status(), 401);
    let response = post(
        &fake,
        "/v1/audio/speech",
        json!({"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"}),
        Some(MediaFake::OPENAI_KEY),
    )
    .await;
    assert_eq!(response.status(), 200);
    let audio = response.bytes().await.expect("bytes");
    assert_eq!(
        wav_duration_ms(&audio),
        Some(text.len() as u64 * MS_PER_CHARACTER)
    );

    let eleven = client()
        .post(format!(
            "{}/v1/text-to-speech/voice-1?output_format=wav_8000",
            fake.base_url
        ))
        .header("xi-api-key", MediaFake::ELEVENLABS_KEY)
        .json(&json!({"text": text}))
        .send()
        .await
        .expect("post");
    assert_eq!(eleven.status(), 200);
    let audio = eleven.bytes().await.expect("bytes");
    assert_eq!(
        wav_duration_ms(&audio),
        Some(text.len() as u64 * MS_PER_CHARACTER)
    );
}

#[tokio::test]
async fn transcription_reads_the_upload_and_gives_segments() {
    let fake = MediaFake::start().await;
    fake.set_transcript("one two three four five six");
    let audio = wav(12_000);
    let boundary = "XyZ";
    let mut body = Vec::new();
    for (name, value) in [("model", "whisper-1"), ("response_format", "verbose_json")] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&audio);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = client()
        .post(format!("{}/v1/audio/transcriptions", fake.base_url))
        .bearer_auth(MediaFake::OPENAI_KEY)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let out: Value = response.json().await.expect("json");
    assert_eq!(out["duration"], 12.0);
    assert_eq!(out["segments"].as_array().map(Vec::len), Some(3));
    assert_eq!(out["text"], "one two three four five six");
}

#[tokio::test]
async fn scripted_rate_limits_carry_their_headers() {
    let fake = MediaFake::start().await;
    fake.script("/v1/audio/speech", vec![Scripted::rate_limited(2)]);
    let response = post(
        &fake,
        "/v1/audio/speech",
        json!({}),
        Some(MediaFake::OPENAI_KEY),
    )
    .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(fake.requests().len(), 1);
}
