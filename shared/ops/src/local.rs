//! The local host: the template's HTTP routes on 127.0.0.1 and the consumer driven from the
//! emulator's queue with Lambda's SQS semantics, calling the same library functions as the
//! Lambdas.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use switchyard::consumer::{self, Record};
use switchyard::error::chain;
use switchyard::ingest::Reply;
use switchyard::policy::{Trigger, TriggerPolicy};
use switchyard::App;

/// The HTTP routes of `template.yaml`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/webhooks/{provider}/{instance_id}",
            post(webhook).get(webhook),
        )
        .route("/oauth/{provider}/start", get(oauth_start))
        .route("/oauth/{provider}/callback", get(oauth_callback))
        .route("/tools/{integration}/{method}", post(tool))
        .route("/tools", get(discover))
        .route("/mcp", post(mcp).get(mcp).delete(mcp))
        .route("/.well-known/oauth-protected-resource", get(mcp))
        .route(
            "/.well-known/oauth-protected-resource/{*resource}",
            get(mcp),
        )
        .route("/sessions", post(sessions))
        .route("/sessions/{*rest}", get(sessions).post(sessions))
        .route("/templates", get(sessions))
        .route("/templates/{*rest}", post(sessions))
        .route("/intents", get(intents).post(intents))
        .route(
            "/intents/{*rest}",
            get(intents).post(intents).delete(intents),
        )
        .route("/ws", get(crate::live::socket))
        .route("/dashboard", get(dashboard))
        .route("/dashboard/login", get(dashboard).post(dashboard))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}

async fn webhook(
    State(app): State<Arc<App>>,
    Path((provider, instance_id)): Path<(String, String)>,
    method: axum::http::Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = switchyard::ingest::WebhookRequest {
        method: method.as_str(),
        headers: &headers,
        query: query.as_deref().unwrap_or_default(),
        body: &body,
    };
    into_response(switchyard::ingest::handle(app.ingress(), &provider, &instance_id, request).await)
}

async fn oauth_start(
    State(app): State<Arc<App>>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    into_response(switchyard::oauth::flow::start(app.oauth(), &provider, &query).await)
}

async fn oauth_callback(
    State(app): State<Arc<App>>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let cookies = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    into_response(switchyard::oauth::flow::callback(app.oauth(), &provider, &query, &cookies).await)
}

/// The caller of a local tool route: the local host verifies no SigV4 (API Gateway does that
/// in a deployment), so it accepts agent tokens (`Authorization: Bearer sya_…`) only.
async fn principal(
    app: &App,
    headers: &HeaderMap,
) -> Result<switchyard::identity::Principal, Response> {
    use switchyard::tools::auth::{self, AuthError, Credential};
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer);
    let result = match token {
        Some(token) => {
            auth::authenticate(
                &app.tools().agents,
                Credential::AgentToken(token),
                app.clock.now(),
            )
            .await
        }
        None => Err(AuthError::Missing),
    };
    result.map_err(|e| {
        let mut response = json_response(e.status(), &e.body());
        if e.status() == 401 {
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"switchyard\""),
            );
        }
        response
    })
}

async fn tool(
    State(app): State<Arc<App>>,
    Path((integration, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = match principal(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let response = match serde_json::from_slice::<switchyard::tools::ToolRequest>(&body) {
        Ok(request) => {
            let deadline = tokio::time::Instant::now() + switchyard::tools::DEFAULT_DEADLINE;
            switchyard::tools::invoke_as(
                app.tools(),
                &principal,
                &format!("{integration}.{method}"),
                request,
                deadline,
            )
            .await
        }
        Err(e) => switchyard::tools::ToolResponse::invalid_request(&e.to_string()),
    };
    json_response(response.http_status(), &response)
}

async fn discover(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let principal = match principal(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    if query
        .get("agent_id")
        .is_some_and(|named| !named.is_empty() && *named != principal.agent_id)
    {
        return json_response(
            403,
            &serde_json::json!({"error": {"code": "forbidden", "message": "agent_id is not the authenticated agent"}}),
        );
    }
    match switchyard::tools::discover_as(app.tools(), &principal).await {
        Ok(tools) => json_response(200, &serde_json::json!({"tools": tools})),
        Err(e) => json_response(503, &serde_json::json!({"error": e})),
    }
}

/// The sessions function's routes (`switchyard_tools::session_routes`), for an agent token.
async fn sessions(
    State(app): State<Arc<App>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = match principal(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let route = switchyard::tools::session_routes::route(
        app.tools(),
        &principal,
        method.as_str(),
        uri.path(),
        &body,
    );
    answer(route).await
}

/// The intents function's routes (`switchyard_tools::intents::route`), for an agent token.
async fn intents(
    State(app): State<Arc<App>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = match principal(&app, &headers).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let route = switchyard::tools::intents::route(
        app.tools(),
        &principal,
        method.as_str(),
        uri.path(),
        &body,
    );
    answer(route).await
}

/// An agent API route's reply as JSON, or 504 past the default deadline.
async fn answer(
    route: impl std::future::Future<Output = switchyard::tools::sessions::ApiReply>,
) -> Response {
    let deadline = tokio::time::Instant::now() + switchyard::tools::DEFAULT_DEADLINE;
    match tokio::time::timeout_at(deadline, route).await {
        Ok(reply) => json_response(reply.status, &reply.body),
        Err(_) => json_response(
            504,
            &serde_json::json!({"error": {"code": "timeout", "message": "the request ran out of time"}}),
        ),
    }
}

/// The operator dashboard (`switchyard::dashboard::handle`): the session cookie is `Secure`
/// unless the host serves plain HTTP on loopback.
async fn dashboard(
    State(app): State<Arc<App>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cookies = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    let loopback_http = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| app.public_url.starts_with(p));
    let request = switchyard::dashboard::Request {
        method: method.as_str(),
        path: uri.path(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()),
        cookies: &cookies,
        body: &body,
        secure_cookies: !loopback_http,
    };
    let mut response = into_response(switchyard::dashboard::handle(app.dashboard(), request).await);
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// `POST /mcp` and the protected resource metadata (`switchyard_mcp::handle`).
async fn mcp(
    State(app): State<Arc<App>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = switchyard::mcp::HttpRequest {
        method: method.as_str(),
        path: uri.path(),
        headers: &headers,
        body: &body,
    };
    let deadline = tokio::time::Instant::now() + switchyard::tools::DEFAULT_DEADLINE;
    let reply = switchyard::mcp::handle(app.tools(), app.mcp(), request, deadline).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn json_response(status: u16, body: &impl serde::Serialize) -> Response {
    into_response(Reply::json(
        status,
        &serde_json::to_value(body).unwrap_or_default(),
    ))
}

fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = reply.content_type {
        headers.insert("content-type", HeaderValue::from_static(ct));
    }
    if let Some(location) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert("location", location);
    }
    if let Some(cookie) = reply
        .set_cookie
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert("set-cookie", cookie);
    }
    response
}

/// How the local consumer polls, mirroring the template's SQS event source.
#[derive(Debug, Clone, Copy)]
pub struct DriverSettings {
    /// Messages per batch (the event source's BatchSize).
    pub batch_size: i32,
    /// Seconds a received batch stays hidden; failed records reappear after it.
    pub visibility_timeout: i32,
    /// Long-poll wait per receive.
    pub wait_secs: i32,
}

impl Default for DriverSettings {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility_timeout: 30,
            wait_secs: 1,
        }
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
#[error("ingress queue poll failed: {0}")]
pub struct DriverError(String);

/// Receives one batch, runs the consumer on it, deletes the records that succeeded (failed ones
/// reappear after the visibility timeout; the queue's redrive policy moves them to the DLQ after
/// `maxReceiveCount` receives). Returns (received, failed).
pub async fn drive_once(
    app: &App,
    settings: DriverSettings,
) -> Result<(usize, usize), DriverError> {
    let queue = app.resources.ingress_queue_url.clone();
    poll_once(app, &queue, settings, |records| async move {
        consumer::handle_batch(app.consumer(), &records).await
    })
    .await
}

/// [`drive_once`] for the sync queue: the Google sync worker on one batch of notifications.
pub async fn drive_sync_once(
    app: &App,
    settings: DriverSettings,
) -> Result<(usize, usize), DriverError> {
    let queue = app.resources.sync_queue_url.clone();
    poll_once(app, &queue, settings, |records| async move {
        let records: Vec<switchyard::google::worker::Record> = records
            .into_iter()
            .map(|r| switchyard::google::worker::Record {
                message_id: r.message_id,
                body: r.body,
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(50);
        switchyard::google::worker::handle_batch(app.google(), &records, deadline)
            .await
            .failed
    })
    .await
}

/// [`drive_once`] for the jobs queue: the media worker on one batch of deferred calls
/// (background media jobs, approved calls).
pub async fn drive_jobs_once(
    app: &App,
    settings: DriverSettings,
) -> Result<(usize, usize), DriverError> {
    let queue = app.resources.jobs_queue_url.clone();
    poll_once(app, &queue, settings, |records| async move {
        let records: Vec<switchyard::tools::deferred::Record> = records
            .into_iter()
            .map(|r| switchyard::tools::deferred::Record {
                message_id: r.message_id,
                body: r.body,
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(140);
        switchyard::tools::deferred::handle_batch(app.tools(), &records, deadline)
            .await
            .failed
    })
    .await
}

/// Polls the jobs queue forever (the local media worker).
pub async fn drive_jobs(app: Arc<App>, settings: DriverSettings) {
    loop {
        if let Err(e) = drive_jobs_once(&app, settings).await {
            tracing::warn!(error = %e, "jobs queue poll failed; retrying in 2 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Receives one batch of `queue`, hands it to `handle` (which returns the failed message ids)
/// and deletes the rest, as Lambda's SQS event source does with batch item failures.
pub(crate) async fn poll_once<F, Fut>(
    app: &App,
    queue: &str,
    settings: DriverSettings,
    handle: F,
) -> Result<(usize, usize), DriverError>
where
    F: FnOnce(Vec<Record>) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let out = app
        .aws
        .sqs()
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(settings.batch_size)
        .visibility_timeout(settings.visibility_timeout)
        .wait_time_seconds(settings.wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|e| DriverError(chain(&e)))?;
    let messages = out.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok((0, 0));
    }
    let records: Vec<Record> = messages
        .iter()
        .map(|m| Record {
            message_id: m.message_id.clone().unwrap_or_default(),
            body: m.body.clone().unwrap_or_default(),
        })
        .collect();
    let failed = handle(records).await;
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(&m.message_id.clone().unwrap_or_default()))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone()?)
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        app.aws
            .sqs()
            .delete_message_batch()
            .queue_url(queue)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(|e| DriverError(chain(&e)))?;
    }
    Ok((messages.len(), failed.len()))
}

/// Polls the sync queue forever (the local Google sync worker).
pub async fn drive_sync(app: Arc<App>, settings: DriverSettings) {
    loop {
        if let Err(e) = drive_sync_once(&app, settings).await {
            tracing::warn!(error = %e, "sync queue poll failed; retrying in 2 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Polls forever (until the task is dropped), backing off when the emulator is unreachable.
pub async fn drive(app: Arc<App>, settings: DriverSettings) {
    loop {
        if let Err(e) = drive_once(&app, settings).await {
            tracing::warn!(error = %e, "consumer poll failed; retrying in 2 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Fires the scheduled functions of the template (EventBridge schedules never fire in the
/// emulator): the token refresher, the Notion poller, the Google watch renewer and the retention
/// sweep every `every`.
pub async fn fire_schedules(app: Arc<App>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match switchyard::oauth::vault::refresh_expiring(
            app.vault(),
            switchyard::oauth::vault::REFRESH_WINDOW_SECS,
        )
        .await
        {
            Ok(report) if report.checked > 0 => tracing::info!(?report, "token refresher ran"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "token refresher failed"),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(50);
        match switchyard::notion_poll::run(app.poller(), deadline).await {
            Ok(report) if report.data_sources > 0 => {
                tracing::info!(?report, "notion poller ran")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "notion poller failed"),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(50);
        // The run logs its own report.
        if let Err(e) = switchyard::google::renewer::run(app.google(), deadline).await {
            tracing::warn!(error = %e, "watch renewer failed");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(50);
        let options = switchyard::retention::Options::default();
        let now = app.clock.now();
        match switchyard::retention::run(app.retention(), &options, now, deadline).await {
            Ok(report) if !report.items.is_empty() => {
                tracing::info!(totals = ?report.totals, "retention ran")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
    }
}

/// The demo instances `make dev` seeds, with their documented test credentials.
pub use switchyard::providers::demo;

/// Registers `demo-agent` (IAM principal [`demo::AGENT_IAM_ARN`], token [`demo::AGENT_TOKEN`])
/// and creates the demo instances and grants `demo-agent` every channel, all messages and DMs:
/// `demo-slack` and `demo-discord`, and `demo-<provider>` for every other webhook provider with
/// its sample's test configuration (`shared/providers/samples/`), so the signed samples in
/// `events/` verify against them. Existing demo instances are left as they are.
pub async fn seed_demo(app: &App) -> Result<(), crate::admin::AdminError> {
    let mut seeds = vec![
        (
            "slack",
            demo::SLACK_INSTANCE,
            vec![(
                "signing_secret".to_owned(),
                demo::SLACK_SIGNING_SECRET.to_owned(),
            )],
        ),
        (
            "discord",
            demo::DISCORD_INSTANCE,
            vec![
                ("public_key".to_owned(), demo::DISCORD_PUBLIC_KEY.to_owned()),
                ("application_id".to_owned(), "100000000000000001".to_owned()),
            ],
        ),
    ];
    let samples = switchyard::providers::samples::builtin().unwrap_or_default();
    let others: Vec<(String, Vec<(String, String)>)> = samples
        .into_iter()
        .filter(|(provider, _)| provider != "slack" && provider != "discord")
        .map(|(provider, sample)| (provider, sample.config.into_iter().collect()))
        .collect();
    let ids: Vec<String> = others.iter().map(|(p, _)| format!("demo-{p}")).collect();
    for ((provider, settings), id) in others.iter().zip(&ids) {
        seeds.push((provider.as_str(), id.as_str(), settings.clone()));
    }
    let agents = &app.tools().agents;
    if agents.agent(demo::AGENT).await?.is_none() {
        agents
            .create_agent(&switchyard::agents::Agent {
                id: demo::AGENT.into(),
                workspace: demo::WORKSPACE.into(),
                iam_arns: vec![demo::AGENT_IAM_ARN.into()],
                may_act_for_users: false,
                status: switchyard::agents::AgentStatus::Active,
                created_at: app.clock.now(),
            })
            .await?;
        agents
            .store_token(
                demo::AGENT,
                demo::AGENT_TOKEN,
                switchyard::agents::MAX_TOKEN_TTL_DAYS,
                app.clock.now(),
            )
            .await?;
    }
    for (provider, id, settings) in seeds {
        if app.instances.get(id).await?.is_none() {
            crate::admin::create_instance(app, provider, id, demo::WORKSPACE, &settings).await?;
        }
        let policy = TriggerPolicy {
            trigger: Trigger::All,
            channels: vec!["*".into()],
            dms: true,
            private_channels: true,
            ..Default::default()
        };
        crate::admin::grant(app, id, demo::AGENT, &policy).await?;
    }
    Ok(())
}
