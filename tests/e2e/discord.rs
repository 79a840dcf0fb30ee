//! Discord interactions end to end: PING, deferred command and component responses.

use serde_json::{json, Value};
use switchyard_ops::local::demo;

use crate::support::{discord_request, Stack, NOW};

fn interaction(kind: u64, id: &str) -> String {
    json!({
        "type": kind,
        "id": id,
        "application_id": "100000000000000001",
        "token": format!("interaction-token-{id}"),
        "guild_id": "300000000000000001",
        "channel_id": "400000000000000001",
        "member": {"user": {"id": "500000000000000001", "username": "demo"}},
        "data": {"name": "ask", "custom_id": "approve"},
        "version": 1
    })
    .to_string()
}

#[tokio::test]
async fn ping_command_and_component_flows() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/discord/{}", demo::DISCORD_INSTANCE);
    let client = reqwest::Client::new();

    let pong = discord_request(&client, &url, &interaction(1, "200000000000000001"), NOW)
        .send()
        .await
        .expect("ping");
    assert_eq!(pong.status(), 200);
    assert_eq!(pong.headers()["content-type"], "application/json");
    assert_eq!(
        pong.json::<Value>().await.expect("json"),
        json!({"type": 1})
    );
    assert_eq!(stack.ingress_depth().await, 0, "PING queues nothing");

    let command = interaction(2, "200000000000000002");
    let deferred = discord_request(&client, &url, &command, NOW)
        .send()
        .await
        .expect("command");
    assert_eq!(deferred.status(), 200);
    assert_eq!(
        deferred.json::<Value>().await.expect("json"),
        json!({"type": 5})
    );

    let update = discord_request(&client, &url, &interaction(3, "200000000000000003"), NOW)
        .send()
        .await
        .expect("component");
    assert_eq!(update.status(), 200);
    assert_eq!(
        update.json::<Value>().await.expect("json"),
        json!({"type": 6})
    );

    // The same interaction id again is answered the same way and queued once.
    let again = discord_request(&client, &url, &command, NOW)
        .send()
        .await
        .expect("again");
    assert_eq!(
        again.json::<Value>().await.expect("json"),
        json!({"type": 5})
    );
    assert_eq!(stack.ingress_depth().await, 2);

    assert_eq!(stack.drain().await, 2);
    let mut events = stack.tapped().await;
    events.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["discord.application_command", "discord.message_component"]
    );
    let command_event = &events[0];
    assert_eq!(
        command_event.reply["interaction_token"],
        "interaction-token-200000000000000002"
    );
    assert_eq!(command_event.reply["application_id"], "100000000000000001");
    assert_eq!(command_event.channel.as_deref(), Some("400000000000000001"));
}

#[tokio::test]
async fn discord_bad_signature_is_401_and_stores_nothing() {
    let stack = Stack::new().await;
    let base = stack.serve().await;
    let url = format!("{base}/webhooks/discord/{}", demo::DISCORD_INSTANCE);
    let client = reqwest::Client::new();
    // Signed over one body, sent with another (Discord's routine security probe).
    let mut forged = discord_request(&client, &url, &interaction(2, "200000000000000009"), NOW)
        .build()
        .expect("request");
    *forged.body_mut() = Some(interaction(2, "200000000000000010").into());
    let r = client.execute(forged).await.expect("post");
    assert_eq!(r.status(), 401);
    assert_eq!(stack.ingress_depth().await, 0);
    assert!(stack.deliveries().await.is_empty());
}
