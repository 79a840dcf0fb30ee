//! Adapters between Lambda's event types and the library (kept here so the mains stay thin).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, RequestExt, Response};

use switchyard_core::reply::Reply;
use switchyard_ingest::consumer::{self, Record};
use switchyard_ingest::{Consumer, Ingress};
use switchyard_oauth::{OAuth, Vault};
use switchyard_tools::{NotionPoller, Tools};

/// `POST|GET /webhooks/<provider>/{instance_id}` behind API Gateway (HTTP API, payload 2.0).
pub async fn webhook(
    app: &Ingress,
    provider: &str,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let instance_id = request
        .path_parameters_ref()
        .and_then(|p| p.first("instance_id"))
        .unwrap_or_default()
        .to_owned();
    let request = switchyard_ingest::WebhookRequest {
        method: request.method().as_str(),
        headers: request.headers(),
        query: request.uri().query().unwrap_or_default(),
        body: request.body().as_ref(),
    };
    let reply = switchyard_ingest::handle(app, provider, &instance_id, request).await;
    http_response(reply)
}

/// `GET /oauth/<provider>/start` and `/callback` (one binary; the path says which).
pub async fn oauth(app: &OAuth, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let provider = request
        .path_parameters_ref()
        .and_then(|p| p.first("provider"))
        .unwrap_or_default()
        .to_owned();
    let query: HashMap<String, String> = request
        .query_string_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let reply = if request.uri().path().ends_with("/callback") {
        let cookies = request
            .headers()
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        switchyard_oauth::flow::callback(app, &provider, &query, &cookies).await
    } else {
        switchyard_oauth::flow::start(app, &provider, &query).await
    };
    http_response(reply)
}

/// The scheduled token refresher (EventBridge schedule).
pub async fn refresh_tokens(
    app: &Vault,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<switchyard_oauth::vault::RefreshReport, lambda_runtime::Error> {
    let report = switchyard_oauth::vault::refresh_expiring(
        app,
        switchyard_oauth::vault::REFRESH_WINDOW_SECS,
    )
    .await?;
    tracing::info!(?report, "token refresher ran");
    Ok(report)
}

/// The scheduled Notion poller (EventBridge schedule), bounded by the invocation's deadline.
pub async fn poll_notion(
    app: &NotionPoller,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<switchyard_tools::notion_poll::PollReport, lambda_runtime::Error> {
    let deadline = deadline_of(&event.context, std::time::Duration::from_secs(2));
    let report = switchyard_tools::notion_poll::run(app, deadline).await?;
    tracing::info!(?report, "notion poller ran");
    Ok(report)
}

/// The scheduled Shopify catalog bulk sync.
pub async fn shopify_bulk_sync(
    app: &NotionPoller,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<switchyard_tools::shopify::bulk_sync::SyncReport, lambda_runtime::Error> {
    let deadline = deadline_of(&event.context, std::time::Duration::from_secs(2));
    let report = switchyard_tools::shopify::bulk_sync::run(app, deadline).await?;
    tracing::info!(?report, "shopify bulk sync ran");
    Ok(report)
}

/// What remains of an invocation, less `reserve` kept for the answer.
pub(crate) fn deadline_of(
    context: &lambda_runtime::Context,
    reserve: std::time::Duration,
) -> tokio::time::Instant {
    let remaining = context
        .deadline()
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(reserve);
    tokio::time::Instant::now() + remaining
}

/// The SyncQueue's SQS event source (`ReportBatchItemFailures`): syncs the watches the
/// notifications name.
pub async fn google_sync(
    app: &switchyard_google::GoogleSync,
    event: lambda_runtime::LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = deadline_of(&event.context, std::time::Duration::from_secs(2));
    let records: Vec<switchyard_google::worker::Record> = event
        .payload
        .records
        .into_iter()
        .map(|m| switchyard_google::worker::Record {
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
        })
        .collect();
    let report = switchyard_google::worker::handle_batch(app, &records, deadline).await;
    tracing::info!(?report, "google sync batch");
    Ok(SqsBatchResponse {
        batch_item_failures: report
            .failed
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    })
}

/// The JobsQueue's SQS event source (`ReportBatchItemFailures`): runs the deferred tool calls
/// the messages name, within the invocation's deadline.
pub async fn run_deferred(
    app: &Tools,
    event: lambda_runtime::LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = deadline_of(&event.context, std::time::Duration::from_secs(2));
    let records: Vec<switchyard_tools::deferred::Record> = event
        .payload
        .records
        .into_iter()
        .map(|m| switchyard_tools::deferred::Record {
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
        })
        .collect();
    let report = switchyard_tools::deferred::handle_batch(app, &records, deadline).await;
    tracing::info!(?report, "deferred calls batch");
    Ok(SqsBatchResponse {
        batch_item_failures: report
            .failed
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    })
}

/// The scheduled watch renewer (EventBridge schedule), bounded by the invocation's deadline.
pub async fn renew_watches(
    app: &switchyard_google::GoogleSync,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<switchyard_google::renewer::RenewReport, lambda_runtime::Error> {
    let deadline = deadline_of(&event.context, std::time::Duration::from_secs(2));
    Ok(switchyard_google::renewer::run(app, deadline).await?)
}

/// The scheduled retention sweep (EventBridge schedule), bounded by the invocation's deadline.
pub async fn sweep_retention(
    app: &switchyard_tools::retention::Sweeper,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<switchyard_tools::retention::SweepReport, lambda_runtime::Error> {
    // `run` keeps its own reserve (`DEADLINE_RESERVE`) before this deadline.
    let deadline = deadline_of(&event.context, std::time::Duration::ZERO);
    let options = switchyard_tools::retention::Options::default();
    let mut report =
        switchyard_tools::retention::run(app, &options, app.clock.now(), deadline).await?;
    tracing::info!(
        complete = report.complete,
        failed = report.failed,
        totals = ?report.totals,
        "retention ran"
    );
    // The audit log has the counts; the invocation result need not carry every key.
    report.items.clear();
    Ok(report)
}

/// `POST /mcp` and `GET /.well-known/oauth-protected-resource[/mcp]` behind API Gateway (HTTP
/// API, payload 2.0, no gateway authorizer: the MCP endpoint authenticates bearer tokens itself).
pub async fn mcp(
    tools: &Tools,
    mcp: &switchyard_mcp::Mcp,
    request: Request,
    context: &lambda_runtime::Context,
) -> Result<Response<Body>, lambda_http::Error> {
    let deadline = if context.deadline == 0 {
        tokio::time::Instant::now() + switchyard_tools::DEFAULT_DEADLINE
    } else {
        deadline_of(context, std::time::Duration::from_millis(500))
    };
    let request = switchyard_mcp::HttpRequest {
        method: request.method().as_str(),
        path: request.uri().path(),
        headers: request.headers(),
        body: request.body().as_ref(),
    };
    let reply = switchyard_mcp::handle(tools, mcp, request, deadline).await;
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    let body = if reply.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(String::from_utf8_lossy(&reply.body).into_owned())
    };
    Ok(builder.body(body)?)
}

/// `GET /dashboard` and `/dashboard/login` (`switchyard_dashboard::handle`). HTTP API payload
/// 2.0 carries cookies in `cookies`; lambda_http joins them into the `cookie` header. Behind
/// API Gateway the page is always HTTPS, so the session cookie is always `Secure`.
pub async fn dashboard(
    dash: &switchyard_dashboard::Dashboard,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let cookies = request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    let reply = switchyard_dashboard::handle(
        dash,
        switchyard_dashboard::Request {
            method: request.method().as_str(),
            path: request.uri().path(),
            authorization: request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            cookies: &cookies,
            body: request.body().as_ref(),
            secure_cookies: true,
        },
    )
    .await;
    let mut response = http_response(reply)?;
    response.headers_mut().insert(
        "cache-control",
        lambda_http::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

fn http_response(reply: Reply) -> Result<Response<Body>, lambda_http::Error> {
    let mut builder = Response::builder().status(reply.status);
    if let Some(ct) = reply.content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(location) = &reply.location {
        builder = builder.header("location", location);
    }
    if let Some(cookie) = &reply.set_cookie {
        builder = builder.header("set-cookie", cookie);
    }
    let body = if reply.body.is_empty() {
        Body::Empty
    } else {
        Body::Binary(reply.body)
    };
    Ok(builder.body(body)?)
}

/// The ingress queue's SQS event source, with `ReportBatchItemFailures`.
pub async fn consume(
    app: &Consumer,
    event: lambda_runtime::LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let records: Vec<Record> = event
        .payload
        .records
        .into_iter()
        .map(|m| Record {
            message_id: m.message_id.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
        })
        .collect();
    let failed = consumer::handle_batch(app, &records).await;
    let response = SqsBatchResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    };
    Ok(response)
}

/// A tool Lambda (`SWITCHYARD_TOOL` names the method, or `discovery`): invoked directly by the
/// agent runtime with a `ToolRequest`, or through the HTTP API (payload 2.0, IAM auth) at
/// `POST /tools/{integration}/{method}`.
///
/// Who calls comes from a credential, never from the body: over HTTP, the IAM principal API
/// Gateway verified (`requestContext.authorizer.iam.userArn`) or an `Authorization: Bearer`
/// agent token; on a direct invoke (where Lambda tells the function nothing about the invoker)
/// the agent token in the payload's `agent_token`. Without one the answer is `unauthenticated`.
pub async fn tool(
    app: &Tools,
    tool_id: &str,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let (payload, context) = event.into_parts();
    // A context without a deadline (0: a local or test invocation) gets the local default.
    let remaining = if context.deadline == 0 {
        switchyard_tools::DEFAULT_DEADLINE
    } else {
        context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(std::time::Duration::from_millis(500))
    };
    let deadline = tokio::time::Instant::now() + remaining;
    let http = payload.get("requestContext").is_some();
    let reply = |status: u16, body: serde_json::Value| {
        if http {
            http_json(status, &body)
        } else {
            body
        }
    };
    let principal = match credential_of(&payload, http) {
        Some(credential) => {
            let now = app.clock.now();
            let auth = tokio::time::timeout_at(
                deadline,
                switchyard_tools::auth::authenticate(&app.agents, credential, now),
            )
            .await
            .unwrap_or_else(|_| {
                Err(switchyard_tools::auth::AuthError::Unavailable(
                    "authentication timed out".into(),
                ))
            });
            match auth {
                Ok(principal) => principal,
                Err(e) => {
                    tracing::warn!(error = ?e, "tool call refused: authentication failed");
                    return Ok(reply(e.status(), e.body()));
                }
            }
        }
        None => {
            let e = switchyard_tools::auth::AuthError::Missing;
            return Ok(reply(e.status(), e.body()));
        }
    };
    if tool_id == "discovery" {
        let named = payload
            .pointer("/queryStringParameters/agent_id")
            .or_else(|| payload.get("agent_id"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        // The same statuses as the local host: 403 for another agent's list, 503 when
        // discovery fails.
        let (status, body) = if !named.is_empty() && named != principal.agent_id {
            (
                403,
                serde_json::json!({"error": {"code": "forbidden", "message": "agent_id is not the authenticated agent"}}),
            )
        } else {
            match switchyard_tools::discover_as(app, &principal).await {
                Ok(tools) => (200, serde_json::json!({"tools": tools})),
                Err(e) => (503, serde_json::json!({"error": e})),
            }
        };
        return Ok(reply(status, body));
    }
    let request = if http {
        let body = payload
            .get("body")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let decoded = if payload
            .get("isBase64Encoded")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default()
        } else {
            body.to_owned()
        };
        serde_json::from_str::<switchyard_tools::ToolRequest>(&decoded)
    } else {
        serde_json::from_value::<switchyard_tools::ToolRequest>(payload.clone())
    };
    let response = match request {
        Ok(request) => {
            switchyard_tools::invoke_as(app, &principal, tool_id, request, deadline).await
        }
        Err(e) => switchyard_tools::ToolResponse::invalid_request(&e.to_string()),
    };
    let body = serde_json::to_value(&response)?;
    Ok(reply(response.http_status(), body))
}

/// The credential of a tool event: over HTTP the IAM principal API Gateway verified (HTTP API
/// `authorizer.iam`, or a REST API's `identity.userArn`), else a bearer agent token; on a
/// direct invoke the payload's `agent_token`.
fn credential_of(
    payload: &serde_json::Value,
    http: bool,
) -> Option<switchyard_tools::auth::Credential<'_>> {
    use switchyard_tools::auth::{bearer, Credential};
    let text = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if !http {
        return text("/agent_token").map(Credential::AgentToken);
    }
    if let Some(arn) = text("/requestContext/authorizer/iam/userArn")
        .or_else(|| text("/requestContext/identity/userArn"))
    {
        return Some(Credential::Iam(arn));
    }
    let headers = payload.get("headers")?.as_object()?;
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.as_str())
        .and_then(bearer)
        .map(Credential::AgentToken)
}

fn http_json(status: u16, body: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// The sessions function: `/sessions…` and `/templates…` behind API Gateway (HTTP API,
/// payload 2.0); the routes are `switchyard_tools::session_routes`.
pub async fn sessions(
    app: &Tools,
    request: Request,
    context: &lambda_runtime::Context,
) -> Result<Response<Body>, lambda_http::Error> {
    let deadline = api_deadline(context);
    let principal = match agent_principal(app, &request, deadline).await {
        Ok(p) => p,
        Err(e) => return json_http(e.status(), &e.body()),
    };
    let route = switchyard_tools::session_routes::route(
        app,
        &principal,
        request.method().as_str(),
        request.uri().path(),
        request.body().as_ref(),
    );
    answer(deadline, route).await
}

/// The intents function: `/intents…` behind API Gateway (HTTP API, payload 2.0); the routes
/// are `switchyard_tools::intents::route`.
pub async fn intents(
    app: &Tools,
    request: Request,
    context: &lambda_runtime::Context,
) -> Result<Response<Body>, lambda_http::Error> {
    let deadline = api_deadline(context);
    let principal = match agent_principal(app, &request, deadline).await {
        Ok(p) => p,
        Err(e) => return json_http(e.status(), &e.body()),
    };
    let route = switchyard_tools::intents::route(
        app,
        &principal,
        request.method().as_str(),
        request.uri().path(),
        request.body().as_ref(),
    );
    answer(deadline, route).await
}

/// An agent API request's deadline: the invocation's, less half a second to answer.
fn api_deadline(context: &lambda_runtime::Context) -> tokio::time::Instant {
    if context.deadline == 0 {
        tokio::time::Instant::now() + switchyard_tools::DEFAULT_DEADLINE
    } else {
        deadline_of(context, std::time::Duration::from_millis(500))
    }
}

/// The agent calling an agent API route: the IAM principal the gateway verified, else a bearer
/// agent token, as on the tool routes.
async fn agent_principal(
    app: &Tools,
    request: &Request,
    deadline: tokio::time::Instant,
) -> Result<switchyard_core::identity::Principal, switchyard_tools::auth::AuthError> {
    use switchyard_tools::auth::{self, AuthError, Credential};
    let iam_arn = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone())
            .filter(|arn| !arn.is_empty()),
        _ => None,
    };
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer);
    let credential = match (&iam_arn, token) {
        (Some(arn), _) => Credential::Iam(arn),
        (None, Some(token)) => Credential::AgentToken(token),
        (None, None) => return Err(AuthError::Missing),
    };
    let authenticate = auth::authenticate(&app.agents, credential, app.clock.now());
    tokio::time::timeout_at(deadline, authenticate)
        .await
        .unwrap_or_else(|_| Err(AuthError::Unavailable("authentication timed out".into())))
}

/// A route's reply as JSON, or 504 when the route runs past `deadline`.
async fn answer(
    deadline: tokio::time::Instant,
    route: impl std::future::Future<Output = switchyard_tools::sessions::ApiReply>,
) -> Result<Response<Body>, lambda_http::Error> {
    match tokio::time::timeout_at(deadline, route).await {
        Ok(reply) => json_http(reply.status, &reply.body),
        Err(_) => json_http(
            504,
            &serde_json::json!({"error": {"code": "timeout", "message": "the request ran out of time"}}),
        ),
    }
}

fn json_http(status: u16, body: &serde_json::Value) -> Result<Response<Body>, lambda_http::Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))?)
}

/// The intents worker, invoked by an intent's EventBridge Scheduler schedule with
/// `{intent_id, agent_id, scheduled_time}`, bounded by the invocation's deadline. A store or
/// scheduler failure fails the invocation, so the scheduler's retry policy invokes again (the
/// worker's claim keeps that to one run).
pub async fn run_intent(
    app: &Tools,
    event: lambda_runtime::LambdaEvent<switchyard_aws::intents::WorkerInput>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    use switchyard_tools::intents::worker::{self, Outcome};
    let deadline = deadline_of(&event.context, std::time::Duration::from_secs(2));
    match worker::run(app, &event.payload, deadline).await {
        Outcome::Ran(status) => Ok(serde_json::json!({"ran": status.as_str()})),
        Outcome::Skipped(reason) => Ok(serde_json::json!({"skipped": reason})),
        Outcome::Failed(e) => Err(e.into()),
    }
}
