//! Gmail: `users.history.list` from the stored history id, across pages.
//!
//! - `messagesAdded` → `gmail.message_added` {message_id, thread_id, from, to, subject,
//!   snippet, labels}, read with `messages.get?format=metadata` (headers, no body). Key
//!   `added:<message id>`: a message is added once, whichever sync sees it.
//! - `labelsAdded`/`labelsRemoved`, when the watch asks for label events →
//!   `gmail.labels_changed` {message_id, thread_id, labels_added, labels_removed, history_id}.
//!   Key `labels:<history record id>:<message id>`.
//! - The new cursor is the mailbox's `historyId` of the last page.
//! - **404** (the start is older than the history Google keeps, about a week): a bounded full
//!   sync. The profile's `historyId` is read first (the new cursor: whatever arrives during the
//!   listing is caught by the next incremental sync), then the newest
//!   [`crate::Settings::full_sync_messages`] messages of the label are listed and each whose
//!   own `historyId` is above the old cursor (it changed since the last sync) is emitted as
//!   `gmail.message_added`; messages the incremental syncs emitted dedup on their keys, older
//!   ones are not emitted at all.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{attributes, text, Change, Ctx, Mode, Pulled, SyncError};

/// Records per history page.
const PAGE: u64 = 500;

pub(crate) async fn pull(ctx: &Ctx<'_>, mode: Mode) -> Result<Pulled, SyncError> {
    let Some(start) = ctx.watch.cursor.clone() else {
        return Ok(Pulled {
            cursor: profile_history_id(ctx).await?,
            baseline: true,
            ..Pulled::default()
        });
    };
    if mode == Mode::Full {
        return full_sync(ctx, &start).await;
    }
    let label = ctx.resource.id().to_owned();
    let mut records: Vec<Value> = Vec::new();
    let mut page_token: Option<String> = None;
    let cursor = loop {
        let mut input = json!({"startHistoryId": start, "labelId": label, "maxResults": PAGE});
        if let Some(token) = &page_token {
            input["pageToken"] = json!(token);
        }
        let page = match ctx.call("gmail_history_list", input).await {
            Ok(page) => page,
            Err(e) if e.is_status(404) => {
                tracing::info!(watch_id = %ctx.watch.id, %start, "history expired; full sync");
                return full_sync(ctx, &start).await;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(history) = page.get("history").and_then(Value::as_array) {
            records.extend(history.iter().cloned());
        }
        (ctx.progress)(records.len());
        match text(&page, "nextPageToken") {
            Some(next) => page_token = Some(next),
            None => {
                break text(&page, "historyId").ok_or(SyncError::Unexpected {
                    call: "history.list",
                    field: "historyId",
                })?
            }
        }
    };
    let mut changes = Vec::new();
    let mut added = BTreeSet::new();
    for record in &records {
        for entry in list(record, "messagesAdded") {
            if let Some(id) = entry.pointer("/message/id").and_then(Value::as_str) {
                if added.insert(id.to_owned()) {
                    if let Some(change) = message_added(ctx, id).await? {
                        changes.push(change);
                    }
                }
            }
        }
        if ctx.watch.label_events {
            changes.extend(labels_changed(record));
        }
    }
    Ok(Pulled {
        changes,
        read: records.len(),
        cursor,
        ..Pulled::default()
    })
}

fn list<'a>(record: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    record
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

async fn profile_history_id(ctx: &Ctx<'_>) -> Result<String, SyncError> {
    let profile = ctx.call("gmail_get_profile", json!({})).await?;
    profile_id(&profile)
}

fn profile_id(profile: &Value) -> Result<String, SyncError> {
    match profile.get("historyId") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(SyncError::Unexpected {
            call: "getProfile",
            field: "historyId",
        }),
    }
}

/// The bounded full sync after the history expired (or when asked for).
async fn full_sync(ctx: &Ctx<'_>, old_cursor: &str) -> Result<Pulled, SyncError> {
    let cursor = profile_history_id(ctx).await?;
    let wanted = ctx.app.settings.full_sync_messages;
    let mut ids: Vec<String> = Vec::new();
    let mut page_token: Option<String> = None;
    while ids.len() < wanted {
        let mut input = json!({
            "labelIds": ctx.resource.id(),
            "maxResults": (wanted - ids.len()).min(PAGE as usize),
        });
        if let Some(token) = &page_token {
            input["pageToken"] = json!(token);
        }
        let page = ctx.call("gmail_messages_list", input).await?;
        ids.extend(
            list(&page, "messages")
                .filter_map(|m| text(m, "id"))
                .take(wanted - ids.len()),
        );
        match text(&page, "nextPageToken") {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    let since: u64 = old_cursor.parse().unwrap_or(0);
    let mut changes = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        (ctx.progress)(n + 1);
        let Some(message) = get_message(ctx, id).await? else {
            continue;
        };
        let touched = history_id(&message).is_some_and(|h| h > since);
        if touched {
            changes.push(added_change(id, &message));
        }
    }
    Ok(Pulled {
        changes,
        read: ids.len(),
        cursor,
        full: true,
        ..Pulled::default()
    })
}

fn history_id(message: &Value) -> Option<u64> {
    match message.get("historyId")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The message's metadata; `None` when it was deleted since.
async fn get_message(ctx: &Ctx<'_>, id: &str) -> Result<Option<Value>, SyncError> {
    match ctx.call("gmail_message_get", json!({"id": id})).await {
        Ok(message) => Ok(Some(message)),
        Err(e) if e.is_status(404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn message_added(ctx: &Ctx<'_>, id: &str) -> Result<Option<Change>, SyncError> {
    Ok(get_message(ctx, id)
        .await?
        .map(|message| added_change(id, &message)))
}

/// A header's value (names compare case-insensitively, as RFC 5322 says).
fn header(message: &Value, name: &str) -> Option<String> {
    message
        .pointer("/payload/headers")
        .and_then(Value::as_array)?
        .iter()
        .find(|h| {
            h.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|h| text(h, "value"))
}

fn labels(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

fn added_change(id: &str, message: &Value) -> Change {
    let thread_id = text(message, "threadId");
    let from = header(message, "From");
    let to = header(message, "To");
    let subject = header(message, "Subject");
    let label_ids = labels(message.get("labelIds"));
    let occurred_at = text(message, "internalDate")
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| ms / 1000);
    Change {
        key: format!("added:{id}"),
        name: "gmail.message_added",
        attributes: attributes([
            ("message_id", Some(id.to_owned())),
            ("thread_id", thread_id.clone()),
            ("from", from.clone()),
            ("subject", subject.clone()),
            ("labels", Some(label_ids.join(","))),
        ]),
        payload: json!({
            "message_id": id,
            "thread_id": thread_id,
            "from": from,
            "to": to,
            "subject": subject,
            "snippet": text(message, "snippet"),
            "labels": label_ids,
        }),
        occurred_at,
    }
}

/// `gmail.labels_changed` for each message whose labels a history record changed.
fn labels_changed(record: &Value) -> Vec<Change> {
    let record_id = match record.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return Vec::new(),
    };
    let mut by_message: Vec<LabelChange> = Vec::new();
    for (key, added) in [("labelsAdded", true), ("labelsRemoved", false)] {
        for entry in list(record, key) {
            let Some(id) = entry.pointer("/message/id").and_then(Value::as_str) else {
                continue;
            };
            let i = match by_message.iter().position(|c| c.message_id == id) {
                Some(i) => i,
                None => {
                    by_message.push(LabelChange {
                        message_id: id.to_owned(),
                        thread_id: entry
                            .pointer("/message/threadId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        added: Vec::new(),
                        removed: Vec::new(),
                    });
                    by_message.len() - 1
                }
            };
            let change = &mut by_message[i];
            let target = if added {
                &mut change.added
            } else {
                &mut change.removed
            };
            target.extend(labels(entry.get("labelIds")));
        }
    }
    by_message
        .into_iter()
        .map(|c| Change {
            key: format!("labels:{record_id}:{}", c.message_id),
            name: "gmail.labels_changed",
            attributes: attributes([
                ("message_id", Some(c.message_id.clone())),
                ("thread_id", c.thread_id.clone()),
                ("labels_added", Some(c.added.join(","))),
                ("labels_removed", Some(c.removed.join(","))),
            ]),
            payload: json!({
                "message_id": c.message_id,
                "thread_id": c.thread_id,
                "labels_added": c.added,
                "labels_removed": c.removed,
                "history_id": record_id,
            }),
            occurred_at: None,
        })
        .collect()
}

/// The labels one history record added to and removed from one message.
struct LabelChange {
    message_id: String,
    thread_id: Option<String>,
    added: Vec<String>,
    removed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_from_its_metadata_headers() {
        let message = json!({
            "id": "m1", "threadId": "t1", "labelIds": ["INBOX", "UNREAD"],
            "snippet": "Hello there", "historyId": "120", "internalDate": "1700000000123",
            "payload": {"headers": [
                {"name": "from", "value": "Ada <ada@example.com>"},
                {"name": "To", "value": "owner@example.com"},
                {"name": "Subject", "value": "Plans"}
            ]}
        });
        let change = added_change("m1", &message);
        assert_eq!(change.key, "added:m1");
        assert_eq!(change.name, "gmail.message_added");
        assert_eq!(change.payload["from"], "Ada <ada@example.com>");
        assert_eq!(change.payload["to"], "owner@example.com");
        assert_eq!(change.payload["subject"], "Plans");
        assert_eq!(change.payload["snippet"], "Hello there");
        assert_eq!(change.payload["labels"], json!(["INBOX", "UNREAD"]));
        assert_eq!(change.attributes["labels"], "INBOX,UNREAD");
        assert_eq!(change.occurred_at, Some(1_700_000_000));
        assert_eq!(history_id(&message), Some(120));
    }

    #[test]
    fn label_changes_group_by_message_and_record() {
        let record = json!({
            "id": "301",
            "labelsAdded": [{"message": {"id": "m1", "threadId": "t1"}, "labelIds": ["STARRED"]}],
            "labelsRemoved": [{"message": {"id": "m1", "threadId": "t1"}, "labelIds": ["UNREAD"]}]
        });
        let changes = labels_changed(&record);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].key, "labels:301:m1");
        assert_eq!(changes[0].payload["labels_added"], json!(["STARRED"]));
        assert_eq!(changes[0].payload["labels_removed"], json!(["UNREAD"]));
        assert!(labels_changed(&json!({"id": "302", "messagesAdded": []})).is_empty());
    }
}
