//! Calendar: `events.list?syncToken=<cursor>` across pages (the same sync token on every page,
//! `nextSyncToken` on the last: the new cursor). Results include cancelled events.
//!
//! - `calendar.event_created|updated|cancelled` {event_id, status, summary, start, end,
//!   updated, etag, html_link, organizer, attendees}, key `event:<id>:<etag>` (`:cancelled`).
//! - **410 Gone** (the sync token went stale): a full resync, every page without a sync token
//!   (`showDeleted`, so cancellations made meanwhile are seen), that emits nothing for event
//!   versions already emitted.
//!
//! To tell created, updated and unchanged apart durably — a full resync may come weeks after
//! the deliveries table forgot the claims — the last version seen of each event is kept in the
//! cursors table, one item per event: `gcal#<watch id>#<event id>` = its etag, or `cancelled`.
//! An event with no item is new (`created`), one whose item differs changed (`updated`, or
//! `cancelled`), one whose item equals its etag is unchanged (nothing emitted). The item moves
//! after the event is queued, conditionally from the value read; the first sync (the baseline)
//! records every event and emits nothing. A cancelled event never seen is not emitted.

use serde_json::{json, Value};

use super::{attributes, rfc3339_secs, text, Change, Ctx, Mode, Pulled, SyncError};
use crate::GoogleSync;
use switchyard_aws::watches::Watch;

/// Events per page.
const PAGE: u64 = 250;

/// The version of one event this sync saw, recorded once its change is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub event_id: String,
    /// What the item held when read (`None`: no item).
    pub prior: Option<String>,
    pub state: String,
}

/// The cursors-table key of an event's last seen version.
pub fn seen_key(watch_id: &str, event_id: &str) -> String {
    format!("gcal#{watch_id}#{event_id}")
}

pub(crate) async fn pull(ctx: &Ctx<'_>, mode: Mode) -> Result<Pulled, SyncError> {
    let Some(token) = ctx.watch.cursor.clone() else {
        let (events, cursor) = list(ctx, None).await?;
        let mut pulled = classify_all(ctx, &events, cursor).await?;
        pulled.changes.clear();
        pulled.baseline = true;
        return Ok(pulled);
    };
    let listed = match mode {
        Mode::Full => None,
        Mode::Incremental => match list(ctx, Some(&token)).await {
            Ok(listed) => Some(listed),
            Err(SyncError::Api(e)) if e.is_status(410) => {
                tracing::info!(watch_id = %ctx.watch.id, "sync token stale; full resync");
                None
            }
            Err(e) => return Err(e),
        },
    };
    match listed {
        Some((events, cursor)) => classify_all(ctx, &events, cursor).await,
        None => {
            let (events, cursor) = list(ctx, None).await?;
            let mut pulled = classify_all(ctx, &events, cursor).await?;
            pulled.full = true;
            Ok(pulled)
        }
    }
}

/// Every page: incremental from `sync_token`, or in full (cancelled events included).
async fn list(ctx: &Ctx<'_>, sync_token: Option<&str>) -> Result<(Vec<Value>, String), SyncError> {
    let calendar_id = ctx.resource.id().to_owned();
    let mut events = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut input = json!({"calendarId": calendar_id, "maxResults": PAGE});
        match sync_token {
            Some(token) => input["syncToken"] = json!(token),
            None => input["showDeleted"] = json!(true),
        }
        if let Some(page) = &page_token {
            input["pageToken"] = json!(page);
        }
        let page = ctx.call("calendar_events_list", input).await?;
        events.extend(
            page.get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .cloned(),
        );
        (ctx.progress)(events.len());
        if let Some(next) = text(&page, "nextPageToken") {
            page_token = Some(next);
            continue;
        }
        let cursor = text(&page, "nextSyncToken").ok_or(SyncError::Unexpected {
            call: "events.list",
            field: "nextSyncToken",
        })?;
        return Ok((events, cursor));
    }
}

async fn classify_all(
    ctx: &Ctx<'_>,
    events: &[Value],
    cursor: String,
) -> Result<Pulled, SyncError> {
    let mut pulled = Pulled {
        read: events.len(),
        cursor,
        ..Pulled::default()
    };
    for event in events {
        let Some(id) = text(event, "id") else {
            continue;
        };
        let prior = ctx.app.cursors.get(&seen_key(&ctx.watch.id, &id)).await?;
        let state = state_of(event);
        if let Some(name) = classify(event, prior.as_deref()) {
            pulled.changes.push(change(&id, name, &state, event));
        }
        if prior.as_deref() != Some(state.as_str()) {
            pulled.after_queue.push(Seen {
                event_id: id,
                prior,
                state,
            });
        }
    }
    Ok(pulled)
}

fn is_cancelled(event: &Value) -> bool {
    event.get("status").and_then(Value::as_str) == Some("cancelled")
}

/// What the seen item holds for this version: its etag (else `updated`), or `cancelled`.
fn state_of(event: &Value) -> String {
    if is_cancelled(event) {
        return "cancelled".into();
    }
    text(event, "etag")
        .or_else(|| text(event, "updated"))
        .unwrap_or_default()
}

/// The event this version stands for, given the last version seen (`None`: unchanged, or a
/// cancellation of an event never seen).
fn classify(event: &Value, prior: Option<&str>) -> Option<&'static str> {
    let state = state_of(event);
    match prior {
        Some(p) if p == state => None,
        None if is_cancelled(event) => None,
        _ if is_cancelled(event) => Some("calendar.event_cancelled"),
        None => Some("calendar.event_created"),
        Some(_) => Some("calendar.event_updated"),
    }
}

fn change(id: &str, name: &'static str, state: &str, event: &Value) -> Change {
    let summary = text(event, "summary");
    let status = text(event, "status");
    let updated = text(event, "updated");
    let organizer = event.pointer("/organizer/email").and_then(Value::as_str);
    Change {
        key: format!("event:{id}:{state}"),
        name,
        attributes: attributes([
            ("event_id", Some(id.to_owned())),
            ("status", status.clone()),
            ("summary", summary.clone()),
            ("organizer", organizer.map(str::to_owned)),
        ]),
        payload: json!({
            "event_id": id,
            "status": status,
            "summary": summary,
            "start": event.get("start"),
            "end": event.get("end"),
            "updated": updated,
            "etag": text(event, "etag"),
            "html_link": text(event, "htmlLink"),
            "organizer": organizer,
            "attendees": event.get("attendees").and_then(Value::as_array).map(|a| {
                a.iter().filter_map(|p| p.get("email").cloned()).collect::<Vec<_>>()
            }),
        }),
        occurred_at: rfc3339_secs(updated.as_deref()),
    }
}

/// Records the versions a sync queued (or, for a baseline, saw). Conditional on the value
/// read: when another sync recorded first, its value stays.
pub(crate) async fn remember(
    app: &GoogleSync,
    watch: &Watch,
    seen: &[Seen],
) -> Result<(), SyncError> {
    let now = app.now();
    for s in seen {
        app.cursors
            .advance(
                &seen_key(&watch.id, &s.event_id),
                s.prior.as_deref(),
                &s.state,
                now,
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_classify_against_the_last_seen() {
        let v1 = json!({"id": "e", "status": "confirmed", "etag": "\"1\""});
        let v2 = json!({"id": "e", "status": "confirmed", "etag": "\"2\""});
        let gone = json!({"id": "e", "status": "cancelled", "etag": "\"3\""});
        assert_eq!(classify(&v1, None), Some("calendar.event_created"));
        assert_eq!(classify(&v1, Some("\"1\"")), None);
        assert_eq!(classify(&v2, Some("\"1\"")), Some("calendar.event_updated"));
        assert_eq!(
            classify(&gone, Some("\"2\"")),
            Some("calendar.event_cancelled")
        );
        assert_eq!(classify(&gone, Some("cancelled")), None);
        assert_eq!(classify(&gone, None), None, "never seen: nothing to cancel");
        let c = change("e", "calendar.event_updated", &state_of(&v2), &v2);
        assert_eq!(c.key, "event:e:\"2\"");
        assert_eq!(
            change("e", "x", &state_of(&gone), &gone).key,
            "event:e:cancelled"
        );
    }
}
