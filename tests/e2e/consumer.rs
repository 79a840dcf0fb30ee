//! The consumer with Lambda's SQS semantics: partial batch failures, DLQ, redrive, claim checks.

use std::time::Duration;

use switchyard::config::Limits;
use switchyard_ops::local::{demo, DriverSettings};

use crate::support::{slack_mention, slack_request, Stack, NOW};

async fn send_raw(stack: &Stack, body: &str) {
    stack
        .app
        .aws
        .sqs()
        .send_message()
        .queue_url(&stack.app.resources.ingress_queue_url)
        .message_body(body)
        .send()
        .await
        .expect("send");
}

#[tokio::test]
async fn poison_message_lands_in_the_dlq_and_redrive_brings_it_back() {
    let stack = Stack::new().await;
    send_raw(&stack, r#"{"v":1,"this is":"not a work item"}"#).await;
    let dlq = stack.app.resources.ingress_dlq_url.clone();
    let settings = DriverSettings {
        batch_size: 10,
        visibility_timeout: 1,
        wait_secs: 0,
    };
    // Receive, fail, wait out the visibility timeout, until the redrive policy moves it.
    let mut failures = 0;
    let mut landed = false;
    for _ in 0..20 {
        let (_, failed) = switchyard_ops::local::drive_once(&stack.app, settings)
            .await
            .expect("drive");
        failures += failed;
        if stack.depth(&dlq).await == 1 {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(landed, "the poison message never reached the DLQ");
    assert_eq!(
        failures, 5,
        "maxReceiveCount receives, each reported as a batch item failure"
    );
    assert_eq!(stack.ingress_depth().await, 0);

    let entries = switchyard_ops::admin::dlq_list(&stack.app)
        .await
        .expect("list");
    assert_eq!(entries.len(), 1);
    assert!(entries[0]
        .problem
        .as_deref()
        .unwrap_or("")
        .contains("not a WorkItem"));
    assert_eq!(
        stack.depth(&dlq).await,
        1,
        "listing leaves messages in place"
    );

    let moved = switchyard_ops::admin::dlq_redrive(&stack.app)
        .await
        .expect("redrive");
    assert_eq!(moved, 1);
    assert_eq!(stack.depth(&dlq).await, 0);
    assert_eq!(
        stack.ingress_depth().await,
        1,
        "the message is back on the ingress queue"
    );
}

#[tokio::test]
async fn one_bad_record_does_not_fail_its_batch_and_redelivery_publishes_once() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let r = slack_request(&client, &url, &slack_mention("EvB1", "C1", "hi"), NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    // Copy the queued WorkItem: the same message delivered twice, as SQS may do.
    let body = stack.peek_ingress().await;
    send_raw(&stack, &body).await;
    send_raw(&stack, "garbage").await;

    let records: Vec<switchyard::consumer::Record> = ["a", "b", "c"]
        .iter()
        .zip([body.clone(), body.clone(), "garbage".to_owned()])
        .map(|(id, body)| switchyard::consumer::Record {
            message_id: (*id).to_owned(),
            body,
        })
        .collect();
    let failed = switchyard::consumer::handle_batch(stack.app.consumer(), &records).await;
    assert_eq!(failed, vec!["c".to_owned()], "only the poison record fails");
    assert_eq!(
        stack.tapped().await.len(),
        1,
        "the duplicate published nothing"
    );
    let delivery = &stack.deliveries().await[0];
    assert_eq!(delivery.status, "delivered");
    assert_eq!(delivery.attempts, 1);
}

#[tokio::test]
async fn large_payload_travels_by_s3_claim_check() {
    let limits = Limits {
        inline_payload_bytes: 2_000,
        ..Limits::default()
    };
    let stack = Stack::with_limits(limits).await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let text = "y".repeat(20_000);
    let r = slack_request(&client, &url, &slack_mention("EvBig", "C1", &text), NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let message = stack.peek_ingress().await;
    let item = switchyard::workitem::WorkItem::parse(&message).expect("work item");
    assert!(item.payload.is_none());
    let key = item.payload_ref.clone().expect("payload_ref");
    assert!(message.len() < 2_000, "the message carries only the key");
    let object = stack
        .app
        .aws
        .s3()
        .head_object()
        .bucket(&stack.app.resources.payload_bucket)
        .key(&key)
        .send()
        .await
        .expect("payload object in S3");
    assert!(object.content_length.unwrap_or(0) > 20_000);

    assert_eq!(stack.drain().await, 1);
    let events = stack.tapped().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].payload["event"]["text"].as_str().map(str::len),
        Some(20_000)
    );
}

#[tokio::test]
async fn publish_failure_is_retried_and_nothing_is_lost() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let r = slack_request(&client, &url, &slack_mention("EvBus", "C1", "hi"), NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);

    // A consumer whose event bus does not exist fails the record and records why.
    let broken = stack
        .variant(&crate::support::endpoint(), |r| {
            r.event_bus.push_str("-missing")
        })
        .await;
    let settings = DriverSettings {
        batch_size: 10,
        visibility_timeout: 1,
        wait_secs: 0,
    };
    let (received, failed) = switchyard_ops::local::drive_once(&broken, settings)
        .await
        .expect("drive");
    assert_eq!((received, failed), (1, 1));
    let delivery = &stack.deliveries().await[0];
    assert_eq!(delivery.status, "failed");
    assert!(delivery.last_error.is_some());

    // The message reappears after the visibility timeout and the healthy consumer delivers it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(stack.drain().await, 1);
    assert_eq!(stack.tapped().await.len(), 1);
    let delivery = &stack.deliveries().await[0];
    assert_eq!(delivery.status, "delivered");
    assert_eq!(delivery.attempts, 2);
}

/// Takes `n` messages off the ingress queue (they stay in flight for a minute).
async fn receive_ingress(stack: &Stack, n: usize) -> Vec<switchyard::consumer::Record> {
    let mut records = Vec::new();
    while records.len() < n {
        let received = stack
            .app
            .aws
            .sqs()
            .receive_message()
            .queue_url(&stack.app.resources.ingress_queue_url)
            .max_number_of_messages(i32::try_from(n - records.len()).expect("n"))
            .visibility_timeout(60)
            .send()
            .await
            .expect("receive");
        let messages = received.messages.unwrap_or_default();
        assert!(!messages.is_empty(), "only {} of {n} queued", records.len());
        records.extend(messages.into_iter().map(|m| switchyard::consumer::Record {
            message_id: m.message_id.expect("id"),
            body: m.body.expect("body"),
        }));
    }
    records
}

#[tokio::test]
async fn a_batch_of_ten_shares_its_instance_read_and_its_put_events() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let n = 10;
    for i in 0..n {
        let body = slack_mention(&format!("EvBatch{i}"), "C1", "batch me");
        let r = slack_request(&client, &url, &body, NOW)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    let records = receive_ingress(&stack, n).await;

    stack.app.aws.calls.reset();
    let failed = switchyard::consumer::handle_batch(stack.app.consumer(), &records).await;
    let calls = stack.app.aws.calls.snapshot();
    assert!(failed.is_empty(), "{failed:?}");
    println!("calls per 10-message batch: {calls:?}");
    let count = |op: &str| calls.get(op).copied().unwrap_or(0);
    // Per record: the lease (a conditional UpdateItem); per batch: one instance read (one
    // instance), one PutEvents (ten events) and one BatchWriteItem (ten outcomes).
    assert_eq!(count("AWSEvents.PutEvents"), 1, "{calls:?}");
    assert_eq!(count("DynamoDB_20120810.GetItem"), 1, "{calls:?}");
    assert_eq!(count("DynamoDB_20120810.UpdateItem"), 10, "{calls:?}");
    assert_eq!(count("DynamoDB_20120810.BatchWriteItem"), 1, "{calls:?}");
    assert_eq!(calls.values().sum::<u64>(), 13, "{calls:?}");

    let events = stack.tapped().await;
    assert_eq!(events.len(), n, "every record published once");
    let deliveries = stack.deliveries().await;
    assert_eq!(deliveries.len(), n);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == "delivered" && d.attempts == 1 && d.agents.len() == 1),
        "{deliveries:?}"
    );
    // The outcome written back whole keeps what the webhook's claim wrote and drops the lease.
    let first = stack
        .app
        .deliveries
        .get(&deliveries[0].key)
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(first.provider, "slack");
    assert!(first.received_at > 0 && !first.work_item_id.is_empty());
    // SQS delivers the batch again: every outcome is recorded, nothing is republished, and
    // the refused lease itself says why (no read after it).
    stack.app.aws.calls.reset();
    let failed = switchyard::consumer::handle_batch(stack.app.consumer(), &records).await;
    let calls = stack.app.aws.calls.snapshot();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        calls,
        [("DynamoDB_20120810.UpdateItem".to_owned(), 10)].into(),
        "a redelivered batch costs one refused lease per record"
    );
    assert!(stack.tapped().await.is_empty(), "nothing published twice");
}

#[tokio::test]
async fn a_delivery_twice_in_one_batch_shares_the_first_records_failure() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/slack/{}", demo::SLACK_INSTANCE);
    let client = reqwest::Client::new();
    let r = slack_request(&client, &url, &slack_mention("EvTwice", "C1", "hi"), NOW)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let body = stack.peek_ingress().await;
    let records: Vec<switchyard::consumer::Record> = ["a", "b"]
        .iter()
        .map(|id| switchyard::consumer::Record {
            message_id: (*id).to_owned(),
            body: body.clone(),
        })
        .collect();

    // The bus refuses the first copy: the second is not a fresh attempt in the same batch,
    // it fails with it and both stay on the queue for SQS's retry.
    let broken = stack
        .variant(&crate::support::endpoint(), |r| {
            r.event_bus.push_str("-missing")
        })
        .await;
    let failed = switchyard::consumer::handle_batch(broken.consumer(), &records).await;
    assert_eq!(failed, vec!["a".to_owned(), "b".to_owned()]);
    let delivery = &stack.deliveries().await[0];
    assert_eq!(delivery.status, "failed");
    assert_eq!(
        delivery.attempts, 1,
        "one attempt for the batch, not one per copy"
    );

    // Redelivered to a healthy consumer: published once, the copy acknowledged.
    let failed = switchyard::consumer::handle_batch(stack.app.consumer(), &records).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(stack.tapped().await.len(), 1);
    let delivery = &stack.deliveries().await[0];
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("delivered", 2)
    );
}
