//! The artifact store against the emulator: bytes in S3 with metadata measured from them, a
//! presigned URL that serves the bytes, size-capped reads, and retention's paging and
//! delete-once semantics.

use std::time::Duration;

use switchyard::artifacts::{ArtifactError, NewArtifact};

use crate::support::{Stack, NOW};

fn new_png(expires_at: u64) -> NewArtifact<'static> {
    NewArtifact {
        workspace: "acme",
        provider: "openai",
        model: Some("gpt-image-1"),
        mime_type: "image/png",
        extension: "png",
        dimensions: Some((2, 3)),
        expires_at,
        ..NewArtifact::default()
    }
}

#[tokio::test]
async fn an_artifact_keeps_its_bytes_digest_and_a_presigned_url_serves_them() {
    let stack = Stack::new().await;
    let store = &stack.app.artifacts;
    let bytes = b"\x89PNG not really, but bytes".to_vec();
    let artifact = store
        .put(&new_png(NOW + 60), &bytes, NOW)
        .await
        .expect("put");
    assert_eq!(artifact.size_bytes, bytes.len() as u64);
    assert_eq!(
        artifact.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    assert_eq!(artifact.key, format!("artifacts/acme/{}.png", artifact.id));
    let stored = store.get(&artifact.id).await.expect("get").expect("exists");
    assert_eq!(stored, artifact);
    assert_eq!(store.bytes(&artifact, 1 << 20).await.expect("bytes"), bytes);
    assert!(matches!(
        store.bytes(&artifact, 4).await,
        Err(ArtifactError::TooLarge { limit: 4, .. })
    ));

    let url = store
        .presigned_url(&artifact, Duration::from_secs(300))
        .await
        .expect("presign");
    let served = reqwest::get(&url).await.expect("GET presigned");
    assert!(served.status().is_success(), "{}", served.status());
    assert_eq!(served.bytes().await.expect("body").to_vec(), bytes);
}

#[tokio::test]
async fn expired_artifacts_page_and_are_deleted_once() {
    let stack = Stack::new().await;
    let store = &stack.app.artifacts;
    let mut expired = Vec::new();
    for _ in 0..5 {
        expired.push(
            store
                .put(&new_png(NOW - 1), b"old", NOW - 100)
                .await
                .expect("put"),
        );
    }
    let kept = store
        .put(&new_png(NOW + 3600), b"new", NOW)
        .await
        .expect("put");

    let mut found = Vec::new();
    let mut from = None;
    loop {
        let page = store.expired_page(NOW, from, 2).await.expect("page");
        found.extend(page.artifacts);
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    let mut ids: Vec<_> = found.iter().map(|a| a.id.clone()).collect();
    ids.sort();
    let mut want: Vec<_> = expired.iter().map(|a| a.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want, "every expired artifact, none of the live one");

    let first = &expired[0];
    assert!(store.delete(first).await.expect("delete"));
    assert!(
        !store.delete(first).await.expect("again"),
        "a second run counts nothing"
    );
    assert!(store.get(&first.id).await.expect("get").is_none());
    assert!(matches!(
        store.bytes(first, 1 << 20).await,
        Err(ArtifactError::NotFound(_))
    ));
    assert!(store.get(&kept.id).await.expect("get").is_some());
}
