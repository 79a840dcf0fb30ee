//! The fake against its own HTTP surface: paging, 404/410, scopes, scripts, the product models.

#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::{GoogleFake, Scripted};

const GMAIL_READ: &str = "https://www.googleapis.com/auth/gmail.readonly";
const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
const DRIVE: &str = "https://www.googleapis.com/auth/drive";
const DRIVE_FILE: &str = "https://www.googleapis.com/auth/drive.file";
const CALENDAR: &str = "https://www.googleapis.com/auth/calendar";
const DOCUMENTS: &str = "https://www.googleapis.com/auth/documents";

/// A client; in a workspace build reqwest's rustls needs the process's crypto provider.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: &'static str,
}

impl Client {
    fn new(fake: &GoogleFake, token: &'static str) -> Self {
        Self {
            http: http(),
            base: fake.base_url.clone(),
            token,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, query, None).await
    }

    async fn post(&self, path: &str, query: &[(&str, &str)], body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, query, Some(body))
            .await
    }
}

fn reason(body: &Value) -> &str {
    body["error"]["errors"][0]["reason"].as_str().unwrap_or("")
}

#[tokio::test]
async fn authentication_scopes_and_scripts() {
    let fake = GoogleFake::start().await;
    fake.grant("read", &[GMAIL_READ]);
    let anonymous = Client::new(&fake, "unknown");
    let (status, body) = anonymous.get("/gmail/v1/users/me/profile", &[]).await;
    assert_eq!((status, reason(&body)), (401, "authError"));
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let reader = Client::new(&fake, "read");
    let (status, body) = reader.get("/gmail/v1/users/me/profile", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["emailAddress"], GoogleFake::EMAIL);
    let (status, body) = reader
        .post("/gmail/v1/users/me/messages/send", &[], json!({"raw": "x"}))
        .await;
    assert_eq!((status, reason(&body)), (403, "insufficientPermissions"));
    assert_eq!(
        body["error"]["message"],
        "Request had insufficient authentication scopes."
    );
    assert!(fake.gmail_labeled("SENT").is_empty());

    fake.script(
        "/gmail/v1/users/me/messages",
        vec![
            Scripted::rate_limited(3),
            Scripted::rate_limited_403("userRateLimitExceeded"),
        ],
    );
    let (status, body) = reader.get("/gmail/v1/users/me/messages", &[]).await;
    assert_eq!((status, reason(&body)), (429, "rateLimitExceeded"));
    let (status, body) = reader.get("/gmail/v1/users/me/messages", &[]).await;
    assert_eq!((status, reason(&body)), (403, "userRateLimitExceeded"));
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    let (status, _) = reader.get("/gmail/v1/users/me/messages", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(fake.count("GET", "/gmail/v1/users/me/messages"), 3);
    let (status, body) = reader.get("/gmail/v1/users/me/nothing", &[]).await;
    assert_eq!((status, reason(&body)), (404, "notFound"));
}

#[tokio::test]
async fn gmail_history_pages_filters_and_expires() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[GMAIL_READ]);
    let gmail = Client::new(&fake, "t");
    let start = fake.gmail_history_id();
    let a = fake.gmail_receive(
        "Ann <ann@example.com>",
        GoogleFake::EMAIL,
        "Hello",
        "first body",
        &["INBOX", "UNREAD"],
    );
    let b = fake.gmail_receive(
        "bob@example.com",
        GoogleFake::EMAIL,
        "Invoice",
        "second",
        &["INBOX"],
    );
    assert!(fake.gmail_set_labels(&a, &["STARRED"], &["UNREAD"]));
    assert!(fake.gmail_delete(&b));
    assert_eq!(fake.gmail_history_id(), start + 5);

    // Across pages of 2.
    let mut records = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let start_text = start.to_string();
        let mut query = vec![("startHistoryId", start_text.as_str()), ("maxResults", "2")];
        if let Some(p) = &page {
            query.push(("pageToken", p.as_str()));
        }
        let (status, body) = gmail.get("/gmail/v1/users/me/history", &query).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["historyId"], (start + 5).to_string());
        records.extend(body["history"].as_array().cloned().unwrap_or_default());
        match body["nextPageToken"].as_str() {
            Some(p) => page = Some(p.to_owned()),
            None => break,
        }
    }
    assert_eq!(records.len(), 5);
    assert_eq!(records[0]["messagesAdded"][0]["message"]["id"], a.as_str());
    assert_eq!(
        records[0]["messagesAdded"][0]["message"]["labelIds"],
        json!(["INBOX", "UNREAD"])
    );
    assert_eq!(records[2]["labelsAdded"][0]["labelIds"], json!(["STARRED"]));
    assert_eq!(
        records[3]["labelsRemoved"][0]["labelIds"],
        json!(["UNREAD"])
    );
    assert_eq!(
        records[4]["messagesDeleted"][0]["message"]["id"],
        b.as_str()
    );
    let ids: Vec<u64> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Type and label filters.
    let start_text = start.to_string();
    let (_, body) = gmail
        .get(
            "/gmail/v1/users/me/history",
            &[
                ("startHistoryId", &start_text),
                ("historyTypes", "messageAdded"),
                ("labelId", "UNREAD"),
            ],
        )
        .await;
    assert_eq!(body["history"].as_array().map(Vec::len), Some(1));
    // Nothing new: no `history`, the current id.
    let now_text = fake.gmail_history_id().to_string();
    let (_, body) = gmail
        .get(
            "/gmail/v1/users/me/history",
            &[("startHistoryId", &now_text)],
        )
        .await;
    assert!(body.get("history").is_none());

    fake.expire_history_before(start + 3);
    let (status, body) = gmail
        .get(
            "/gmail/v1/users/me/history",
            &[("startHistoryId", &start_text)],
        )
        .await;
    assert_eq!((status, reason(&body)), (404, "notFound"));
    let kept = (start + 2).to_string();
    let (status, body) = gmail
        .get("/gmail/v1/users/me/history", &[("startHistoryId", &kept)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["history"].as_array().map(Vec::len), Some(3));
    let (status, body) = gmail.get("/gmail/v1/users/me/history", &[]).await;
    assert_eq!((status, reason(&body)), (400, "required"));
}

#[tokio::test]
async fn gmail_lists_gets_sends_and_watches() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[GMAIL_READ, GMAIL_SEND]);
    let gmail = Client::new(&fake, "t");
    for n in 0..5 {
        fake.gmail_receive(
            "ann@example.com",
            GoogleFake::EMAIL,
            &format!("Report {n}"),
            "numbers",
            &["INBOX"],
        );
    }
    let id = fake.gmail_receive(
        "Zoë <zoe@example.com>",
        GoogleFake::EMAIL,
        "Grüße",
        "Hallo Welt",
        &["INBOX", "UNREAD"],
    );

    let (_, body) = gmail
        .get(
            "/gmail/v1/users/me/messages",
            &[("q", "from:ann@example.com"), ("maxResults", "3")],
        )
        .await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(body["resultSizeEstimate"], 5);
    let next = body["nextPageToken"].as_str().unwrap().to_owned();
    let (_, body) = gmail
        .get(
            "/gmail/v1/users/me/messages",
            &[
                ("q", "from:ann@example.com"),
                ("maxResults", "3"),
                ("pageToken", &next),
            ],
        )
        .await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(2));
    assert!(body.get("nextPageToken").is_none());
    let (_, body) = gmail
        .get("/gmail/v1/users/me/messages", &[("labelIds", "UNREAD")])
        .await;
    assert_eq!(body["messages"][0]["id"], id.as_str());
    let (_, body) = gmail
        .get(
            "/gmail/v1/users/me/messages",
            &[("q", "subject:\"Report 3\"")],
        )
        .await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));

    let (status, body) = gmail
        .get(&format!("/gmail/v1/users/me/messages/{id}"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let headers = body["payload"]["headers"].as_array().unwrap();
    let subject = headers.iter().find(|h| h["name"] == "Subject").unwrap();
    assert_eq!(subject["value"], "Grüße");
    let data = body["payload"]["body"]["data"].as_str().unwrap();
    let text = URL_SAFE_NO_PAD.decode(data.trim_end_matches('=')).unwrap();
    assert_eq!(String::from_utf8(text).unwrap().trim_end(), "Hallo Welt");
    assert_eq!(body["snippet"], "Hallo Welt");
    let (_, body) = gmail
        .get(
            &format!("/gmail/v1/users/me/messages/{id}"),
            &[("format", "metadata"), ("metadataHeaders", "From")],
        )
        .await;
    assert_eq!(body["payload"]["headers"].as_array().map(Vec::len), Some(1));
    let (status, body) = gmail.get("/gmail/v1/users/me/messages/ffff", &[]).await;
    assert_eq!((status, reason(&body)), (404, "notFound"));

    let raw = "From: owner@example.com\r\nTo: x@example.com\r\nSubject: Out\r\n\r\nbody\r\n";
    let encoded = URL_SAFE_NO_PAD.encode(raw);
    let (status, body) = gmail
        .post(
            "/gmail/v1/users/me/messages/send",
            &[],
            json!({"raw": encoded}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["labelIds"], json!(["SENT"]));
    let sent = fake.gmail_message(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(sent.raw, raw.as_bytes());
    let no_rcpt = URL_SAFE_NO_PAD.encode("Subject: x\r\n\r\nb");
    let (status, body) = gmail
        .post(
            "/gmail/v1/users/me/messages/send",
            &[],
            json!({"raw": no_rcpt}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("Recipient address required"))
    );

    let (status, body) = gmail
        .post(
            "/gmail/v1/users/me/watch",
            &[],
            json!({"topicName": "projects/p/topics/gmail", "labelIds": ["INBOX"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["historyId"], fake.gmail_history_id().to_string());
    let expiration: i64 = body["expiration"].as_str().unwrap().parse().unwrap();
    assert!(expiration > fake.now_ms() + 6 * 86_400_000);
    let (status, body) = gmail
        .post(
            "/gmail/v1/users/me/watch",
            &[],
            json!({"topicName": "gmail"}),
        )
        .await;
    assert_eq!((status, reason(&body)), (400, "invalidArgument"));
    let (status, _) = gmail.post("/gmail/v1/users/me/stop", &[], json!({})).await;
    assert_eq!(status, 204);
    let watch = fake.gmail_watch().unwrap();
    assert_eq!(
        (watch.calls, watch.stopped, watch.label_ids),
        (1, true, vec!["INBOX".to_owned()])
    );
}

#[tokio::test]
async fn drive_changes_page_to_a_new_start_token() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[DRIVE]);
    let drive = Client::new(&fake, "t");
    let (_, body) = drive.get("/drive/v3/changes/startPageToken", &[]).await;
    let start = body["startPageToken"].as_str().unwrap().to_owned();
    let a = fake.drive_put_file(None, "a.txt", "text/plain", b"alpha");
    let b = fake.drive_put_file(
        None,
        "Plan",
        "application/vnd.google-apps.document",
        b"plan",
    );
    assert!(fake.drive_change(&a));
    assert!(fake.drive_remove(&b));

    let mut token = start.clone();
    let mut changes = Vec::new();
    let new_start = loop {
        let (status, body) = drive
            .get(
                "/drive/v3/changes",
                &[("pageToken", &token), ("pageSize", "3"), ("fields", "*")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        changes.extend(body["changes"].as_array().cloned().unwrap());
        match (
            body["nextPageToken"].as_str(),
            body["newStartPageToken"].as_str(),
        ) {
            (Some(next), None) => token = next.to_owned(),
            (None, Some(new_start)) => break new_start.to_owned(),
            other => panic!("exactly one of the tokens: {other:?}"),
        }
    };
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[0]["fileId"], a.as_str());
    assert_eq!(changes[0]["file"]["size"], "5");
    assert_eq!(
        changes[3],
        json!({"kind": "drive#change", "changeType": "file", "time": changes[3]["time"], "removed": true, "fileId": b})
    );
    let (_, body) = drive
        .get("/drive/v3/changes", &[("pageToken", &new_start)])
        .await;
    assert_eq!(body["changes"], json!([]));
    assert_eq!(body["newStartPageToken"], new_start.as_str());
    // The default partial response: file(kind,id,name,mimeType) only.
    let (_, body) = drive
        .get("/drive/v3/changes", &[("pageToken", &start)])
        .await;
    assert_eq!(
        body["changes"][0]["file"],
        json!({"kind": "drive#file", "id": a, "name": "a.txt", "mimeType": "text/plain"})
    );
    let (status, body) = drive
        .get("/drive/v3/changes", &[("pageToken", "999")])
        .await;
    assert_eq!((status, reason(&body)), (400, "invalid"));
}

#[tokio::test]
async fn drive_lists_exports_uploads_and_hides_foreign_files_under_drive_file() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[DRIVE]);
    fake.grant("app", &[DRIVE_FILE]);
    let drive = Client::new(&fake, "t");
    for n in 0..5 {
        fake.drive_put_file(None, &format!("notes {n}"), "text/plain", b"x");
    }
    let sheet = fake.drive_put_file(
        None,
        "Budget",
        "application/vnd.google-apps.spreadsheet",
        b"a,b\n1,2\n",
    );
    let (_, body) = drive
        .get(
            "/drive/v3/files",
            &[
                ("q", "name contains 'notes' and trashed = false"),
                ("pageSize", "2"),
                ("fields", "nextPageToken,files(id,name)"),
            ],
        )
        .await;
    assert_eq!(body["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["files"][0].as_object().map(|o| o.len()), Some(2));
    assert!(body["nextPageToken"].is_string());
    let (status, body) = drive
        .get("/drive/v3/files", &[("q", "name wibble 'x'")])
        .await;
    assert_eq!((status, reason(&body)), (400, "invalid"));

    let path = format!("/drive/v3/files/{sheet}/export");
    let response = http()
        .get(format!("{}{path}", fake.base_url))
        .bearer_auth("t")
        .query(&[("mimeType", "text/csv")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");
    let (status, body) = drive.get(&path, &[("mimeType", "application/pdf")]).await;
    assert_eq!(status, 200);
    assert!(body.as_str().unwrap().starts_with("%PDF-1.4"));
    let (status, body) = drive.get(&path, &[("mimeType", "text/plain")]).await;
    assert_eq!((status, reason(&body)), (400, "badRequest"));
    fake.set_export_limit(4);
    let (status, body) = drive.get(&path, &[("mimeType", "text/csv")]).await;
    assert_eq!((status, reason(&body)), (403, "exportSizeLimitExceeded"));

    // Multipart upload by the app; drive.file sees only that file.
    let body = b"--b0undary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":\"up.bin\",\"parents\":[\"folder1\"]}\r\n--b0undary\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n--b0undary--\r\n";
    let response = http()
        .post(format!("{}/upload/drive/v3/files", fake.base_url))
        .bearer_auth("app")
        .query(&[
            ("uploadType", "multipart"),
            ("fields", "id,name,size,parents"),
        ])
        .header("content-type", "multipart/related; boundary=b0undary")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        (created["name"].as_str(), created["size"].as_str()),
        (Some("up.bin"), Some("3"))
    );
    assert_eq!(created["parents"], json!(["folder1"]));
    let id = created["id"].as_str().unwrap();
    assert_eq!(fake.drive_file(id).unwrap().content, vec![0, 1, 2]);
    let app = Client::new(&fake, "app");
    let (_, body) = app.get("/drive/v3/files", &[]).await;
    assert_eq!(body["files"].as_array().map(Vec::len), Some(1));
    let (status, body) = app.get(&format!("/drive/v3/files/{sheet}"), &[]).await;
    assert_eq!((status, reason(&body)), (404, "notFound"));
}

#[tokio::test]
async fn watch_channels_open_and_stop() {
    let fake = GoogleFake::start().await;
    fake.grant_all("t");
    let api = Client::new(&fake, "t");
    let (_, body) = api.get("/drive/v3/changes/startPageToken", &[]).await;
    let token = body["startPageToken"].as_str().unwrap().to_owned();
    let request = |id: &str| json!({"id": id, "type": "web_hook", "address": "https://hooks.example.com/g", "token": "secret-1"});
    let (status, first) = api
        .post(
            "/drive/v3/changes/watch",
            &[("pageToken", &token)],
            request("ch-1"),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "api#channel");
    assert_eq!(first["token"], "secret-1");
    let expiration: i64 = first["expiration"].as_str().unwrap().parse().unwrap();
    assert!(
        (expiration - fake.now_ms() - 3_600_000).abs() < 10_000,
        "default 1 h"
    );
    let (status, body) = api
        .post(
            "/drive/v3/changes/watch",
            &[("pageToken", &token)],
            request("ch-1"),
        )
        .await;
    assert_eq!((status, reason(&body)), (400, "push.channelIdNotUnique"));
    let (_, second) = api
        .post(
            "/drive/v3/changes/watch",
            &[("pageToken", &token)],
            request("ch-2"),
        )
        .await;
    assert_eq!(
        second["resourceId"], first["resourceId"],
        "the same resource"
    );
    let (status, body) = api
        .post(
            "/drive/v3/changes/watch",
            &[("pageToken", &token)],
            json!({"id": "x", "type": "web_hook", "address": "http://example.com"}),
        )
        .await;
    assert_eq!((status, reason(&body)), (400, "push.webhookUrlNotHttps"));

    let (_, cal) = api
        .post(
            "/calendar/v3/calendars/primary/events/watch",
            &[],
            request("cal-1"),
        )
        .await;
    assert_eq!(
        cal["resourceUri"],
        format!(
            "https://www.googleapis.com/calendar/v3/calendars/{}/events?alt=json",
            GoogleFake::EMAIL
        )
    );

    let stop = |c: &Value| json!({"id": c["id"], "resourceId": c["resourceId"]});
    let (status, _) = api.post("/drive/v3/channels/stop", &[], stop(&first)).await;
    assert_eq!(status, 204);
    let (status, body) = api.post("/drive/v3/channels/stop", &[], stop(&first)).await;
    assert_eq!((status, reason(&body)), (404, "notFound"));
    let (status, _) = api.post("/drive/v3/channels/stop", &[], stop(&cal)).await;
    assert_eq!(
        status, 404,
        "a Calendar channel is not stopped through Drive"
    );
    let (status, _) = api
        .post("/calendar/v3/channels/stop", &[], stop(&cal))
        .await;
    assert_eq!(status, 204);
    let channels = fake.channels();
    assert_eq!(
        channels
            .iter()
            .map(|c| (c.id.as_str(), c.stopped))
            .collect::<Vec<_>>(),
        vec![("ch-1", true), ("ch-2", false), ("cal-1", true)]
    );
    assert_eq!(
        fake.channel("ch-2").unwrap().token.as_deref(),
        Some("secret-1")
    );
}

#[tokio::test]
async fn calendar_syncs_incrementally_and_goes_stale() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[CALENDAR]);
    let cal = Client::new(&fake, "t");
    let event = |summary: &str, hour: u32| {
        json!({"summary": summary,
            "start": {"dateTime": format!("2026-03-02T{hour:02}:00:00+01:00"), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": format!("2026-03-02T{hour:02}:30:00+01:00"), "timeZone": "Europe/Berlin"}})
    };
    let ids: Vec<String> = (0..5)
        .map(|n| fake.calendar_upsert("primary", &event(&format!("E{n}"), 9 + n)))
        .collect();

    let path = "/calendar/v3/calendars/primary/events";
    let mut items = Vec::new();
    let mut page: Option<String> = None;
    let sync = loop {
        let mut query = vec![("maxResults", "2")];
        if let Some(p) = &page {
            query.push(("pageToken", p));
        }
        let (status, body) = cal.get(path, &query).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["items"].as_array().cloned().unwrap());
        match (
            body["nextPageToken"].as_str(),
            body["nextSyncToken"].as_str(),
        ) {
            (Some(p), None) => page = Some(p.to_owned()),
            (None, Some(s)) => break s.to_owned(),
            other => panic!("nextSyncToken only on the last page: {other:?}"),
        }
    };
    assert_eq!(items.len(), 5);

    fake.calendar_upsert("primary", &json!({"id": ids[1], "summary": "Moved", "start": {"dateTime": "2026-03-02T15:00:00Z"}, "end": {"dateTime": "2026-03-02T16:00:00Z"}}));
    assert!(fake.calendar_cancel("primary", &ids[2]));
    let (_, body) = cal.get(path, &[("syncToken", &sync)]).await;
    let changed = body["items"].as_array().unwrap();
    assert_eq!(changed.len(), 2);
    assert_eq!(
        (
            changed[0]["id"].as_str(),
            changed[0]["summary"].as_str(),
            changed[0]["sequence"].as_i64()
        ),
        (Some(ids[1].as_str()), Some("Moved"), Some(1))
    );
    assert_eq!(changed[1]["status"], "cancelled");
    let sync2 = body["nextSyncToken"].as_str().unwrap().to_owned();
    let (_, body) = cal.get(path, &[("syncToken", &sync2)]).await;
    assert_eq!(body["items"], json!([]));
    // A full list hides cancelled events.
    let (_, body) = cal.get(path, &[]).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(4));
    let (_, body) = cal
        .get(
            path,
            &[
                ("timeMin", "2026-03-02T12:00:00Z"),
                ("timeMax", "2026-03-02T15:30:00Z"),
            ],
        )
        .await;
    assert_eq!(
        body["items"].as_array().map(|i| i.len()),
        Some(2),
        "E3 (12:00+01) is before; Moved and E4 overlap"
    );

    fake.invalidate_sync_tokens();
    let (status, body) = cal.get(path, &[("syncToken", &sync2)]).await;
    assert_eq!((status, reason(&body)), (410, "fullSyncRequired"));
    assert_eq!(body["error"]["code"], 410);
    let (status, body) = cal.get(path, &[("syncToken", &sync2), ("q", "x")]).await;
    assert_eq!((status, reason(&body)), (400, "invalid"));
}

#[tokio::test]
async fn calendar_inserts_with_meet_patches_deletes_and_answers_freebusy() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[CALENDAR]);
    let cal = Client::new(&fake, "t");
    let path = "/calendar/v3/calendars/primary/events";
    let body = json!({
        "summary": "Sync",
        "start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-02T11:00:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": "ann@example.com"}],
        "conferenceData": {"createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}},
    });
    let (status, event) = cal
        .post(path, &[("conferenceDataVersion", "1")], body.clone())
        .await;
    assert_eq!(status, 200, "{event}");
    assert!(event["hangoutLink"]
        .as_str()
        .unwrap()
        .starts_with("https://meet.google.com/"));
    assert_eq!(
        event["conferenceData"]["createRequest"]["status"]["statusCode"],
        "success"
    );
    assert_eq!(event["attendees"][0]["responseStatus"], "needsAction");
    let (_, plain) = cal.post(path, &[], body).await;
    assert!(plain.get("hangoutLink").is_none() && plain.get("conferenceData").is_none());

    let (status, body) = cal.post(path, &[], json!({"start": {"dateTime": "2026-03-02T10:00:00"}, "end": {"dateTime": "2026-03-02T11:00:00Z"}})).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("Missing time zone definition for start time."))
    );
    let (status, body) = cal
        .post(
            path,
            &[],
            json!({"start": {"date": "2026-03-03"}, "end": {"date": "2026-03-02"}}),
        )
        .await;
    assert_eq!((status, reason(&body)), (400, "timeRangeEmpty"));

    let id = event["id"].as_str().unwrap();
    let (status, patched) = cal
        .call(
            reqwest::Method::PATCH,
            &format!("{path}/{id}"),
            &[],
            Some(json!({"summary": "Renamed"})),
        )
        .await;
    assert_eq!(
        (status, patched["summary"].as_str()),
        (200, Some("Renamed"))
    );
    assert_eq!(patched["hangoutLink"], event["hangoutLink"]);

    let (status, busy) = cal
        .post("/calendar/v3/freeBusy", &[], json!({"timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-03T00:00:00Z", "items": [{"id": "primary"}, {"id": "nobody@example.com"}]}))
        .await;
    assert_eq!(status, 200, "{busy}");
    assert_eq!(
        busy["calendars"]["primary"]["busy"],
        json!([{"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z"}])
    );
    assert_eq!(
        busy["calendars"]["nobody@example.com"]["errors"][0]["reason"],
        "notFound"
    );

    let (status, _) = cal
        .call(reqwest::Method::DELETE, &format!("{path}/{id}"), &[], None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = cal
        .call(reqwest::Method::DELETE, &format!("{path}/{id}"), &[], None)
        .await;
    assert_eq!((status, reason(&body)), (410, "deleted"));
    assert_eq!(
        fake.calendar_event("primary", id).unwrap().json["status"],
        "cancelled"
    );
    let (status, body) = cal
        .get("/calendar/v3/calendars/nobody@example.com/events", &[])
        .await;
    assert_eq!((status, reason(&body)), (404, "notFound"));
}

#[tokio::test]
async fn docs_create_update_read_and_enter_drives_change_log() {
    let fake = GoogleFake::start().await;
    fake.grant("t", &[DOCUMENTS, DRIVE]);
    let docs = Client::new(&fake, "t");
    let (_, body) = docs.get("/drive/v3/changes/startPageToken", &[]).await;
    let start = body["startPageToken"].as_str().unwrap().to_owned();
    let (status, created) = docs
        .post("/v1/documents", &[], json!({"title": "Notes"}))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["documentId"].as_str().unwrap().to_owned();
    let update = json!({"requests": [
        {"insertText": {"text": "Ünïcode line\nsecond hello", "endOfSegmentLocation": {}}},
        {"insertText": {"text": "Hello ", "location": {"index": 1}}},
        {"replaceAllText": {"containsText": {"text": "HELLO", "matchCase": false}, "replaceText": "bye"}},
        {"replaceAllText": {"containsText": {"text": "absent", "matchCase": true}, "replaceText": "x"}},
    ]});
    let (status, body) = docs
        .post(&format!("/v1/documents/{id}:batchUpdate"), &[], update)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["replies"][2]["replaceAllText"]["occurrencesChanged"],
        2
    );
    assert_eq!(body["replies"][3], json!({"replaceAllText": {}}));
    assert_eq!(
        fake.docs_text(&id).unwrap(),
        "bye Ünïcode line\nsecond bye\n"
    );

    let (_, doc) = docs.get(&format!("/v1/documents/{id}"), &[]).await;
    let content = doc["body"]["content"].as_array().unwrap();
    assert_eq!(content[0]["endIndex"], 1);
    assert_eq!(
        content[1]["paragraph"]["elements"][0]["textRun"]["content"],
        "bye Ünïcode line\n"
    );
    assert_eq!(
        (
            content[1]["startIndex"].as_u64(),
            content[1]["endIndex"].as_u64()
        ),
        (Some(1), Some(18))
    );
    let (status, body) = docs
        .post(
            &format!("/v1/documents/{id}:batchUpdate"),
            &[],
            json!({"requests": [{"insertText": {"text": "x", "location": {"index": 99}}}]}),
        )
        .await;
    assert_eq!((status, reason(&body)), (400, "badRequest"));

    let seeded = fake.docs_put(
        "Spec",
        &[("HEADING_1", "Goals"), ("NORMAL_TEXT", "Ship it")],
    );
    let (_, doc) = docs.get(&format!("/v1/documents/{seeded}"), &[]).await;
    assert_eq!(
        doc["body"]["content"][1]["paragraph"]["paragraphStyle"]["namedStyleType"],
        "HEADING_1"
    );

    let (_, changes) = docs
        .get(
            "/drive/v3/changes",
            &[
                ("pageToken", &start),
                ("fields", "changes(fileId,file(mimeType))"),
            ],
        )
        .await;
    let changed: Vec<&str> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fileId"].as_str().unwrap())
        .collect();
    assert_eq!(changed, vec![id.as_str(), id.as_str(), seeded.as_str()]);
    assert_eq!(
        changes["changes"][0]["file"]["mimeType"],
        "application/vnd.google-apps.document"
    );
    let response = http()
        .get(format!("{}/drive/v3/files/{id}/export", fake.base_url))
        .bearer_auth("t")
        .query(&[("mimeType", "text/plain")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "bye Ünïcode line\nsecond bye\n"
    );
}
