use super::*;

fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

async fn post(fake: &ShopifyFake, token: &str, query: &str, variables: Value) -> (u16, Value) {
    install_crypto();
    let response = reqwest::Client::new()
        .post(format!("{}/admin/api/2025-07/graphql.json", fake.base_url))
        .header("X-Shopify-Access-Token", token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_bad_token_is_401() {
    let fake = ShopifyFake::start("shpat_ok").await;
    let (status, body) = post(&fake, "nope", "query ShopGet { shop { id } }", json!({})).await;
    assert_eq!(status, 401);
    assert!(body["errors"]
        .as_str()
        .expect("test value")
        .contains("Invalid API key"));
}

#[tokio::test]
async fn costs_are_reported_and_an_empty_bucket_throttles_without_spending() {
    let fake = ShopifyFake::with_limits(
        "t",
        Limits {
            maximum: 100.0,
            restore_rate: 1.0,
        },
    )
    .await;
    let q = "query ProductsList($first: Int!) { products(first: $first) { nodes { id } } }";
    let (_, body) = post(&fake, "t", q, json!({"first": 50})).await;
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 52.0);
    // Three products: 2 + 3.
    assert_eq!(cost["actualQueryCost"], 5.0);
    assert_eq!(cost["throttleStatus"]["currentlyAvailable"], 95.0);
    fake.drain(10.0);
    let (status, body) = post(&fake, "t", q, json!({"first": 50})).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "THROTTLED");
    assert_eq!(body["extensions"]["cost"]["actualQueryCost"], Value::Null);
    assert_eq!(
        body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        10.0
    );
    assert_eq!(fake.throttled(), 1);
}

#[tokio::test]
async fn bulk_operations_complete_after_polls_with_a_jsonl_url() {
    let fake = ShopifyFake::start("t").await;
    fake.set_bulk(9, 1);
    let (_, body) = post(
        &fake,
        "t",
        "mutation BulkOperationRunQuery($query: String!) { x }",
        json!({"query": "{ products }"}),
    )
    .await;
    let id = body["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
        .as_str()
        .expect("test value")
        .to_owned();
    let status = "query BulkOperationStatus($id: ID!) { node(id: $id) { id } }";
    let (_, first) = post(&fake, "t", status, json!({"id": id})).await;
    assert_eq!(first["data"]["node"]["status"], "CREATED");
    let (_, done) = post(&fake, "t", status, json!({"id": id})).await;
    assert_eq!(done["data"]["node"]["status"], "COMPLETED");
    let url = done["data"]["node"]["url"].as_str().expect("test value");
    let text = reqwest::get(url)
        .await
        .expect("test value")
        .text()
        .await
        .expect("test value");
    assert_eq!(text.lines().count(), 9);
    assert_eq!(text.lines().filter(|l| l.contains("__parentId")).count(), 6);
}

#[tokio::test]
async fn webhook_subscriptions_are_recorded_and_deleted() {
    let fake = ShopifyFake::start("t").await;
    let create = "mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!) { x }";
    let (_, body) = post(
        &fake,
        "t",
        create,
        json!({"topic": "ORDERS_CREATE", "webhookSubscription": {"callbackUrl": "https://h/x"}}),
    )
    .await;
    let id = body["data"]["webhookSubscriptionCreate"]["webhookSubscription"]["id"]
        .as_str()
        .expect("test value")
        .to_owned();
    assert_eq!(fake.subscriptions()[0].topic, "ORDERS_CREATE");
    let delete = "mutation WebhookSubscriptionDelete($id: ID!) { x }";
    post(&fake, "t", delete, json!({"id": id})).await;
    assert!(fake.subscriptions().is_empty());
}
