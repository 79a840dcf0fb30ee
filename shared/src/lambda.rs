//! Adapters between Lambda's event types and the library (kept here so the mains stay thin).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::consumer::{self, Record};
use crate::ingest::{self, Reply};
use crate::App;

/// `POST /webhooks/<provider>/{instance_id}` behind API Gateway (HTTP API, payload 2.0).
pub async fn webhook(
    app: &App,
    provider: &str,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let instance_id = request
        .path_parameters_ref()
        .and_then(|p| p.first("instance_id"))
        .unwrap_or_default()
        .to_owned();
    let reply = ingest::handle(
        app,
        provider,
        &instance_id,
        request.headers(),
        request.body().as_ref(),
    )
    .await;
    http_response(reply)
}

/// `GET /oauth/<provider>/start` and `/callback` (one binary; the path says which).
pub async fn oauth(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
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
        crate::oauth::flow::callback(app, &provider, &query).await
    } else {
        crate::oauth::flow::start(app, &provider, &query).await
    };
    http_response(reply)
}

/// How far ahead the scheduled refresher renews tokens (it runs every 5 minutes).
pub const REFRESH_WINDOW_SECS: u64 = 15 * 60;

/// The scheduled token refresher (EventBridge schedule).
pub async fn refresh_tokens(
    app: &App,
    _event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<crate::oauth::vault::RefreshReport, lambda_runtime::Error> {
    let report = crate::oauth::vault::refresh_expiring(app, REFRESH_WINDOW_SECS).await?;
    tracing::info!(?report, "token refresher ran");
    Ok(report)
}

fn http_response(reply: Reply) -> Result<Response<Body>, lambda_http::Error> {
    let mut builder = Response::builder().status(reply.status);
    if let Some(ct) = reply.content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(location) = &reply.location {
        builder = builder.header("location", location);
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
    app: &App,
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
