//! Calendar v3: calendars of events; `events.list` with page tokens and sync tokens (incremental
//! results include cancelled events; stale tokens answer 410 `fullSyncRequired`), insert with
//! Meet links, patch, delete (→ `cancelled`), get, `freebusy.query`, `events.watch`.

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use crate::channels::{self, Lifetime};
use crate::error::ApiError;
use crate::page::{page_size, token, untoken};
use crate::server::{ok, parse_time, rfc3339, Reply, Req, Route, State};

/// The scopes `events.list`, `events.get`, `events.watch` and `channels.stop` accept.
pub(crate) const CALENDAR_ANY: &[&str] = &[
    "calendar",
    "calendar.app.created",
    "calendar.events",
    "calendar.events.freebusy",
    "calendar.events.owned",
    "calendar.events.owned.readonly",
    "calendar.events.public.readonly",
    "calendar.events.readonly",
    "calendar.readonly",
];
const WRITE: &[&str] = &[
    "calendar",
    "calendar.app.created",
    "calendar.events",
    "calendar.events.owned",
];
const FREEBUSY: &[&str] = &[
    "calendar",
    "calendar.events.freebusy",
    "calendar.freebusy",
    "calendar.readonly",
];

/// A stored event: its full representation and the calendar's change number of its last update.
#[derive(Debug, Clone)]
pub struct CalendarEvent {
    pub id: String,
    /// The event resource as `events.get` returns it.
    pub json: Value,
    /// Orders changes for page and sync tokens.
    pub seq: u64,
}

impl CalendarEvent {
    fn cancelled(&self) -> bool {
        self.json["status"] == "cancelled"
    }

    /// What lists show: cancelled events keep only their identity, as Google's do.
    fn listed(&self) -> Value {
        if self.cancelled() {
            json!({
                "kind": "calendar#event",
                "etag": self.json["etag"],
                "id": self.id,
                "status": "cancelled",
                "updated": self.json["updated"],
            })
        } else {
            self.json.clone()
        }
    }
}

/// A calendar and its change counter.
#[derive(Debug, Default)]
pub(crate) struct Calendar {
    events: Vec<CalendarEvent>,
    seq: u64,
}

impl Calendar {
    pub(crate) fn event(&self, id: &str) -> Option<&CalendarEvent> {
        self.events.iter().find(|e| e.id == id)
    }
}

impl State {
    fn calendar_id(&self, id: &str) -> String {
        if id == "primary" {
            self.email.clone()
        } else {
            id.to_owned()
        }
    }

    /// Calendar `id` (created when missing).
    pub(crate) fn calendar_mut(&mut self, id: &str) -> &mut Calendar {
        let id = self.calendar_id(id);
        self.calendars.entry(id).or_default()
    }

    fn calendar_existing(&mut self, id: &str) -> Result<&mut Calendar, ApiError> {
        let id = self.calendar_id(id);
        if id == self.email {
            return Ok(self.calendars.entry(id).or_default());
        }
        self.calendars
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("Not Found"))
    }

    /// Stores `event` (merged over the existing one with its id) in `calendar`.
    fn calendar_store(
        &mut self,
        calendar: &str,
        event: &Value,
        meet: bool,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let id = match event["id"].as_str() {
            Some(id) => id.to_owned(),
            None => event_id(self.next_seq()),
        };
        let email = self.email.clone();
        let cal = self.calendar_existing(calendar)?;
        let existing = cal.event(&id).map(|e| e.json.clone());
        let mut merged = existing.clone().unwrap_or_else(|| json!({}));
        for (key, value) in event.as_object().into_iter().flatten() {
            if value.is_null() {
                merged.as_object_mut().map(|m| m.remove(key));
            } else if key != "conferenceData" || meet {
                merged[key] = value.clone();
            }
        }
        validate(&merged)?;
        cal.seq += 1;
        let seq = cal.seq;
        let moved = existing
            .as_ref()
            .is_some_and(|old| old["start"] != merged["start"] || old["end"] != merged["end"]);
        let sequence = existing
            .as_ref()
            .map_or(0, |old| old["sequence"].as_i64().unwrap_or(0))
            + i64::from(moved);
        let created = existing
            .as_ref()
            .and_then(|old| old["created"].as_str().map(str::to_owned))
            .unwrap_or_else(|| rfc3339(now));
        let fixed = json!({
            "kind": "calendar#event",
            "etag": format!("\"{}{:03}\"", now.timestamp_millis(), seq % 1000),
            "id": id,
            "htmlLink": format!("https://www.google.com/calendar/event?eid={id}"),
            "created": created,
            "updated": rfc3339(now),
            "iCalUID": format!("{id}@google.com"),
            "sequence": sequence,
            "creator": {"email": email},
            "organizer": {"email": email, "self": true},
            "eventType": "default",
        });
        for (key, value) in fixed.as_object().into_iter().flatten() {
            merged[key] = value.clone();
        }
        if merged.get("status").is_none() {
            merged["status"] = "confirmed".into();
        }
        if merged.get("reminders").is_none() {
            merged["reminders"] = json!({"useDefault": true});
        }
        if let Some(attendees) = merged["attendees"].as_array_mut() {
            for attendee in attendees {
                if attendee.get("responseStatus").is_none() {
                    attendee["responseStatus"] = "needsAction".into();
                }
            }
        }
        if meet {
            add_meet(&mut merged, &id)?;
        }
        let stored = CalendarEvent {
            id: id.clone(),
            json: merged.clone(),
            seq,
        };
        match cal.events.iter_mut().find(|e| e.id == id) {
            Some(slot) => *slot = stored,
            None => cal.events.push(stored),
        }
        Ok(merged)
    }

    pub(crate) fn calendar_upsert(&mut self, calendar: &str, event: &Value) -> String {
        self.calendar_mut(calendar);
        let stored = self
            .calendar_store(calendar, event, true)
            .expect("calendar_upsert: a valid event (start, end, attendees with email)");
        stored["id"].as_str().unwrap_or_default().to_owned()
    }

    pub(crate) fn calendar_cancel(&mut self, calendar: &str, id: &str) -> bool {
        let exists = self
            .calendar_mut(calendar)
            .event(id)
            .is_some_and(|e| !e.cancelled());
        exists
            && self
                .calendar_store(calendar, &json!({"id": id, "status": "cancelled"}), false)
                .is_ok()
    }
}

/// Calendar event ids are base32hex (`a-v`, `0-9`).
fn event_id(seq: u64) -> String {
    let mut n = (uuid::Uuid::new_v4().as_u128() & 0xffff_ffff_ffff_0000_0000) | u128::from(seq);
    let alphabet = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::new();
    while out.len() < 26 {
        out.push(char::from(alphabet[(n % 32) as usize]));
        n /= 32;
    }
    out
}

/// Start/end present, zoned, and not reversed; attendees have emails.
fn validate(event: &Value) -> Result<(), ApiError> {
    let start = event_time(&event["start"], "start")?;
    let end = event_time(&event["end"], "end")?;
    if end < start {
        return Err(ApiError::new(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
        ));
    }
    for attendee in event["attendees"].as_array().into_iter().flatten() {
        if attendee["email"].as_str().is_none_or(str::is_empty) {
            return Err(ApiError::required("Missing attendee email."));
        }
    }
    Ok(())
}

/// The instant of an event time `{dateTime[, timeZone]}` or `{date}`.
fn event_time(time: &Value, which: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Some(date_time) = time["dateTime"].as_str() {
        if let Some(t) = parse_time(date_time) {
            return Ok(t);
        }
        // No offset: Google needs the time zone, and resolves the local time in it.
        if time["timeZone"].as_str().is_none() {
            return Err(ApiError::bad_request(format!(
                "Missing time zone definition for {which} time."
            )));
        }
        return chrono::NaiveDateTime::parse_from_str(date_time, "%Y-%m-%dT%H:%M:%S")
            .map(|t| t.and_utc())
            .map_err(|_| ApiError::invalid(format!("Invalid {which} time.")));
    }
    if let Some(date) = time["date"].as_str() {
        return NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(|| ApiError::invalid(format!("Invalid {which} time.")));
    }
    Err(ApiError::required(format!("Missing {which} time.")))
}

/// Answers a `conferenceData.createRequest` for Meet with a conference and its link.
fn add_meet(event: &mut Value, id: &str) -> Result<(), ApiError> {
    let Some(request) = event["conferenceData"].get("createRequest").cloned() else {
        return Ok(());
    };
    if event["conferenceData"].get("conferenceId").is_some() {
        return Ok(());
    }
    let kind = request["conferenceSolutionKey"]["type"]
        .as_str()
        .unwrap_or("");
    if kind != "hangoutsMeet" {
        return Err(ApiError::invalid("Invalid conference type value."));
    }
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    let mut n = hasher.finish();
    let mut letters = String::new();
    for _ in 0..10 {
        letters.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    let code = format!("{}-{}-{}", &letters[0..3], &letters[3..7], &letters[7..10]);
    let uri = format!("https://meet.google.com/{code}");
    event["hangoutLink"] = uri.clone().into();
    let mut request = request;
    request["status"] = json!({"statusCode": "success"});
    event["conferenceData"] = json!({
        "createRequest": request,
        "entryPoints": [{"entryPointType": "video", "uri": uri, "label": format!("meet.google.com/{code}")}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet",
            "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"},
        "conferenceId": code,
    });
    Ok(())
}

/// The route of `rest` (the path after `calendar/v3`).
pub(crate) fn route(method: &http::Method, rest: &[&str]) -> Option<Route> {
    use http::Method as M;
    let (scopes, handler): (&'static [&'static str], crate::server::Handler) = match (method, rest)
    {
        (&M::GET, ["calendars", _, "events"]) => (CALENDAR_ANY, list_events),
        (&M::POST, ["calendars", _, "events"]) => (WRITE, insert_event),
        (&M::POST, ["calendars", _, "events", "watch"]) => (CALENDAR_ANY, watch_events),
        (&M::GET, ["calendars", _, "events", _]) => (CALENDAR_ANY, get_event),
        (&M::PATCH, ["calendars", _, "events", _]) => (WRITE, patch_event),
        (&M::DELETE, ["calendars", _, "events", _]) => (WRITE, delete_event),
        (&M::POST, ["freeBusy"]) => (FREEBUSY, freebusy),
        _ => return None,
    };
    Some(Route { scopes, handler })
}

/// A list's position: after change `after`, up to change `snapshot` (the calendar's counter at
/// the first page), in sync-token `epoch`, incremental or not.
struct Position {
    after: u64,
    snapshot: u64,
    epoch: u64,
    incremental: bool,
}

fn stale() -> ApiError {
    ApiError::new(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
    )
}

fn list_events(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let calendar = req.seg(3).to_owned();
    let epoch = state.calendar_epoch;
    let sync = req.q("syncToken");
    if sync.is_some() {
        for param in [
            "timeMin",
            "timeMax",
            "q",
            "orderBy",
            "iCalUID",
            "updatedMin",
        ] {
            if req.q(param).is_some() {
                return Err(ApiError::invalid(format!(
                    "Sync token cannot be used with {param}."
                )));
            }
        }
    }
    let counter = state.calendar_existing(&calendar)?.seq;
    let position = if let Some(page) = req.q("pageToken") {
        let inner = untoken(page, "pageToken")?;
        let parts: Vec<u64> = inner.split('.').filter_map(|p| p.parse().ok()).collect();
        let [after, snapshot, token_epoch, incremental] = parts[..] else {
            return Err(ApiError::invalid("Invalid pageToken"));
        };
        Position {
            after,
            snapshot,
            epoch: token_epoch,
            incremental: incremental == 1,
        }
    } else if let Some(sync) = sync {
        let inner = untoken(sync, "syncToken").map_err(|_| stale())?;
        let parts: Vec<u64> = inner
            .strip_prefix("sync.")
            .unwrap_or("")
            .split('.')
            .filter_map(|p| p.parse().ok())
            .collect();
        let [token_epoch, after] = parts[..] else {
            return Err(stale());
        };
        Position {
            after,
            snapshot: counter,
            epoch: token_epoch,
            incremental: true,
        }
    } else {
        Position {
            after: 0,
            snapshot: counter,
            epoch,
            incremental: false,
        }
    };
    if position.incremental && position.epoch != epoch {
        return Err(stale());
    }
    let show_deleted = position.incremental || req.q_bool("showDeleted", false);
    let time_min = req
        .q("timeMin")
        .map(|t| parse_time(t).ok_or_else(|| ApiError::bad_request("Bad Request")))
        .transpose()?;
    let time_max = req
        .q("timeMax")
        .map(|t| parse_time(t).ok_or_else(|| ApiError::bad_request("Bad Request")))
        .transpose()?;
    let words = req.q("q").map(str::to_lowercase);
    let size = page_size(req.q("maxResults"), 250, 2500)?;
    let summary = state.calendar_id(&calendar);
    let now = state.now();
    let cal = state.calendar_existing(&calendar)?;
    let mut candidates: Vec<&CalendarEvent> = cal
        .events
        .iter()
        .filter(|e| e.seq > position.after && e.seq <= position.snapshot)
        .filter(|e| show_deleted || !e.cancelled())
        .filter(|e| {
            time_min.is_none_or(|min| event_time(&e.json["end"], "end").is_ok_and(|end| end > min))
                && time_max.is_none_or(|max| {
                    event_time(&e.json["start"], "start").is_ok_and(|start| start < max)
                })
        })
        .filter(|e| {
            words.as_ref().is_none_or(|w| {
                ["summary", "description", "location"].iter().any(|k| {
                    e.json[k]
                        .as_str()
                        .is_some_and(|s| s.to_lowercase().contains(w))
                })
            })
        })
        .collect();
    candidates.sort_by_key(|e| e.seq);
    let page: Vec<&CalendarEvent> = candidates.iter().take(size).copied().collect();
    let mut body = json!({
        "kind": "calendar#events",
        "etag": format!("\"{}\"", position.snapshot),
        "summary": summary,
        "updated": rfc3339(now),
        "timeZone": "UTC",
        "accessRole": "owner",
        "defaultReminders": [],
        "items": page.iter().map(|e| e.listed()).collect::<Vec<_>>(),
    });
    match page.last() {
        Some(last) if candidates.len() > size => {
            body["nextPageToken"] = token(&format!(
                "{}.{}.{}.{}",
                last.seq,
                position.snapshot,
                position.epoch,
                u8::from(position.incremental)
            ))
            .into();
        }
        _ => {
            body["nextSyncToken"] = token(&format!("sync.{epoch}.{}", position.snapshot)).into();
        }
    }
    ok(body)
}

fn insert_event(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let calendar = req.seg(3).to_owned();
    let mut body = req.json()?;
    if let Some(id) = body["id"].as_str() {
        let taken = state.calendar_existing(&calendar)?.event(id).is_some();
        if taken {
            return Err(ApiError::new(
                409,
                "duplicate",
                "The requested identifier already exists.",
            ));
        }
    }
    if body
        .get("status")
        .is_some_and(|s| s != "confirmed" && s != "tentative")
    {
        body["status"] = "confirmed".into();
    }
    let meet = req.q("conferenceDataVersion") == Some("1");
    ok(state.calendar_store(&calendar, &body, meet)?)
}

fn get_event(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let calendar = req.seg(3).to_owned();
    let cal = state.calendar_existing(&calendar)?;
    let event = cal
        .event(req.seg(5))
        .ok_or_else(|| ApiError::not_found("Not Found"))?;
    ok(event.json.clone())
}

fn patch_event(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let calendar = req.seg(3).to_owned();
    let id = req.seg(5).to_owned();
    if state.calendar_existing(&calendar)?.event(&id).is_none() {
        return Err(ApiError::not_found("Not Found"));
    }
    let mut body = req.json()?;
    let Some(fields) = body.as_object_mut() else {
        return Err(ApiError::bad_request("Bad Request"));
    };
    fields.insert("id".to_owned(), Value::String(id));
    let meet = req.q("conferenceDataVersion") == Some("1");
    ok(state.calendar_store(&calendar, &body, meet)?)
}

fn delete_event(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let calendar = req.seg(3).to_owned();
    let id = req.seg(5).to_owned();
    let cal = state.calendar_existing(&calendar)?;
    match cal.event(&id) {
        None => Err(ApiError::not_found("Not Found")),
        Some(e) if e.cancelled() => Err(ApiError::new(410, "deleted", "Resource has been deleted")),
        Some(_) => {
            state.calendar_store(&calendar, &json!({"id": id, "status": "cancelled"}), false)?;
            Ok(Reply::empty())
        }
    }
}

fn watch_events(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let calendar = state.calendar_id(req.seg(3));
    state.calendar_existing(&calendar)?;
    let uri =
        format!("https://www.googleapis.com/calendar/v3/calendars/{calendar}/events?alt=json");
    let lifetime = Lifetime {
        default_secs: 7 * 86400,
        max_secs: 30 * 86400,
    };
    channels::open(
        state,
        req,
        "calendar",
        format!("calendars/{calendar}/events"),
        uri,
        lifetime,
    )
}

fn freebusy(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let min = body["timeMin"]
        .as_str()
        .ok_or_else(|| ApiError::required("Missing timeMin parameter."))?;
    let max = body["timeMax"]
        .as_str()
        .ok_or_else(|| ApiError::required("Missing timeMax parameter."))?;
    let (min_t, max_t) = match (parse_time(min), parse_time(max)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(ApiError::bad_request("Bad Request")),
    };
    if max_t < min_t {
        return Err(ApiError::new(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
        ));
    }
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut calendars = Map::new();
    for item in body["items"].as_array().into_iter().flatten() {
        let Some(id) = item["id"].as_str() else {
            continue;
        };
        let key = state.calendar_id(id);
        let Some(cal) = state.calendars.get(&key).or(if key == state.email {
            Some(&EMPTY)
        } else {
            None
        }) else {
            calendars.insert(
                id.to_owned(),
                json!({"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}),
            );
            continue;
        };
        let mut busy: Vec<(DateTime<Utc>, DateTime<Utc>)> = cal
            .events
            .iter()
            .filter(|e| !e.cancelled() && e.json["transparency"] != "transparent")
            .filter_map(|e| {
                Some((
                    event_time(&e.json["start"], "start").ok()?,
                    event_time(&e.json["end"], "end").ok()?,
                ))
            })
            .filter(|(s, e)| *e > min_t && *s < max_t)
            .map(|(s, e)| (s.max(min_t), e.min(max_t)))
            .collect();
        busy.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (s, e) in busy {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let busy: Vec<Value> = merged
            .iter()
            .map(|(s, e)| json!({"start": secs(*s), "end": secs(*e)}))
            .collect();
        calendars.insert(id.to_owned(), json!({"busy": busy}));
    }
    ok(
        json!({"kind": "calendar#freeBusy", "timeMin": secs(min_t), "timeMax": secs(max_t), "calendars": calendars}),
    )
}

static EMPTY: Calendar = Calendar {
    events: Vec::new(),
    seq: 0,
};
