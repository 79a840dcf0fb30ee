//! Tools over MCP end to end: the local host's `POST /mcp` as an OAuth 2.1 resource server in
//! front of oidc-provider (resource indicators on, JWT access tokens bound to the MCP URL), the
//! official TypeScript SDK (through the OAuth flow: 401 → protected resource metadata →
//! authorization server → client_credentials token for the resource) and the official Python
//! SDK (with a token for the resource) listing tools and calling one against the Slack fake.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use switchyard::aws::AwsClients;
use switchyard::clock::Clock;
use switchyard::config::Limits;
use switchyard::mcp::Settings;
use switchyard::App;
use tokio::io::AsyncBufReadExt;

use crate::fakes::Fake;
use crate::support::{endpoint, LogCapture, Stack, NOW};

const AGENT: &str = "agent-mcp";
const WORKSPACE: &str = "acme";
const INSTANCE: &str = "acme-slack";
/// An instance granted to another agent only.
const OTHER_INSTANCE: &str = "other-slack";
pub(crate) const MCP_CLIENT_ID: &str = "switchyard-mcp-e2e";
const MCP_CLIENT_SECRET: &str = "switchyard-mcp-e2e-secret-5b1f";
/// The Slack fake's `post_message` as the agent sees it over MCP.
const POST_MESSAGE: &str = "slack_post_message__acme-slack";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// oidc-provider with the MCP endpoint as a resource server; killed on drop.
pub(crate) struct Issuer {
    _child: tokio::process::Child,
    pub(crate) url: String,
}

impl Issuer {
    pub(crate) async fn start(resource: &str) -> Self {
        let dir = root().join("tests/oauth-server");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "tests/oauth-server/node_modules is missing: run `make tools` first"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("server.mjs"))
            .env("REDIRECT_URIS", "http://127.0.0.1:9/unused")
            .env("MCP_RESOURCE", resource)
            .env("MCP_CLIENT_ID", MCP_CLIENT_ID)
            .env("MCP_CLIENT_SECRET", MCP_CLIENT_SECRET)
            .env("ACCESS_TOKEN_TTL", "300")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node tests/oauth-server/server.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("oauth server READY within 20 s")
            .expect("read")
            .expect("a READY line");
        let url = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
            .to_owned();
        Self { _child: child, url }
    }

    /// A client_credentials access token; for `resource` when given (else an opaque token).
    pub(crate) async fn token(&self, resource: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", "mcp:tools")];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let body: Value = reqwest::Client::new()
            .post(format!("{}/token", self.url))
            .basic_auth(MCP_CLIENT_ID, Some(MCP_CLIENT_SECRET))
            .form(&form)
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token json");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"))
            .to_owned()
    }
}

/// A stack serving the local host, its MCP endpoint trusting `Issuer`, the Slack fake behind
/// [`INSTANCE`] granted to [`AGENT`].
struct McpStack {
    stack: Stack,
    issuer: Issuer,
    slack: Fake,
    mcp_url: String,
}

async fn mcp_stack() -> McpStack {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mcp_url = format!("{base}/mcp");
    let issuer = Issuer::start(&mcp_url).await;
    let settings = Settings::from_values(
        Some(&mcp_url),
        Some(&issuer.url),
        Some(&format!("{}/jwks", issuer.url)),
        Some(&format!("{MCP_CLIENT_ID}={AGENT}@{WORKSPACE}")),
        None,
    )
    .expect("MCP settings");
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let aws = AwsClients::with_endpoint(&endpoint()).await;
    let resources = switchyard_ops::stack::provision(&aws, &prefix)
        .await
        .expect("provision the template's resources in the emulator");
    let app = App::new(aws, resources, Limits::default(), Clock::fixed(NOW))
        .expect("app")
        .with_public_url(&base)
        .with_actor("test")
        .with_mcp(settings, None);
    let slack = Fake::slack().await;
    let settings: Vec<(String, String)> = [
        ("api_base_url", slack.base_url.as_str()),
        ("signing_secret", "s"),
        ("bot_token", "xoxb-test-token"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&app, "slack", INSTANCE, WORKSPACE, &settings)
        .await
        .expect("instance");
    switchyard_ops::admin::grant(&app, INSTANCE, AGENT, &Default::default())
        .await
        .expect("grant");
    switchyard_ops::admin::create_instance(&app, "slack", OTHER_INSTANCE, WORKSPACE, &settings)
        .await
        .expect("another agent's instance");
    switchyard_ops::admin::grant(&app, OTHER_INSTANCE, "agent-other", &Default::default())
        .await
        .expect("grant");
    let app = Arc::new(app);
    let router = switchyard_ops::local::router(app.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    McpStack {
        stack: Stack { app },
        issuer,
        slack,
        mcp_url,
    }
}

/// Runs a client; returns its one stdout line as JSON.
async fn run_client(mut command: tokio::process::Command, what: &str) -> Value {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        command.kill_on_drop(true).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} finished within 60 s"))
    .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn tool<'a>(tools: &'a Value, name: &str) -> &'a Value {
    tools
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {tools}"))
}

/// What both clients must see: the instance's methods with schemas and hints, and a call that
/// reached the Slack fake and came back as structured content.
fn assert_listed_and_called(s: &McpStack, out: &Value, text: &str) {
    let tools = &out["tools"];
    let post = tool(tools, POST_MESSAGE);
    assert_eq!(post["inputSchema"]["type"], "object");
    assert!(post["inputSchema"]["properties"]["channel"].is_object());
    assert_eq!(post["annotations"]["readOnlyHint"], false);
    assert_eq!(post["annotations"]["destructiveHint"], false);
    let history = tool(tools, "slack_conversations_history__acme-slack");
    assert_eq!(history["annotations"]["readOnlyHint"], true);
    let result = &out["result"];
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["channel"], "C1", "{result}");
    assert!(result["structuredContent"]["ts"].is_string(), "{result}");
    let posted = s
        .slack
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat.postMessage"))
        .any(|r| r.body["text"] == text);
    assert!(posted, "the Slack fake got no message {text:?}");
}

#[tokio::test]
async fn typescript_sdk_discovers_the_issuer_gets_a_token_for_the_resource_and_calls_a_tool() {
    let s = mcp_stack().await;
    let dir = root().join("tests/mcp-client");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").exists(),
        "tests/mcp-client/node_modules is missing: run `make tools` first"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(dir.join("client.mjs"))
        .env("MCP_URL", &s.mcp_url)
        .env("MCP_CLIENT_ID", MCP_CLIENT_ID)
        .env("MCP_CLIENT_SECRET", MCP_CLIENT_SECRET)
        .env("TOOL_NAME", POST_MESSAGE)
        .env(
            "TOOL_ARGS",
            json!({"channel": "C1", "text": "hello from typescript"}).to_string(),
        );
    let out = run_client(command, "the TypeScript MCP client").await;
    assert_listed_and_called(&s, &out, "hello from typescript");
    assert_eq!(out["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn python_sdk_lists_and_calls_a_tool_with_a_token_for_the_resource() {
    let s = mcp_stack().await;
    let token = s.issuer.token(Some(&s.mcp_url)).await;
    let venv = std::env::var("SWITCHYARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv"));
    let mut command = tokio::process::Command::new(venv.join("bin/python"));
    command
        .arg(root().join("tests/mcp-client/client.py"))
        .env("MCP_URL", &s.mcp_url)
        .env("MCP_BEARER", &token)
        .env("TOOL_NAME", POST_MESSAGE)
        .env(
            "TOOL_ARGS",
            json!({"channel": "C1", "text": "hello from python"}).to_string(),
        )
        .env("PROMPT_NAME", "daily-digest")
        .env(
            "PROMPT_ARGS",
            json!({"channel": "#ops", "team": "Platform", "max_bullets": "5"}).to_string(),
        );
    let out = run_client(command, "the Python MCP client").await;
    assert_listed_and_called(&s, &out, "hello from python");
    // Prompt templates through the SDK's prompts/list and prompts/get.
    let prompts = out["prompts"].as_array().expect("prompts");
    assert!(
        prompts.iter().any(|p| p["name"] == "daily-digest"),
        "{prompts:?}"
    );
    let text = out["prompt"]["messages"][0]["content"]["text"]
        .as_str()
        .expect("prompt text");
    assert!(
        text.starts_with("You write the daily digest of channel #ops for Platform."),
        "{text}"
    );
}

async fn post(url: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("post")
}

#[tokio::test]
async fn without_a_token_bound_to_the_resource_the_endpoint_answers_401_with_its_metadata() {
    let logs = LogCapture::install();
    let s = mcp_stack().await;
    let base = s.mcp_url.trim_end_matches("/mcp").to_owned();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource");

    let missing = post(&s.mcp_url, None, &ping).await;
    assert_eq!(missing.status(), 401);
    let challenge = missing
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .expect("WWW-Authenticate")
        .to_owned();
    assert!(
        challenge.starts_with(&format!("Bearer resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    assert!(!challenge.contains("error="), "{challenge}");

    for url in [metadata_url.clone(), format!("{metadata_url}/mcp")] {
        let doc: Value = reqwest::get(&url)
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        assert_eq!(doc["resource"], s.mcp_url, "{url}");
        assert_eq!(doc["authorization_servers"], json!([s.issuer.url]), "{url}");
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    // A token from the right issuer but not for this resource (no resource indicator: opaque),
    // and garbage, are invalid tokens.
    let unbound = s.issuer.token(None).await;
    for token in [unbound.as_str(), "not-a-token"] {
        let refused = post(&s.mcp_url, Some(token), &ping).await;
        assert_eq!(refused.status(), 401);
        let challenge = refused
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .expect("WWW-Authenticate");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }

    let bound = s.issuer.token(Some(&s.mcp_url)).await;
    let pong = post(&s.mcp_url, Some(&bound), &ping).await;
    assert_eq!(pong.status(), 200);
    assert_eq!(
        pong.json::<Value>().await.expect("json"),
        json!({"jsonrpc": "2.0", "id": 1, "result": {}})
    );

    // Stateless: no stream to open, no session to end.
    let get = reqwest::Client::new()
        .get(&s.mcp_url)
        .bearer_auth(&bound)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 405);

    let old = reqwest::Client::new()
        .post(&s.mcp_url)
        .bearer_auth(&bound)
        .header("mcp-protocol-version", "1999-01-01")
        .json(&ping)
        .send()
        .await
        .expect("post");
    assert_eq!(old.status(), 400);

    let logged = logs.text();
    for token in [&bound, &unbound] {
        assert!(!logged.contains(token.as_str()), "a token reached the logs");
    }
    drop(s.stack);
}

#[tokio::test]
async fn tool_failures_are_error_results_and_unknown_tools_are_protocol_errors() {
    let s = mcp_stack().await;
    let token = s.issuer.token(Some(&s.mcp_url)).await;
    let call = |id: u64, name: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": arguments}})
    };

    let bad: Value = post(
        &s.mcp_url,
        Some(&token),
        &call(1, POST_MESSAGE, json!({"channel": 7, "text": "x"})),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    let head = bad["result"]["content"][0]["text"].as_str().expect("text");
    assert!(head.starts_with("invalid_input: "), "{head}");
    assert!(bad["result"].get("structuredContent").is_none());

    // Another agent's instance is not offered, so it cannot be named.
    let foreign = format!("slack_post_message__{OTHER_INSTANCE}");
    let unknown: Value = post(
        &s.mcp_url,
        Some(&token),
        &call(2, &foreign, json!({"channel": "C1", "text": "x"})),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert_eq!(
        s.slack
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/chat.postMessage"))
            .count(),
        0
    );
}

/// A headless agent's token from `switchyard agent token create` is accepted on `/mcp`, checked
/// against the agents table like on the tool routes; once revoked it is refused.
#[tokio::test]
async fn an_agent_token_from_the_agents_table_lists_and_calls_until_it_is_revoked() {
    let s = mcp_stack().await;
    let app = &s.stack.app;
    let token = crate::support::agent_token(app, AGENT, WORKSPACE).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let listed = post(&s.mcp_url, Some(&token), &list).await;
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.expect("json");
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&POST_MESSAGE), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with(OTHER_INSTANCE)),
        "{names:?}"
    );

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": POST_MESSAGE, "arguments": {"channel": "C1", "text": "from a headless agent"}}});
    let called: Value = post(&s.mcp_url, Some(&token), &call)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(called["result"]["isError"], false, "{called}");

    let agents = &app.tools().agents;
    let issued = agents.list_tokens(AGENT).await.expect("tokens");
    for record in &issued {
        agents
            .revoke_token(AGENT, &record.token_id, app.clock.now())
            .await
            .expect("revoke");
    }
    let refused = post(&s.mcp_url, Some(&token), &list).await;
    assert_eq!(refused.status(), 401);
    let challenge = refused
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// Prompt templates over MCP (raw JSON-RPC with an agent token): `initialize` offers the
/// `prompts` capability, `prompts/list` names each template with its variables as arguments,
/// and `prompts/get` renders one for this agent: its granted Slack tools by MCP name, the
/// integrations it lacks, and a missing argument named in the error.
#[tokio::test]
async fn prompts_list_and_get_render_templates_for_the_agent() {
    let s = mcp_stack().await;
    let token = crate::support::agent_token(&s.stack.app, AGENT, WORKSPACE).await;
    let rpc = |id: u64, method: &str, params: Value| {
        let (url, token) = (s.mcp_url.clone(), token.clone());
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        async move {
            let response = post(&url, Some(&token), &body).await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("json")
        }
    };
    let init = rpc(1, "initialize", json!({"protocolVersion": "2025-06-18"})).await;
    assert!(
        init["result"]["capabilities"]["prompts"].is_object(),
        "{init}"
    );

    let listed = rpc(2, "prompts/list", json!({})).await;
    let digest = listed["result"]["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .find(|p| p["name"] == "daily-digest")
        .cloned()
        .expect("daily-digest listed");
    assert_eq!(
        digest["arguments"][0],
        json!({"name": "channel", "required": true})
    );

    let got = rpc(
        3,
        "prompts/get",
        json!({"name": "support-triage", "arguments":
            {"company": "Acme", "customer": "Ada", "channel": "#help"}}),
    )
    .await;
    let result = &got["result"];
    let text = result["messages"][0]["content"]["text"]
        .as_str()
        .expect("text");
    assert!(
        text.starts_with("You are the support triage agent for Acme. The customer is Ada"),
        "{text}"
    );
    assert_eq!(result["messages"][0]["role"], "user");
    let tools: Vec<&str> = result["_meta"]["switchyard/tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&POST_MESSAGE), "{tools:?}");
    assert!(
        !tools.iter().any(|t| t.ends_with(OTHER_INSTANCE)),
        "{tools:?}"
    );
    assert_eq!(
        result["_meta"]["switchyard/missing_integrations"],
        json!(["notion"])
    );

    let missing = rpc(
        4,
        "prompts/get",
        json!({"name": "support-triage", "arguments": {"company": "Acme"}}),
    )
    .await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let message = missing["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("customer") && message.contains("channel"),
        "{message}"
    );
    let unknown = rpc(5, "prompts/get", json!({"name": "nope"})).await;
    assert_eq!(unknown["error"]["code"], -32602);
}
