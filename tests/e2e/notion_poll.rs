//! The Notion polling worker against the Notion fake: a first run records a baseline and emits
//! nothing; new and edited pages become `notion.page.created` / `notion.page.content_updated`
//! once; the cursor only moves forward.

use crate::fakes::Fake;
use crate::support::Stack;

const DATA_SOURCE: &str = "2f26ee68-df30-4251-aad4-8ddc420cba3d";
const LATER: &str = "2099-01-01T00:00:00.000Z";

/// A Notion instance `id` polling [`DATA_SOURCE`] of `notion` with an integration token.
async fn polled_instance(stack: &Stack, notion: &Fake, id: &str) {
    let settings: Vec<(String, String)> = [
        ("api_base_url", notion.base_url.as_str()),
        ("token", "ntn_test_token"),
        ("data_sources", DATA_SOURCE),
        ("workspace_id", "ws-1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    switchyard_ops::admin::create_instance(&stack.app, "notion", id, "acme", &settings)
        .await
        .expect("instance");
}

#[tokio::test]
async fn polling_emits_new_and_edited_pages_once() {
    let stack = Stack::new().await;
    let notion = Fake::notion().await;
    polled_instance(&stack, &notion, "polled").await;
    let app = &stack.app;
    switchyard_ops::admin::grant(app, "polled", "agent-n", &Default::default())
        .await
        .expect("grant");
    let deadline = || tokio::time::Instant::now() + std::time::Duration::from_secs(20);

    let first = switchyard::notion_poll::run(app.poller(), deadline())
        .await
        .expect("poll");
    assert_eq!(first.data_sources, 1);
    assert_eq!(first.pages, 30, "the fake seeds 30 pages");
    assert_eq!(first.baselines, 1);
    assert_eq!(first.queued, 0, "the first run emits nothing");
    assert_eq!(stack.drain().await, 0);
    let cursor_key = format!("notion-poll#polled#{DATA_SOURCE}");
    let baseline_cursor = app
        .cursors
        .get(&cursor_key)
        .await
        .expect("get")
        .expect("cursor");

    // A page added and another edited after the baseline.
    let added = notion.notion_add_page(DATA_SOURCE, LATER);
    let edited = notion.notion_pages(DATA_SOURCE)[3].clone();
    notion.notion_touch(&edited, LATER);

    let second = switchyard::notion_poll::run(app.poller(), deadline())
        .await
        .expect("poll");
    assert_eq!(second.failed, 0);
    assert_eq!(second.queued, 2, "{second:?}");
    assert_eq!(stack.drain().await, 2);
    let mut events: Vec<(String, String)> = stack
        .tapped()
        .await
        .into_iter()
        .map(|e| (e.event_type, e.attributes["entity_id"].clone()))
        .collect();
    events.sort();
    let mut want = vec![
        ("notion.page.content_updated".to_owned(), edited.clone()),
        ("notion.page.created".to_owned(), added.clone()),
    ];
    want.sort();
    assert_eq!(events, want);
    let cursor = app
        .cursors
        .get(&cursor_key)
        .await
        .expect("get")
        .expect("cursor");
    assert_eq!(cursor, LATER);
    assert!(cursor > baseline_cursor);

    // The same versions again (Notion's minute-rounded times): deduplicated, nothing queued.
    let third = switchyard::notion_poll::run(app.poller(), deadline())
        .await
        .expect("poll");
    assert_eq!(
        third.pages, 2,
        "only pages edited on or after the cursor are fetched"
    );
    assert_eq!(third.queued, 0);
    assert_eq!(stack.drain().await, 0);

    // The query is a tool call: it left receipts naming the worker.
    let receipts = app
        .tools()
        .receipts
        .list(&Default::default(), 100)
        .await
        .expect("receipts");
    assert!(receipts
        .iter()
        .all(|r| r.agent_id == switchyard::notion_poll::CALLER));
    assert!(receipts.len() >= 3);
}

#[tokio::test]
async fn a_failing_query_moves_no_cursor_and_the_next_run_retries() {
    let stack = Stack::new().await;
    let notion = Fake::notion().await;
    polled_instance(&stack, &notion, "flaky").await;
    let app = &stack.app;
    notion.script(
        "/v1/data_sources",
        vec![crate::fakes::Scripted::json(
            400,
            serde_json::json!({"object": "error", "status": 400, "code": "validation_error", "message": "nope"}),
        )],
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = switchyard::notion_poll::run(app.poller(), deadline)
        .await
        .expect("poll");
    assert_eq!(report.failed, 1);
    let key = format!("notion-poll#flaky#{DATA_SOURCE}");
    assert_eq!(app.cursors.get(&key).await.expect("get"), None);
    let report = switchyard::notion_poll::run(app.poller(), deadline)
        .await
        .expect("poll");
    assert_eq!((report.failed, report.baselines), (0, 1));
}
