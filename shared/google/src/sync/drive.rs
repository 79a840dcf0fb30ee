//! Drive: `changes.list` from the stored page token, following `nextPageToken` until the last
//! page's `newStartPageToken` (the new cursor).
//!
//! Each change → `drive.file_changed` {file_id, name, mime_type, removed, trashed, time,
//! change_type}, key `change:<file id>:<time>`. A Google Doc
//! (`application/vnd.google-apps.document`) also → `docs.document_changed` {document_id, name,
//! removed, trashed, time}, key `doc:<file id>:<time>`: Docs has no push of its own.

use serde_json::{json, Value};

use super::{attributes, rfc3339_secs, text, Change, Ctx, Pulled, SyncError};

/// Google Docs' MIME type.
pub const GOOGLE_DOC: &str = "application/vnd.google-apps.document";

/// Changes per page (Drive's maximum).
const PAGE: u64 = 1000;

pub(crate) async fn pull(ctx: &Ctx<'_>) -> Result<Pulled, SyncError> {
    let Some(start) = ctx.watch.cursor.clone() else {
        let answer = ctx.call("drive_start_page_token", json!({})).await?;
        return Ok(Pulled {
            cursor: text(&answer, "startPageToken").ok_or(SyncError::Unexpected {
                call: "changes.getStartPageToken",
                field: "startPageToken",
            })?,
            baseline: true,
            ..Pulled::default()
        });
    };
    let mut token = start;
    let mut changes = Vec::new();
    let mut read = 0;
    let cursor = loop {
        let page = ctx
            .call(
                "drive_changes_list",
                json!({"pageToken": token, "pageSize": PAGE}),
            )
            .await?;
        for change in page
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            read += 1;
            changes.extend(of_change(change));
        }
        (ctx.progress)(read);
        if let Some(next) = text(&page, "nextPageToken") {
            token = next;
        } else {
            break text(&page, "newStartPageToken").ok_or(SyncError::Unexpected {
                call: "changes.list",
                field: "newStartPageToken",
            })?;
        }
    };
    Ok(Pulled {
        changes,
        read,
        cursor,
        ..Pulled::default()
    })
}

/// The events of one change (none for a shared-drive change without a file).
fn of_change(change: &Value) -> Vec<Change> {
    let Some(file_id) = text(change, "fileId") else {
        return Vec::new();
    };
    let file = change.get("file").cloned().unwrap_or(Value::Null);
    let time = text(change, "time");
    let removed = change
        .get("removed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let trashed = file
        .get("trashed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let name = text(&file, "name");
    let mime_type = text(&file, "mimeType");
    let change_type = text(change, "changeType").unwrap_or_else(|| "file".into());
    let version = time.clone().unwrap_or_default();
    let occurred_at = rfc3339_secs(time.as_deref());
    let mut events = vec![Change {
        key: format!("change:{file_id}:{version}:{removed}"),
        name: "drive.file_changed",
        attributes: attributes([
            ("file_id", Some(file_id.clone())),
            ("name", name.clone()),
            ("mime_type", mime_type.clone()),
            ("removed", Some(removed.to_string())),
            ("trashed", Some(trashed.to_string())),
            ("change_type", Some(change_type.clone())),
        ]),
        payload: json!({
            "file_id": file_id,
            "name": name,
            "mime_type": mime_type,
            "removed": removed,
            "trashed": trashed,
            "time": time,
            "change_type": change_type,
        }),
        occurred_at,
    }];
    if mime_type.as_deref() == Some(GOOGLE_DOC) {
        events.push(Change {
            key: format!("doc:{file_id}:{version}:{removed}"),
            name: "docs.document_changed",
            attributes: attributes([
                ("document_id", Some(file_id.clone())),
                ("name", name.clone()),
                ("removed", Some(removed.to_string())),
                ("trashed", Some(trashed.to_string())),
            ]),
            payload: json!({
                "document_id": file_id,
                "name": name,
                "removed": removed,
                "trashed": trashed,
                "time": time,
            }),
            occurred_at,
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doc_change_is_also_a_docs_event() {
        let change = json!({
            "changeType": "file", "time": "2026-01-01T10:00:00.000Z", "removed": false,
            "fileId": "f1", "file": {"id": "f1", "name": "Plan", "mimeType": GOOGLE_DOC, "trashed": false}
        });
        let events = of_change(&change);
        let names: Vec<&str> = events.iter().map(|e| e.name).collect();
        assert_eq!(names, ["drive.file_changed", "docs.document_changed"]);
        assert_eq!(events[0].payload["name"], "Plan");
        assert_eq!(events[1].payload["document_id"], "f1");
        assert_eq!(events[0].occurred_at, Some(1_767_261_600));
        assert_ne!(events[0].key, events[1].key);

        let sheet = json!({"time": "2026-01-01T10:00:00Z", "fileId": "f2",
            "file": {"name": "Numbers", "mimeType": "application/vnd.google-apps.spreadsheet", "trashed": true}});
        let events = of_change(&sheet);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].payload["trashed"], true);

        let removed = json!({"time": "2026-01-01T10:00:00Z", "fileId": "f3", "removed": true});
        let events = of_change(&removed);
        assert_eq!(events[0].payload["removed"], true);
        assert_eq!(events[0].attributes["removed"], "true");
        assert!(of_change(&json!({"changeType": "drive", "driveId": "d"})).is_empty());
    }
}
