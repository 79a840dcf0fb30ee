//! API keys: platform keys in Secrets Manager (cached per TTL), workspace overrides sealed in the
//! vault; never stored or printed in plaintext.

use std::time::Duration;

use switchyard::keys::{self, KeySource};
use switchyard::secret::SecretString;

use crate::support::Stack;

fn secret_reads(stack: &Stack) -> u64 {
    stack
        .app
        .aws
        .calls
        .snapshot()
        .get("secretsmanager.GetSecretValue")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn platform_keys_are_read_once_per_ttl_and_workspaces_override_them() {
    let stack = Stack::new().await;
    let app = &stack.app;
    let platform = SecretString::from("sk-platform-0123456789abcdef");
    keys::set_platform_key(app.keys(), "openai", &platform)
        .await
        .expect("set platform key");

    app.aws.calls.reset();
    for _ in 0..5 {
        let key = keys::api_key(app.keys(), "acme", "openai")
            .await
            .expect("resolve");
        assert_eq!(key.source, KeySource::Platform);
        assert_eq!(key.value.expose(), platform.expose());
    }
    assert_eq!(secret_reads(&stack), 1, "read once, then cached");

    let own = SecretString::from("sk-acme-own-fedcba9876543210");
    keys::set_workspace_key(app.keys(), "acme", "openai", &own)
        .await
        .expect("set workspace key");
    let acme = keys::api_key(app.keys(), "acme", "openai")
        .await
        .expect("resolve");
    assert_eq!(acme.source, KeySource::Workspace);
    assert_eq!(acme.value.expose(), own.expose());
    let other = keys::api_key(app.keys(), "globex", "openai")
        .await
        .expect("resolve");
    assert_eq!(other.source, KeySource::Platform);
    assert!(matches!(
        keys::api_key(app.keys(), "acme", "pinecone").await,
        Err(keys::KeyError::Missing(_))
    ));

    // Neither key is stored in plaintext in DynamoDB.
    let scan = app
        .aws
        .dynamodb()
        .scan()
        .table_name(&app.resources.connections_table)
        .send()
        .await
        .expect("scan");
    let dump = format!("{:?}", scan.items);
    assert!(!dump.contains(own.expose()) && !dump.contains(platform.expose()));
    assert!(
        !format!("{acme:?}").contains(own.expose()),
        "Debug hides the key"
    );
}

#[tokio::test]
async fn a_rotated_platform_key_is_picked_up_after_the_ttl() {
    let stack = Stack::new().await;
    keys::set_platform_key(stack.app.keys(), "openai", &SecretString::from("sk-old"))
        .await
        .expect("set");
    // A short-TTL app over the same resources, as a warm Lambda would be.
    let app = switchyard::App::new(
        stack.app.aws.clone(),
        stack.app.resources.clone(),
        switchyard::config::Limits::default(),
        switchyard::clock::Clock::default(),
    )
    .expect("app")
    .with_platform_keys_ttl(Duration::from_millis(300));
    assert_eq!(
        keys::api_key(app.keys(), "w", "openai")
            .await
            .expect("key")
            .value
            .expose(),
        "sk-old"
    );
    // Rotated behind the app's back (console, another operator).
    stack
        .app
        .aws
        .secrets()
        .put_secret_value()
        .secret_id(&stack.app.resources.platform_keys_secret)
        .secret_string(r#"{"openai":"sk-new"}"#)
        .send()
        .await
        .expect("rotate");
    assert_eq!(
        keys::api_key(app.keys(), "w", "openai")
            .await
            .expect("key")
            .value
            .expose(),
        "sk-old"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        keys::api_key(app.keys(), "w", "openai")
            .await
            .expect("key")
            .value
            .expose(),
        "sk-new"
    );
}
