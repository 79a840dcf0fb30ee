//! The `llm.*` tools end to end (emulator + loopback LLM fakes): the real pipeline
//! (`switchyard::tools::invoke`: definition, schema, instance, grant, platform keys from Secrets
//! Manager, provider call, receipt with usage and `cost_usd`), provider fallback with every
//! attempt on the receipt, a provider without a key skipped, provider errors mapped, structured
//! output, embeddings, vision, and `switchyard costs` summing the receipts against hand-computed
//! figures.

use clap::Parser;
use serde_json::{json, Value};
use switchyard::secret::SecretString;
use switchyard::tools::receipts::Receipt;
use switchyard::tools::ToolResponse;
use switchyard_llm_fake::LlmFake;

use crate::support::Stack;

const AGENT: &str = "agent-llm";
const OPENAI_KEY: &str = "sk-openai-test-0123456789";
const ANTHROPIC_KEY: &str = "sk-ant-test-0123456789";
const DEEPSEEK_KEY: &str = "sk-deepseek-test-0123456789";

struct Llm {
    stack: Stack,
    openai: LlmFake,
    anthropic: LlmFake,
    deepseek: LlmFake,
}

impl Llm {
    /// A stack with platform keys for `keys` (`(name, value)`) and an `llm` instance in
    /// workspace `acme` pointing every provider at its fake.
    async fn new(keys: &[(&str, &str)]) -> Self {
        let stack = Stack::new().await;
        let llm = Self {
            openai: LlmFake::start(OPENAI_KEY).await,
            anthropic: LlmFake::start(ANTHROPIC_KEY).await,
            deepseek: LlmFake::start(DEEPSEEK_KEY).await,
            stack,
        };
        for (name, value) in keys {
            switchyard::keys::set_platform_key(
                llm.stack.app.keys(),
                name,
                &SecretString::from(*value),
            )
            .await
            .expect("platform key");
        }
        llm.instance("acme-llm", "acme").await;
        llm
    }

    async fn instance(&self, id: &str, workspace: &str) {
        self.instance_with(id, workspace, &[]).await;
    }

    /// [`Llm::instance`] with more settings.
    async fn instance_with(&self, id: &str, workspace: &str, extra: &[(&str, &str)]) {
        let app = &self.stack.app;
        let mut settings: Vec<(String, String)> = vec![
            (
                "openai_base_url".into(),
                format!("{}/v1", self.openai.base_url),
            ),
            (
                "anthropic_base_url".into(),
                format!("{}/v1", self.anthropic.base_url),
            ),
            ("deepseek_base_url".into(), self.deepseek.base_url.clone()),
        ];
        settings.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        switchyard_ops::admin::create_instance(app, "llm", id, workspace, &settings)
            .await
            .expect("instance");
        switchyard_ops::admin::grant(app, id, AGENT, &Default::default())
            .await
            .expect("grant");
    }

    async fn call_on(&self, instance: &str, tool: &str, input: Value) -> ToolResponse {
        crate::support::call_tool(&self.stack.app, AGENT, instance, tool, input).await
    }

    async fn call(&self, tool: &str, input: Value) -> ToolResponse {
        self.call_on("acme-llm", tool, input).await
    }

    async fn ok(&self, tool: &str, input: Value) -> (Value, Receipt) {
        let response = self.call(tool, input).await;
        let receipt = self.receipt(&response).await;
        match response {
            ToolResponse::Ok { output, .. } => (output, receipt),
            ToolResponse::Err { error, .. } => panic!("{tool} failed: {error:?}"),
        }
    }

    async fn receipt(&self, response: &ToolResponse) -> Receipt {
        crate::support::receipt_of(&self.stack.app, response).await
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn generate_text_reports_tokens_and_prices_them_on_the_receipt() {
    let llm = Llm::new(&[("openai", OPENAI_KEY)]).await;
    let (output, receipt) = llm
        .ok(
            "llm.generate_text",
            json!({"system": "be brief", "messages": [{"role": "user", "content": "hello world"}]}),
        )
        .await;
    assert_eq!(output["text"], "You said: hello world");
    assert_eq!(output["provider"], "openai");
    assert_eq!(output["model"], "gpt-4o-mini");
    // The fake counts words: 2 (system) + 2 in, 4 out.
    assert_eq!(
        output["usage"],
        json!({"input_tokens": 4.0, "output_tokens": 4.0})
    );
    let sent = &llm.openai.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert_eq!(receipt.usage.len(), 1);
    assert_eq!(receipt.usage[0].provider, "openai");
    // 4 * 0.15/1e6 + 4 * 0.60/1e6 = 0.0000006 + 0.0000024.
    assert!(
        close(receipt.cost_usd.expect("priced"), 0.000003),
        "{receipt:?}"
    );
    let stored = serde_json::to_string(&receipt).expect("json");
    assert!(!stored.contains(OPENAI_KEY), "no key on the receipt");
}

#[tokio::test]
async fn fallback_skips_a_keyless_provider_and_moves_past_an_overloaded_one() {
    // No OpenAI key: skipped. Anthropic answers 529 overloaded: the next provider is tried.
    let llm = Llm::new(&[("anthropic", ANTHROPIC_KEY), ("deepseek", DEEPSEEK_KEY)]).await;
    llm.anthropic.script(
        "/v1/messages",
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let (output, receipt) = llm
        .ok(
            "llm.generate_text",
            json!({"messages": [{"role": "user", "content": "hi there"}]}),
        )
        .await;
    assert_eq!(output["provider"], "deepseek");
    assert_eq!(
        output["skipped"],
        json!([{"provider": "openai", "reason": "no_key"}])
    );
    assert!(llm.openai.requests().is_empty(), "no key, no call");
    let anthropic = llm.anthropic.requests();
    assert_eq!(
        anthropic.len(),
        1,
        "a 5xx is not repeated on the same provider"
    );
    assert_eq!(
        anthropic[0]
            .headers
            .get("anthropic-version")
            .map(|v| v.to_str().ok()),
        Some(Some("2023-06-01"))
    );
    assert_eq!(llm.deepseek.requests()[0].path, "/chat/completions");
    // The receipt: the skip, the failed attempt and the answered one, in order.
    let decisions: Vec<(Option<u16>, String)> = receipt
        .attempts
        .iter()
        .map(|a| (a.status, a.decision.clone().unwrap_or_default()))
        .collect();
    assert_eq!(decisions.len(), 3, "{decisions:?}");
    assert!(decisions[0].0.is_none() && decisions[0].1.contains("skipped provider openai"));
    assert_eq!(decisions[1].0, Some(529));
    assert!(
        decisions[1].1.contains("falling back from anthropic"),
        "{decisions:?}"
    );
    assert_eq!(decisions[2].0, Some(200));
    // Only the provider that answered consumed tokens: 2 in, 4 out on deepseek-chat:
    // 2 * 0.27/1e6 + 4 * 1.10/1e6 = 0.00000054 + 0.0000044.
    assert_eq!(receipt.usage.len(), 1);
    assert_eq!(receipt.usage[0].provider, "deepseek");
    assert!(close(receipt.cost_usd.expect("priced"), 0.00000494));
}

#[tokio::test]
async fn provider_errors_map_to_tool_codes_without_fallback_when_not_retryable() {
    // A wrong OpenAI key: 401 from the provider is provider_auth, and is not a reason to spend
    // the next provider's money.
    let llm = Llm::new(&[("openai", "sk-wrong"), ("anthropic", ANTHROPIC_KEY)]).await;
    let response = llm
        .call(
            "llm.generate_text",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let error = response.error().expect("fails").clone();
    assert_eq!(error.code.as_str(), "provider_auth");
    assert_eq!(error.provider_status, Some(401));
    assert!(!error.retryable);
    assert!(llm.anthropic.requests().is_empty());
    let receipt = llm.receipt(&response).await;
    assert!(receipt.usage.is_empty() && receipt.cost_usd.is_none());

    // No provider has a key at all: misconfigured, nothing called.
    let none = Llm::new(&[]).await;
    let response = none
        .call(
            "llm.generate_text",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(
        response.error().expect("fails").code.as_str(),
        "misconfigured"
    );
}

#[tokio::test]
async fn structured_output_is_requested_and_validated() {
    let llm = Llm::new(&[("openai", OPENAI_KEY)]).await;
    let schema = json!({"type": "object", "properties": {
        "answer": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["answer", "score"]});
    let (output, _) = llm
        .ok(
            "llm.generate_text",
            json!({"messages": [{"role": "user", "content": "rate it"}],
                "response_schema": schema}),
        )
        .await;
    assert_eq!(output["json"], json!({"answer": "text", "score": 1}));
    assert_eq!(
        llm.openai.requests()[0].body["response_format"]["json_schema"]["schema"],
        schema
    );
    // Anthropic has no JSON-Schema format: its prose answer fails validation.
    let llm = Llm::new(&[("anthropic", ANTHROPIC_KEY)]).await;
    let response = llm
        .call(
            "llm.generate_text",
            json!({"messages": [{"role": "user", "content": "rate it"}],
                "response_schema": schema, "provider_preference": ["anthropic"]}),
        )
        .await;
    assert_eq!(
        response.error().expect("prose").code.as_str(),
        "invalid_output"
    );
}

#[tokio::test]
async fn embed_and_analyze_image() {
    let llm = Llm::new(&[("openai", OPENAI_KEY)]).await;
    let texts = ["red apples", "green pears and red apples", "tax law"];
    let (output, receipt) = llm.ok("llm.embed", json!({"input": texts})).await;
    assert_eq!(output["model"], "text-embedding-3-small");
    assert_eq!(output["dimensions"], 1536);
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(output["vectors"][i], json!(LlmFake::embedding(text)));
    }
    // 2 + 5 + 2 words = 9 tokens at 0.02/1e6.
    assert_eq!(output["usage"]["embedding_tokens"], 9.0);
    assert!(close(receipt.cost_usd.expect("priced"), 9.0 * 0.02 / 1e6));

    let (seen, _) = llm
        .ok(
            "llm.analyze_image",
            json!({"image_url": "https://example.com/cat.png", "prompt": "what animal"}),
        )
        .await;
    assert_eq!(seen["text"], "I see 1 image(s). You said: what animal");
    let sent = llm.openai.requests().pop().expect("vision request");
    assert_eq!(
        sent.body["messages"][0]["content"][1]["image_url"]["url"],
        "https://example.com/cat.png"
    );
    let refused = llm
        .call(
            "llm.analyze_image",
            json!({"image_url": "http://10.0.0.1/x.png"}),
        )
        .await;
    assert_eq!(
        refused.error().expect("http").code.as_str(),
        "invalid_input"
    );
}

#[tokio::test]
async fn embeddings_are_batched_at_the_providers_limit_in_input_order() {
    let llm = Llm::new(&[("openai", OPENAI_KEY)]).await;
    // One more batch than the 2048 inputs OpenAI accepts per request (the fake refuses more).
    let texts: Vec<String> = (0..2050).map(|i| format!("word{i}")).collect();
    let (output, receipt) = llm
        .ok("llm.embed", json!({"input": texts, "dimensions": 8}))
        .await;
    let sizes: Vec<usize> = llm
        .openai
        .requests()
        .iter()
        .map(|r| r.body["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [2048, 2]);
    let vectors = output["vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), 2050);
    assert_eq!(vectors[2049], json!(LlmFake::embedding_in("word2049", 8)));
    assert_eq!(vectors[7], json!(LlmFake::embedding_in("word7", 8)));
    // Both batches' tokens (one word each) on one usage entry.
    assert_eq!(receipt.usage[0].units["embedding_tokens"], 2050.0);
}

#[tokio::test]
async fn costs_sum_a_workspaces_receipts_by_tool_model_and_agent() {
    let llm = Llm::new(&[("openai", OPENAI_KEY)]).await;
    llm.instance("globex-llm", "globex").await;
    let chat =
        json!({"system": "be brief", "messages": [{"role": "user", "content": "hello world"}]});
    llm.ok("llm.generate_text", chat.clone()).await;
    llm.ok("llm.generate_text", chat.clone()).await;
    llm.ok("llm.embed", json!({"input": ["one two three four"]}))
        .await;
    // Another workspace's call is not acme's cost.
    assert!(matches!(
        llm.call_on("globex-llm", "llm.generate_text", chat).await,
        ToolResponse::Ok { .. }
    ));
    let mut out = Vec::new();
    let cli = switchyard_ops::cli::Cli::try_parse_from([
        "switchyard",
        "costs",
        "--workspace",
        "acme",
        "--since",
        "7d",
    ])
    .expect("args");
    switchyard_ops::cli::run_with_app(&llm.stack.app, cli, &mut out)
        .await
        .expect("costs");
    let report: Value = serde_json::from_slice(&out).expect("JSON report");
    // Two chats at 0.000003 each (see above) and 4 embedding tokens at 0.02/1e6 = 0.00000008.
    let total = report["total_usd"].as_f64().expect("total");
    assert!(close(total, 0.00000608), "{report}");
    assert!(close(
        report["by_tool"]["llm.generate_text"]
            .as_f64()
            .expect("chat"),
        0.000006
    ));
    assert!(close(
        report["by_tool"]["llm.embed"].as_f64().expect("embed"),
        0.00000008
    ));
    assert!(close(
        report["by_model"]["openai/gpt-4o-mini"]
            .as_f64()
            .expect("model"),
        0.000006
    ));
    assert!(close(
        report["by_agent"][AGENT].as_f64().expect("agent"),
        0.00000608
    ));
    assert_eq!(report["receipts"], 3);
    assert_eq!(report["price_table"], "2025.06.1");
}

/// A PNG signature and IHDR chunk of `width` x `height` (what a header reader needs).
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(b"IHDR");
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

#[tokio::test]
async fn analyze_image_sends_an_image_artifact_of_the_workspace_inline() {
    use base64::Engine as _;
    let llm = Llm::new(&[("openai", OPENAI_KEY)]).await;
    let store = &llm.stack.app.artifacts;
    let put = |workspace: &'static str, mime: &'static str, bytes: Vec<u8>| async move {
        store
            .put(
                &switchyard::artifacts::NewArtifact {
                    workspace,
                    provider: "upload",
                    mime_type: mime,
                    extension: "png",
                    expires_at: crate::support::NOW + 3600,
                    ..Default::default()
                },
                &bytes,
                crate::support::NOW,
            )
            .await
            .expect("put")
    };
    let png = png_header(4, 3);
    let ours = put("acme", "image/png", png.clone()).await;
    let (seen, _) = llm
        .ok(
            "llm.analyze_image",
            json!({"artifact_id": ours.id, "prompt": "what is it"}),
        )
        .await;
    assert_eq!(seen["text"], "I see 1 image(s). You said: what is it");
    let sent = llm.openai.requests().pop().expect("vision request");
    let expected = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    assert_eq!(
        sent.body["messages"][0]["content"][1]["image_url"]["url"],
        expected
    );

    // Another workspace's artifact is not found; bytes that are no image are refused; an image
    // over max_image_bytes is a limit, all before any provider call.
    let calls = llm.openai.requests().len();
    let theirs = put("globex", "image/png", png.clone()).await;
    let not_ours = llm
        .call("llm.analyze_image", json!({"artifact_id": theirs.id}))
        .await;
    assert_eq!(
        not_ours.error().expect("refused").code.as_str(),
        "invalid_input"
    );
    let text = put("acme", "image/png", b"plain text, not an image".to_vec()).await;
    let not_image = llm
        .call("llm.analyze_image", json!({"artifact_id": text.id}))
        .await;
    assert_eq!(
        not_image.error().expect("refused").code.as_str(),
        "invalid_input"
    );
    llm.instance_with("acme-llm-small", "acme", &[("max_image_bytes", "10")])
        .await;
    let big = llm
        .call_on(
            "acme-llm-small",
            "llm.analyze_image",
            json!({"artifact_id": ours.id}),
        )
        .await;
    let error = big.error().expect("over the cap");
    assert_eq!(error.code.as_str(), "limit_exceeded");
    assert!(
        error.message.contains("max_image_bytes"),
        "{}",
        error.message
    );
    let metadata = llm
        .call(
            "llm.analyze_image",
            json!({"image_url": "https://169.254.169.254/latest/meta-data/"}),
        )
        .await;
    assert_eq!(
        metadata.error().expect("private address").code.as_str(),
        "invalid_input"
    );
    assert_eq!(llm.openai.requests().len(), calls, "no provider call");
    let both = llm
        .call(
            "llm.analyze_image",
            json!({"artifact_id": ours.id, "image_url": "https://example.com/a.png"}),
        )
        .await;
    assert_eq!(
        both.error().expect("one or the other").code.as_str(),
        "invalid_input"
    );
}
