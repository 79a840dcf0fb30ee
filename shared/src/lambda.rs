//! Adapters between Lambda's event types and the library (kept here so the mains stay thin).

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

fn http_response(reply: Reply) -> Result<Response<Body>, lambda_http::Error> {
    let mut builder = Response::builder().status(reply.status);
    if let Some(ct) = reply.content_type {
        builder = builder.header("content-type", ct);
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
