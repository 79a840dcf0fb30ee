//! Shared setup: a fresh stack per test, the local host's router on an ephemeral port, signing.

use std::sync::Arc;

use aws_sdk_sqs::types::QueueAttributeName;
use switchyard::aws::AwsClients;
use switchyard::clock::Clock;
use switchyard::config::Limits;
use switchyard::App;
use switchyard_ops::local::{demo, DriverSettings};

/// The instant every test runs at (the sample events are signed for it).
pub const NOW: u64 = 1_767_225_600;

/// The emulator's endpoint; the e2e tests need one.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: the end-to-end tests need an AWS emulator. \
             Run `make test`, or start one with `make emulator` and export \
             AWS_ENDPOINT_URL=http://127.0.0.1:4566"
        )
    })
}

/// A freshly provisioned stack with the demo instances seeded.
pub struct Stack {
    pub app: Arc<App>,
}

impl Stack {
    pub async fn new() -> Self {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Self {
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let aws = AwsClients::with_endpoint(&endpoint()).await;
        let resources = switchyard_ops::stack::provision(&aws, &prefix)
            .await
            .expect("provision the template's resources in the emulator");
        let app = App::new(aws, resources, limits, Clock::fixed(NOW)).expect("app");
        switchyard_ops::local::seed_demo(&app)
            .await
            .expect("seed demo instances");
        Self { app: Arc::new(app) }
    }

    /// Another app over this stack's resources, as a second Lambda would be: AWS calls go to
    /// `endpoint` (a dead one to simulate an outage) and `change` may break a resource name.
    pub async fn variant(
        &self,
        endpoint: &str,
        change: impl FnOnce(&mut switchyard::config::Resources),
    ) -> App {
        let mut resources = self.app.resources.clone();
        change(&mut resources);
        let aws = AwsClients::with_endpoint(endpoint).await;
        App::new(aws, resources, Limits::default(), Clock::fixed(NOW)).expect("app")
    }

    /// Serves the local host's routes on an ephemeral port; returns the base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = switchyard_ops::local::router(self.app.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        let base = format!("http://{addr}");
        served(&base, &self.app);
        base
    }

    /// Runs the consumer until the ingress queue yields nothing; returns messages received.
    pub async fn drain(&self) -> usize {
        let settings = DriverSettings {
            batch_size: 10,
            visibility_timeout: 1,
            wait_secs: 0,
        };
        let mut total = 0;
        loop {
            let (received, _) = switchyard_ops::local::drive_once(&self.app, settings)
                .await
                .expect("drive consumer");
            if received == 0 {
                return total;
            }
            total += received;
        }
    }

    /// The PlatformEvents that reached the agent bus (via the operator tap rule), removing them.
    pub async fn tapped(&self) -> Vec<switchyard::events::PlatformEvent> {
        self.tapped_raw()
            .await
            .into_iter()
            .filter_map(|e| serde_json::from_value(e.detail).ok())
            .collect()
    }

    /// Everything that reached the agent bus (agent and integration events), removing it.
    pub async fn tapped_raw(&self) -> Vec<switchyard_ops::admin::TappedEvent> {
        switchyard_ops::admin::tap_take(&self.app)
            .await
            .expect("read tap")
    }

    /// Visible + in-flight messages on a queue.
    pub async fn depth(&self, queue_url: &str) -> u64 {
        let out = self
            .app
            .aws
            .sqs()
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attrs = out.attributes.unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()))
        .sum()
    }

    /// The body of the first message on the ingress queue, left in place.
    pub async fn peek_ingress(&self) -> String {
        let received = self
            .app
            .aws
            .sqs()
            .receive_message()
            .queue_url(&self.app.resources.ingress_queue_url)
            .visibility_timeout(0)
            .send()
            .await
            .expect("peek");
        received.messages.unwrap_or_default()[0]
            .body
            .clone()
            .expect("body")
    }

    pub async fn ingress_depth(&self) -> u64 {
        self.depth(&self.app.resources.ingress_queue_url.clone())
            .await
    }

    pub async fn deliveries(&self) -> Vec<switchyard::deliveries::DeliveryRecord> {
        self.app.deliveries.recent(1000).await.expect("deliveries")
    }
}

/// A POST as the webhook route receives it.
pub fn post<'a>(
    headers: &'a http::HeaderMap,
    body: &'a [u8],
) -> switchyard::ingest::WebhookRequest<'a> {
    switchyard::ingest::WebhookRequest {
        method: "POST",
        headers,
        query: "",
        body,
    }
}

/// A signed Slack request.
pub fn slack_request(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    timestamp: u64,
) -> reqwest::RequestBuilder {
    let ts = timestamp.to_string();
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    client
        .post(url)
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            switchyard::verify::sign::slack(demo::SLACK_SIGNING_SECRET, &ts, body.as_bytes()),
        )
        .body(body.to_owned())
}

/// A signed Discord request.
pub fn discord_request(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    timestamp: u64,
) -> reqwest::RequestBuilder {
    let ts = timestamp.to_string();
    let seed: [u8; 32] = hex::decode(demo::DISCORD_SEED_HEX)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-signature-timestamp", &ts)
        .header(
            "x-signature-ed25519",
            switchyard::verify::sign::discord(&seed, &ts, body.as_bytes()),
        )
        .body(body.to_owned())
}

/// A Slack `app_mention` event_callback body.
pub fn slack_mention(event_id: &str, channel: &str, text: &str) -> String {
    serde_json::json!({
        "type": "event_callback",
        "team_id": "T0DEMO",
        "api_app_id": "A0DEMO",
        "event_id": event_id,
        "event_time": NOW,
        "event": {"type": "app_mention", "channel": channel, "user": "U0USER", "text": text, "ts": "1767225600.000100"}
    })
    .to_string()
}

/// A stack whose local host is already serving, with the app's public URL set to it (OAuth
/// redirect URIs point back at it).
pub async fn serving_stack() -> (Stack, String) {
    serving_stack_with(|app| app).await
}

/// [`serving_stack`] with the app adjusted before it starts serving.
pub async fn serving_stack_with(adjust: impl FnOnce(App) -> App) -> (Stack, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let aws = AwsClients::with_endpoint(&endpoint()).await;
    let resources = switchyard_ops::stack::provision(&aws, &prefix)
        .await
        .expect("provision the template's resources in the emulator");
    let app = App::new(aws, resources, Limits::default(), Clock::fixed(NOW))
        .expect("app")
        .with_public_url(&base)
        .with_actor("test");
    switchyard_ops::local::seed_demo(&app)
        .await
        .expect("seed demo instances");
    let app = Arc::new(adjust(app));
    let router = switchyard_ops::local::router(app.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    served(&base, &app);
    (Stack { app }, base)
}

/// The apps behind the local hosts this process serves, by base URL (for [`bearer`]).
static SERVED: std::sync::Mutex<Vec<(String, Arc<App>)>> = std::sync::Mutex::new(Vec::new());

fn served(base: &str, app: &Arc<App>) {
    SERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((base.to_owned(), app.clone()));
}

/// An agent token for `agent` of `workspace` on the local host at `base`, registering the
/// agent first if needed: what an agent sends in `Authorization: Bearer` to the tool routes.
pub async fn bearer(base: &str, agent: &str, workspace: &str) -> String {
    let app = SERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|(b, _)| b == base)
        .map(|(_, app)| app.clone())
        .unwrap_or_else(|| panic!("no local host serves {base}"));
    agent_token(&app, agent, workspace).await
}

/// Registers `agent` in `workspace` (if it is not yet) and issues it a token.
pub async fn agent_token(app: &App, agent: &str, workspace: &str) -> String {
    let agents = &app.tools().agents;
    if agents.agent(agent).await.expect("agent lookup").is_none() {
        agents
            .create_agent(&switchyard::agents::Agent {
                id: agent.into(),
                workspace: workspace.into(),
                iam_arns: Vec::new(),
                may_act_for_users: false,
                status: switchyard::agents::AgentStatus::Active,
                created_at: app.clock.now(),
            })
            .await
            .expect("register the agent");
    }
    agents
        .create_token(agent, 30, app.clock.now())
        .await
        .expect("token")
        .token
        .expose()
        .to_owned()
}

/// Everything the library logs in this test process, for secret scans.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs a debug-level subscriber writing into the capture (once per test process).
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        capture
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `tool` on `instance` as `agent` through the whole pipeline
/// (`switchyard::tools::invoke`), with a 20 s deadline: what a tool Lambda does.
pub async fn call_tool(
    app: &App,
    agent: &str,
    instance: &str,
    tool: &str,
    input: serde_json::Value,
) -> switchyard::tools::ToolResponse {
    let request = switchyard::tools::ToolRequest {
        instance_id: instance.into(),
        agent_id: agent.into(),
        input,
        ..switchyard::tools::ToolRequest::default()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    switchyard::tools::invoke(app.tools(), tool, request, deadline).await
}

/// The stored receipt a tool answer names (every answer past the checks has one).
pub async fn receipt_of(
    app: &App,
    response: &switchyard::tools::ToolResponse,
) -> switchyard::tools::receipts::Receipt {
    use switchyard::tools::ToolResponse;
    let id = match response {
        ToolResponse::Ok { receipt_id, .. } => receipt_id.clone(),
        ToolResponse::Err { receipt_id, .. } => receipt_id.clone().expect("a receipt"),
    };
    app.tools()
        .receipts
        .get(&id)
        .await
        .expect("read receipt")
        .expect("receipt stored")
}
