//! The admin CLI against the emulator: instances, grants, listings; secrets never printed or
//! stored in plaintext.

use clap::Parser;
use switchyard_ops::cli::{run_with_app, Cli};
use switchyard_ops::local::demo;

use crate::support::Stack;

async fn cli(stack: &Stack, args: &[&str]) -> Result<String, String> {
    let mut out = Vec::new();
    let parsed = Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    run_with_app(&stack.app, parsed, &mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("utf8"))
}

#[tokio::test]
async fn instance_lifecycle_never_shows_or_stores_the_secret() {
    let stack = Stack::new().await;
    let secret = "s3cr3t-signing-value-0123456789";
    let created = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            "acme-slack",
            "--workspace",
            "acme",
            "--set",
            &format!("signing_secret={secret}"),
            "--set",
            "team_id=T1",
        ],
    )
    .await
    .expect("create");
    assert!(!created.contains(secret));
    assert!(
        created.contains("signing_secret"),
        "shows which keys are set: {created}"
    );

    let shown = cli(&stack, &["instance", "show", "--id", "acme-slack"])
        .await
        .expect("show");
    assert!(!shown.contains(secret));
    assert!(shown.contains("T1"));

    let granted = cli(
        &stack,
        &[
            "instance",
            "grant",
            "--id",
            "acme-slack",
            "--agent",
            "agent-7",
            "--trigger",
            "all",
            "--channels",
            "C1,C2",
            "--dms",
        ],
    )
    .await
    .expect("grant");
    assert!(granted.contains("\"all\""));
    let listed = cli(&stack, &["instance", "list"]).await.expect("list");
    assert!(
        listed.contains("acme-slack") && listed.contains("agent-7"),
        "{listed}"
    );
    assert!(listed.contains(demo::SLACK_INSTANCE));

    // The raw DynamoDB items hold no plaintext secret.
    let scan = stack
        .app
        .aws
        .dynamodb
        .scan()
        .table_name(&stack.app.resources.instances_table)
        .send()
        .await
        .expect("scan");
    let dump = format!("{:?}", scan.items);
    assert!(!dump.contains(secret));
    assert!(!dump.contains(demo::SLACK_SIGNING_SECRET));

    let unknown_key = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            "x",
            "--workspace",
            "w",
            "--set",
            "signing_secrt=1",
        ],
    )
    .await
    .expect_err("typo in key");
    assert!(unknown_key.contains("signing_secrt"), "{unknown_key}");
    let missing = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "discord",
            "--id",
            "y",
            "--workspace",
            "w",
        ],
    )
    .await
    .expect_err("missing public_key");
    assert!(missing.contains("public_key"), "{missing}");
    let duplicate = cli(
        &stack,
        &[
            "instance",
            "create",
            "--provider",
            "slack",
            "--id",
            "acme-slack",
            "--workspace",
            "w",
            "--set",
            "signing_secret=x",
        ],
    )
    .await
    .expect_err("duplicate id");
    assert!(duplicate.contains("already exists"), "{duplicate}");

    let deleted = cli(&stack, &["instance", "delete", "--id", "acme-slack"])
        .await
        .expect("delete");
    assert!(deleted.contains("deleted"));
    assert!(cli(&stack, &["instance", "show", "--id", "acme-slack"])
        .await
        .is_err());
}

#[tokio::test]
async fn events_and_dlq_listings() {
    let stack = Stack::new().await;
    let events = cli(&stack, &["events", "list"]).await.expect("events list");
    assert!(events.is_empty(), "{events}");
    let dlq = cli(&stack, &["dlq", "list"]).await.expect("dlq list");
    assert!(dlq.contains("0 message(s)"), "{dlq}");
    let redrive = cli(&stack, &["dlq", "redrive"]).await.expect("dlq redrive");
    assert!(redrive.contains("redrove 0"), "{redrive}");
}
