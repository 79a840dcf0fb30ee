//! Calendar: create and update events from a friendly input (attendees, time zones, an
//! optional Meet link), mapped onto Google's event resource.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{send_json, text};
use crate::executor::{Call, Payload};
use crate::ToolError;

/// Creates (POST) or patches (PATCH, only the fields given) the event, as the method's `http`
/// says; `add_meet` asks Google for a Meet conference.
pub(super) async fn write_event(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let body = event_resource(input);
    let mut query = vec![("conferenceDataVersion".to_owned(), "1".to_owned())];
    if let Some(send_updates) = text(input, "send_updates") {
        query.push(("sendUpdates".to_owned(), send_updates.to_owned()));
    }
    let event = send_json(call, input, query, Payload::Json(body)).await?;
    Ok(summary(&event))
}

/// `{date_time, time_zone}` or `{date}` as Google's `{dateTime, timeZone}` / `{date}`.
fn event_time(time: &Value) -> Value {
    let mut out = Map::new();
    if let Some(v) = time.get("date_time") {
        out.insert("dateTime".into(), v.clone());
    }
    if let Some(v) = time.get("date") {
        out.insert("date".into(), v.clone());
    }
    if let Some(v) = time.get("time_zone") {
        out.insert("timeZone".into(), v.clone());
    }
    Value::Object(out)
}

/// The Google event resource of the input's fields (absent fields stay absent: a PATCH keeps
/// them).
fn event_resource(input: &Value) -> Value {
    let mut event = Map::new();
    for (from, to) in [
        ("summary", "summary"),
        ("description", "description"),
        ("location", "location"),
        ("visibility", "visibility"),
        ("transparency", "transparency"),
    ] {
        if let Some(v) = input.get(from) {
            event.insert(to.into(), v.clone());
        }
    }
    for key in ["start", "end"] {
        if let Some(time) = input.get(key) {
            event.insert(key.into(), event_time(time));
        }
    }
    if let Some(attendees) = input.get("attendees").and_then(Value::as_array) {
        let list: Vec<Value> = attendees
            .iter()
            .map(|a| {
                let mut attendee = json!({"email": a["email"]});
                if let Some(optional) = a.get("optional") {
                    attendee["optional"] = optional.clone();
                }
                if let Some(name) = a.get("display_name") {
                    attendee["displayName"] = name.clone();
                }
                attendee
            })
            .collect();
        event.insert("attendees".into(), Value::Array(list));
    }
    if input.get("add_meet").and_then(Value::as_bool) == Some(true) {
        // The same input asks with the same request id, so a retried write gets the same
        // conference instead of a second one.
        let digest = Sha256::digest(input.to_string().as_bytes());
        let request_id = hex::encode(&digest[..16]);
        event.insert(
            "conferenceData".into(),
            json!({"createRequest": {"requestId": request_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}}),
        );
    }
    Value::Object(event)
}

/// The tool's view of a Google event.
fn summary(event: &Value) -> Value {
    let meet = event["hangoutLink"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            event["conferenceData"]["entryPoints"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["entryPointType"] == "video")
                .and_then(|e| e["uri"].as_str().map(str::to_owned))
        });
    let mut out = json!({
        "id": event["id"],
        "status": event["status"],
        "html_link": event["htmlLink"],
        "summary": event.get("summary").cloned().unwrap_or(Value::Null),
        "start": event["start"],
        "end": event["end"],
        "attendees": event
            .get("attendees")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| json!({"email": x["email"], "response_status": x["responseStatus"]})).collect::<Vec<_>>())
            .unwrap_or_default(),
        "updated": event["updated"],
    });
    if let Some(link) = meet {
        out["meet_link"] = link.into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_input_maps_to_googles_resource() {
        let input = json!({"calendar_id": "primary", "summary": "Sync",
            "start": {"date_time": "2026-03-02T10:00:00", "time_zone": "Europe/Berlin"},
            "end": {"date": "2026-03-03"},
            "attendees": [{"email": "a@example.com", "optional": true}], "add_meet": true});
        let event = event_resource(&input);
        assert_eq!(
            event["start"],
            json!({"dateTime": "2026-03-02T10:00:00", "timeZone": "Europe/Berlin"})
        );
        assert_eq!(event["end"], json!({"date": "2026-03-03"}));
        assert_eq!(
            event["attendees"],
            json!([{"email": "a@example.com", "optional": true}])
        );
        let request = &event["conferenceData"]["createRequest"];
        assert_eq!(request["conferenceSolutionKey"]["type"], "hangoutsMeet");
        assert_eq!(
            event_resource(&input)["conferenceData"],
            event["conferenceData"],
            "stable request id"
        );
        assert!(event.get("calendar_id").is_none());
        let patch =
            event_resource(&json!({"calendar_id": "primary", "event_id": "e", "summary": "x"}));
        assert_eq!(patch, json!({"summary": "x"}));
    }
}
