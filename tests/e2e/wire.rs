//! The wire client (`switchyard::wire`) against a fake AWS JSON-protocol endpoint on loopback
//! that answers from a script, as DynamoDB does: signed requests, what is retried and what is
//! not, the operation timeout, and the consumer's batched outcomes when DynamoDB leaves items
//! unprocessed (`UnprocessedItems`), which the emulator never does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use switchyard::aws::AwsClients;
use switchyard::deliveries::{Begin, DeliveryStore, Outcome};
use switchyard::wire::{WireError, DYNAMODB};

/// One request the fake saw: its target, its JSON body, and whether it carried a SigV4
/// signature scoped to DynamoDB in the region, with its date header.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    body: Value,
    signed: bool,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers in order (status, body, delay); a 200 `{}` once the script is spent.
    script: Arc<Mutex<VecDeque<(u16, Value, Duration)>>>,
}

impl Fake {
    async fn start(script: Vec<(u16, Value, Duration)>) -> (Fake, String) {
        let fake = Fake::default();
        fake.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let router = Router::new().fallback(answer).with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("fake AWS endpoint stopped: {e}");
            }
        });
        (fake, url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

async fn answer(
    State(fake): State<Fake>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let authorization = header("authorization");
    let signed = authorization.starts_with("AWS4-HMAC-SHA256 Credential=")
        && authorization.contains("/us-east-1/dynamodb/aws4_request, SignedHeaders=")
        && header("x-amz-date").len() == 16;
    fake.seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            target: header("x-amz-target"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signed,
        });
    let next = fake
        .script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop_front();
    let (status, body, delay) = next.unwrap_or((200, json!({}), Duration::ZERO));
    tokio::time::sleep(delay).await;
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
}

/// Clients on the fake, with the credentials `infra/with-emulator.sh` exports.
fn clients(url: &str) -> AwsClients {
    AwsClients::for_lambda_with(Some("us-east-1".into()), Some(url.to_owned()))
}

fn ok() -> (u16, Value, Duration) {
    (200, json!({}), Duration::ZERO)
}

fn error(status: u16, code: &str) -> (u16, Value, Duration) {
    (
        status,
        json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": "no" }),
        Duration::ZERO,
    )
}

#[tokio::test]
async fn throttling_is_retried_signed_and_a_refused_condition_is_not() {
    let (fake, url) = Fake::start(vec![
        error(400, "ProvisionedThroughputExceededException"),
        ok(),
        error(400, "ConditionalCheckFailedException"),
    ])
    .await;
    let wire = clients(&url).wire();
    let input = json!({ "TableName": "t", "Key": { "pk": { "S": "a" } } });
    let out: Value = wire
        .call(&DYNAMODB, "GetItem", &input)
        .await
        .expect("the second attempt succeeds");
    assert_eq!(out, json!({}));
    let refused = wire
        .call::<Value>(&DYNAMODB, "PutItem", &input)
        .await
        .expect_err("a refused condition is an error");
    assert!(refused.is_conditional_check_failed(), "{refused}");
    let seen = fake.seen();
    assert_eq!(
        fake.targets(),
        [
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.PutItem"
        ],
        "one retry for throttling, none for a lost race"
    );
    assert!(seen.iter().all(|s| s.signed), "{seen:?}");
    assert!(seen.iter().all(|s| s.body == input));
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_keeps_its_code() {
    let (fake, url) = Fake::start(vec![error(400, "ValidationException")]).await;
    let e = clients(&url)
        .wire()
        .call::<Value>(&DYNAMODB, "PutItem", &json!({}))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Some("ValidationException"));
    assert_eq!(fake.targets().len(), 1);
}

#[tokio::test]
async fn the_operation_timeout_bounds_an_endpoint_that_does_not_answer() {
    let slow = (200, json!({}), Duration::from_secs(10));
    let (fake, url) = Fake::start(vec![slow.clone(), slow]).await;
    let started = Instant::now();
    let e = clients(&url)
        .wire()
        .call::<Value>(&DYNAMODB, "GetItem", &json!({}))
        .await
        .expect_err("no answer");
    let took = started.elapsed();
    assert!(matches!(e, WireError::Timeout { .. }), "{e}");
    // The attempt timeout (1.5 s) ends the first attempt, the operation timeout (2.5 s) the
    // retry: the caller never waits for the endpoint's 10 s.
    assert!(took < Duration::from_millis(3500), "{took:?}");
    assert!(!fake.targets().is_empty());
}

#[tokio::test]
async fn unprocessed_outcomes_are_retried_then_written_alone() {
    let leased = |pk: &str| {
        (
            200,
            json!({ "Attributes": {
                "pk": { "S": pk }, "status": { "S": "processing" }, "provider": { "S": "slack" },
                "received_at": { "N": "100" }, "lease_until": { "N": "160" },
                "attempts": { "N": "1" }
            }}),
            Duration::ZERO,
        )
    };
    let unprocessed_b = (
        200,
        json!({ "UnprocessedItems": { "Deliveries": [
            { "PutRequest": { "Item": { "pk": { "S": "b" } } } }
        ]}}),
        Duration::ZERO,
    );
    let (fake, url) = Fake::start(vec![
        leased("a"),
        leased("b"),
        unprocessed_b.clone(),
        unprocessed_b.clone(),
        unprocessed_b,
        ok(),
    ])
    .await;
    let aws = clients(&url);
    let store = DeliveryStore::new(&aws, "Deliveries");
    let mut done = Vec::new();
    for pk in ["a", "b"] {
        match store.begin(pk, "wi", 100, 60).await.expect("lease") {
            Begin::Started(lease) => done.push((lease, Outcome::Delivered, vec!["agent".into()])),
            other => panic!("{other:?}"),
        }
    }
    let results = store.finish_all(done, 200).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let seen = fake.seen();
    assert_eq!(
        fake.targets(),
        [
            "DynamoDB_20120810.UpdateItem",
            "DynamoDB_20120810.UpdateItem",
            "DynamoDB_20120810.BatchWriteItem",
            "DynamoDB_20120810.BatchWriteItem",
            "DynamoDB_20120810.BatchWriteItem",
            "DynamoDB_20120810.UpdateItem",
        ]
    );
    let puts = |i: usize| {
        seen[i].body["RequestItems"]["Deliveries"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    assert_eq!(
        (puts(2), puts(3), puts(4)),
        (2, 1, 1),
        "only the unprocessed one again"
    );
    // The outcome written back whole: the lease's item, the outcome set, the lease removed.
    let first = &seen[2].body["RequestItems"]["Deliveries"][0]["PutRequest"]["Item"];
    assert_eq!(first["status"], json!({ "S": "delivered" }));
    assert_eq!(first["provider"], json!({ "S": "slack" }));
    assert_eq!(first["agents"], json!({ "L": [{ "S": "agent" }] }));
    assert!(first.get("lease_until").is_none(), "{first}");
    // What stayed unprocessed is updated alone.
    assert_eq!(seen[5].body["Key"], json!({ "pk": { "S": "b" } }));
}
