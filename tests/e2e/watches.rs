//! The watches table against the emulator: one watch per (instance, resource), cursors that only
//! move from the value a worker read, failure counting into `failing`, and channel items that
//! ingress reads by channel id.

use switchyard::watches::{token_digest, Channel, Watch, WatchStatus, WatchUpdate};

use crate::support::{Stack, NOW};

#[tokio::test]
async fn a_watch_is_created_once_and_its_cursor_moves_only_from_what_was_read() {
    let stack = Stack::new().await;
    let store = &stack.app.watches;
    let watch = Watch::new("inst-g", "google", "calendar", "primary", NOW);
    assert!(store.create(&watch).await.expect("create"));
    assert!(
        !store.create(&watch).await.expect("create again"),
        "the same instance and resource is one watch"
    );
    assert_eq!(watch.id, Watch::id_for("inst-g", "calendar", "primary"));

    assert!(store
        .advance_cursor(&watch.id, None, "tok-1", NOW)
        .await
        .expect("first"));
    assert!(
        !store
            .advance_cursor(&watch.id, None, "tok-x", NOW)
            .await
            .expect("stale"),
        "a worker that read no cursor loses once one exists"
    );
    assert!(store
        .advance_cursor(&watch.id, Some("tok-1"), "tok-2", NOW + 1)
        .await
        .expect("next"));
    assert!(
        !store
            .advance_cursor(&watch.id, Some("tok-1"), "tok-3", NOW + 2)
            .await
            .expect("behind"),
        "a worker that read an old cursor cannot move it"
    );
    let stored = store.get(&watch.id).await.expect("get").expect("exists");
    assert_eq!(stored.cursor.as_deref(), Some("tok-2"));
    assert_eq!(stored.last_sync_at, Some(NOW + 1));
    assert!(!store
        .advance_cursor("wch_missing", None, "t", NOW)
        .await
        .expect("missing"));
}

#[tokio::test]
async fn repeated_failures_turn_a_watch_failing_and_success_clears_them() {
    let stack = Stack::new().await;
    let store = &stack.app.watches;
    let watch = Watch::new("inst-g", "google", "drive", "changes", NOW);
    store.create(&watch).await.expect("create");
    assert_eq!(
        store
            .record_failure(&watch.id, "boom", 3, NOW)
            .await
            .expect("1"),
        1
    );
    assert_eq!(
        store
            .record_failure(&watch.id, "boom", 3, NOW)
            .await
            .expect("2"),
        2
    );
    let active = store.get(&watch.id).await.expect("get").expect("exists");
    assert_eq!(active.status, WatchStatus::Active);
    assert_eq!(
        store
            .record_failure(&watch.id, "boom 3", 3, NOW)
            .await
            .expect("3"),
        3
    );
    let failing = store.get(&watch.id).await.expect("get").expect("exists");
    assert_eq!(failing.status, WatchStatus::Failing);
    assert_eq!(failing.last_error.as_deref(), Some("boom 3"));

    let healed = WatchUpdate {
        status: Some(WatchStatus::Active),
        errors_in_a_row: Some(0),
        last_error: Some(None),
        channel_id: Some("ch-2".into()),
        expires_at: Some(NOW + 3600),
        ..WatchUpdate::default()
    };
    assert!(store
        .update(&watch.id, &healed, NOW + 5)
        .await
        .expect("update"));
    let healed = store.get(&watch.id).await.expect("get").expect("exists");
    assert_eq!(healed.status, WatchStatus::Active);
    assert_eq!(healed.errors_in_a_row, 0);
    assert_eq!(healed.last_error, None);
    assert_eq!(healed.channel_id.as_deref(), Some("ch-2"));
    assert_eq!(healed.expires_at, Some(NOW + 3600));
    assert_eq!(
        store
            .record_failure("wch_missing", "x", 3, NOW)
            .await
            .expect("none"),
        0
    );
    assert_eq!(store.list().await.expect("list").len(), 1);
}

#[tokio::test]
async fn channels_are_found_by_id_with_the_token_digest_only() {
    let stack = Stack::new().await;
    let store = &stack.app.watches;
    let channel = Channel {
        id: "ch-1".into(),
        watch_id: "wch_1".into(),
        instance_id: "inst-g".into(),
        resource_id: None,
        token_sha256: token_digest("s3cret-token"),
        expires_at: NOW + 600,
        created_at: NOW,
    };
    store.put_channel(&channel).await.expect("put");
    store
        .set_channel_resource("ch-1", "res-9")
        .await
        .expect("resource");
    let found = store.channel("ch-1").await.expect("get").expect("exists");
    assert_eq!(found.resource_id.as_deref(), Some("res-9"));
    assert_eq!(found.token_sha256, token_digest("s3cret-token"));
    assert_eq!(store.channels_of("wch_1").await.expect("of").len(), 1);
    assert!(
        store.list().await.expect("list").is_empty(),
        "channels are not watches"
    );
    store.delete_channel("ch-1").await.expect("delete");
    assert!(store.channel("ch-1").await.expect("get").is_none());
}
