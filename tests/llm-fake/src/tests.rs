use serde_json::{json, Value};

use super::*;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn chat_answers_with_usage_and_schema_shaped_json() {
    let fake = LlmFake::start("sk-test").await;
    let http = client();
    let url = format!("{}/v1/chat/completions", fake.base_url);
    let unauthorized = http
        .post(&url)
        .bearer_auth("sk-wrong")
        .json(&json!({"model": "gpt-4o-mini", "messages": []}))
        .send()
        .await
        .expect("send");
    assert_eq!(unauthorized.status(), 401);
    let body: Value = http
        .post(&url)
        .bearer_auth("sk-test")
        .json(&json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema":
                {"type": "object", "properties": {"n": {"type": "integer"}, "k": {"enum": ["a"]}}}}}}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let content: Value = serde_json::from_str(
        body["choices"][0]["message"]["content"]
            .as_str()
            .expect("text"),
    )
    .expect("JSON content");
    assert_eq!(content, json!({"n": 1, "k": "a"}));
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn embeddings_are_deterministic_and_close_for_shared_words() {
    let fake = LlmFake::start("sk-test").await;
    let body: Value = client()
        .post(format!("{}/v1/embeddings", fake.base_url))
        .bearer_auth("sk-test")
        .json(&json!({"model": "text-embedding-3-small",
            "input": ["red apples", "red apples and pears", "tax law"]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let v = |i: usize| -> Vec<f64> {
        body["data"][i]["embedding"]
            .as_array()
            .expect("vector")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    assert_eq!(v(0).len(), EMBEDDING_DIMENSIONS);
    assert!(dot(&v(0), &v(1)) > dot(&v(0), &v(2)));
    assert_eq!(v(0), LlmFake::embedding("red apples"));
    assert_eq!(body["usage"]["prompt_tokens"], 8);
}

#[tokio::test]
async fn anthropic_needs_its_headers_and_answers_scripted_overload() {
    let fake = LlmFake::start("sk-ant").await;
    let http = client();
    let url = format!("{}/v1/messages", fake.base_url);
    let request = json!({"model": "claude-3-5-haiku-latest", "max_tokens": 64,
        "system": "terse", "messages": [{"role": "user", "content": "hi you"}]});
    let no_version = http
        .post(&url)
        .header("x-api-key", "sk-ant")
        .json(&request)
        .send()
        .await
        .expect("send");
    assert_eq!(no_version.status(), 400);
    fake.script(
        "/v1/messages",
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let send = || {
        http.post(&url)
            .header("x-api-key", "sk-ant")
            .header("anthropic-version", "2023-06-01")
            .json(&request)
            .send()
    };
    assert_eq!(send().await.expect("send").status(), 529);
    let ok: Value = send().await.expect("send").json().await.expect("json");
    assert_eq!(ok["content"][0]["text"], "You said: hi you");
    assert_eq!(ok["usage"]["input_tokens"], 3);
}
