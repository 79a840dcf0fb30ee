//! The Google tools end to end (emulator): every Gmail, Calendar, Drive and Docs method through
//! the real pipeline (`switchyard::tools::invoke`: definition, schema, instance, grant, OAuth
//! connection from the vault, scope check, provider call, receipt) against the loopback Google
//! fake; least privilege (`insufficient_scope` with no request made); rate limits (429 and 403
//! `rateLimitExceeded` retried, `insufficientPermissions` not); the export and upload caps; and a
//! MIME message that `mail-parser` reads back exactly.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Value};
use switchyard::connections::{Connection, Status};
use switchyard::oauth::vault;
use switchyard::secret::SecretString;
use switchyard::tools::ToolResponse;
use switchyard_google_fake::{GoogleFake, Scripted};

use crate::support::Stack;

const AGENT: &str = "agent-g";
pub const INSTANCE: &str = "acme-google";
const TOKEN: &str = "ya29.fake-access-token";
const AUTH: &str = "https://www.googleapis.com/auth/";

/// A stack with a Google instance whose OAuth connection holds [`TOKEN`] granted `scopes`
/// (short names under `…/auth/`, or full URLs), and the fake accepting that token with them.
pub struct Google {
    pub stack: Stack,
    pub fake: GoogleFake,
}

fn full(scope: &str) -> String {
    if scope.starts_with("https://") {
        scope.to_owned()
    } else {
        format!("{AUTH}{scope}")
    }
}

impl Google {
    pub async fn new(scopes: &[&str]) -> Self {
        let stack = Stack::new().await;
        let fake = GoogleFake::start().await;
        let scopes: Vec<String> = scopes.iter().map(|s| full(s)).collect();
        fake.grant(
            TOKEN,
            &scopes.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let app = &stack.app;
        let connection_id = "conn-google-1";
        // What the OAuth callback stores: the sealed tokens and the granted scopes.
        let sealed = app
            .keyring
            .seal_for(
                "google",
                vault::CONTEXT,
                connection_id,
                &BTreeMap::from([("access_token".to_owned(), SecretString::from(TOKEN))]),
            )
            .await
            .expect("seal");
        let now = app.clock.now();
        let mut granted = vec!["openid".to_owned(), format!("{AUTH}userinfo.email")];
        granted.extend(scopes);
        let connection = Connection {
            id: connection_id.into(),
            instance_id: INSTANCE.into(),
            provider: "google".into(),
            workspace: "acme".into(),
            auth_type: "oauth2".into(),
            account_id: Some("1234567890".into()),
            account_name: None,
            account_email: Some(GoogleFake::EMAIL.into()),
            owner: None,
            scopes: granted,
            status: Status::Active,
            token_expires_at: None,
            token_issued_at: Some(now),
            has_refresh_token: false,
            sealed: Some(sealed),
            version: 0,
            lease_until: None,
            created_at: now,
            updated_at: now,
            last_refreshed_at: None,
            last_error: None,
        };
        app.connections
            .upsert(&connection, now)
            .await
            .expect("connection");
        let settings: Vec<(String, String)> = [
            ("client_id", "cid.apps.googleusercontent.com"),
            ("client_secret", "client-secret"),
            ("api_base_url", fake.base_url.as_str()),
            ("connection_id", connection_id),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        switchyard_ops::admin::create_instance(app, "google", INSTANCE, "acme", &settings)
            .await
            .expect("instance");
        switchyard_ops::admin::grant(app, INSTANCE, AGENT, &Default::default())
            .await
            .expect("grant");
        Self { stack, fake }
    }

    async fn call(&self, tool: &str, input: Value) -> ToolResponse {
        crate::support::call_tool(&self.stack.app, AGENT, INSTANCE, tool, input).await
    }

    /// The output of a call that must succeed.
    async fn ok(&self, tool: &str, input: Value) -> Value {
        match self.call(tool, input).await {
            ToolResponse::Ok { output, .. } => output,
            ToolResponse::Err { error, .. } => panic!("{tool} failed: {error:?}"),
        }
    }

    /// The error code and message of a call that must fail.
    async fn err(&self, tool: &str, input: Value) -> (String, String, Option<String>) {
        match self.call(tool, input).await {
            ToolResponse::Ok { output, .. } => panic!("{tool} succeeded: {output}"),
            ToolResponse::Err {
                error, receipt_id, ..
            } => (error.code.as_str().to_owned(), error.message, receipt_id),
        }
    }

    async fn receipt(&self, response: &ToolResponse) -> switchyard::tools::receipts::Receipt {
        crate::support::receipt_of(&self.stack.app, response).await
    }
}

#[tokio::test]
async fn gmail_sends_mime_that_parses_back_exactly_drafts_lists_and_reads() {
    let g = Google::new(&["gmail.send", "gmail.compose", "gmail.readonly"]).await;
    let pdf = vec![0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x10, 0x80];
    let subject = "Grüße aus Köln – ✓ Quartalsbericht";
    let sent = g
        .ok(
            "gmail.send_message",
            json!({
                "from": "Zoë Müller <owner@example.com>",
                "to": ["Ann Ödegaard <ann@example.com>", "bob@example.com"],
                "cc": ["carol@example.com"],
                "subject": subject,
                "text": "Hallo Ann,\nder Bericht hängt an.",
                "html": "<p>Hallo Ann,<br>der Bericht <b>hängt</b> an.</p>",
                "attachments": [{"filename": "bericht.pdf", "content_type": "application/pdf",
                                 "content_base64": STANDARD.encode(&pdf)}],
            }),
        )
        .await;
    assert_eq!(sent["label_ids"], json!(["SENT"]));
    let id = sent["id"].as_str().expect("id");
    let stored = g.fake.gmail_message(id).expect("sent message");

    let parsed = MessageParser::default().parse(&stored.raw).expect("parses");
    assert_eq!(parsed.subject(), Some(subject));
    let from = parsed.from().and_then(|a| a.first()).expect("from");
    assert_eq!(
        (from.name(), from.address()),
        (Some("Zoë Müller"), Some("owner@example.com"))
    );
    let to: Vec<(Option<&str>, Option<&str>)> = parsed
        .to()
        .expect("to")
        .iter()
        .map(|a| (a.name(), a.address()))
        .collect();
    assert_eq!(
        to,
        [
            (Some("Ann Ödegaard"), Some("ann@example.com")),
            (None, Some("bob@example.com"))
        ]
    );
    // Text travels in canonical form: CRLF line breaks (RFC 2046 §4.1.1).
    assert_eq!(
        parsed.body_text(0).as_deref(),
        Some("Hallo Ann,\r\nder Bericht hängt an.")
    );
    assert_eq!(
        parsed.body_html(0).as_deref(),
        Some("<p>Hallo Ann,<br>der Bericht <b>hängt</b> an.</p>")
    );
    let attachment = parsed.attachment(0).expect("attachment");
    assert_eq!(attachment.attachment_name(), Some("bericht.pdf"));
    assert_eq!(attachment.contents(), pdf.as_slice());
    assert_eq!(parsed.attachment_count(), 1);
    let raw_headers = String::from_utf8_lossy(&stored.raw);
    assert!(
        raw_headers.is_ascii(),
        "UTF-8 only as encoded words and transfer encodings"
    );

    // get_message decodes it again, through Gmail's payload.
    let read = g.ok("gmail.get_message", json!({"message_id": id})).await;
    assert_eq!(read["headers"]["subject"], subject);
    assert_eq!(read["text"], "Hallo Ann,\r\nder Bericht hängt an.");
    assert!(read["html"]
        .as_str()
        .is_some_and(|h| h.contains("<b>hängt</b>")));
    assert_eq!(read["attachments"][0]["filename"], "bericht.pdf");
    assert_eq!(read["attachments"][0]["size"], pdf.len());
    let (code, _, _) = g
        .err(
            "gmail.get_message",
            json!({"message_id": "ffffffffffffffff"}),
        )
        .await;
    assert_eq!(code, "provider_not_found");

    let draft = g
        .ok(
            "gmail.create_draft",
            json!({"to": ["ann@example.com"], "subject": "Entwurf", "text": "später"}),
        )
        .await;
    assert!(draft["draft_id"].is_string());
    assert_eq!(
        g.fake.gmail_labeled("DRAFT")[0].id,
        draft["message_id"].as_str().expect("message id")
    );

    for n in 0..5 {
        g.fake.gmail_receive(
            "alice@example.com",
            GoogleFake::EMAIL,
            &format!("Invoice {n}"),
            "amount due",
            &["INBOX", "UNREAD"],
        );
    }
    let listed = g
        .ok(
            "gmail.list_messages",
            json!({"q": "from:alice@example.com", "maxResults": 2, "max_pages": 2}),
        )
        .await;
    assert_eq!(listed["messages"].as_array().map(Vec::len), Some(4));
    assert!(listed["nextPageToken"].is_string());
    assert_eq!(listed["resultSizeEstimate"], 5);
    let rest = g
        .ok(
            "gmail.list_messages",
            json!({"q": "from:alice@example.com", "maxResults": 2, "pageToken": listed["nextPageToken"]}),
        )
        .await;
    assert_eq!(rest["messages"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("nextPageToken").is_none());
    let sends = g.fake.requests();
    assert!(sends
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")[..])));
}

#[tokio::test]
async fn calendar_creates_with_meet_updates_lists_frees_busy_and_deletes() {
    let g = Google::new(&["calendar.events", "calendar.freebusy"]).await;
    let created = g
        .ok(
            "calendar.create_event",
            json!({
                "calendar_id": "primary",
                "summary": "Planung",
                "start": {"date_time": "2026-03-02T10:00:00", "time_zone": "Europe/Berlin"},
                "end": {"date_time": "2026-03-02T11:00:00", "time_zone": "Europe/Berlin"},
                "attendees": [{"email": "ann@example.com"}, {"email": "bob@example.com", "optional": true}],
                "add_meet": true,
                "send_updates": "all",
            }),
        )
        .await;
    assert_eq!(created["status"], "confirmed");
    assert!(created["meet_link"]
        .as_str()
        .is_some_and(|l| l.starts_with("https://meet.google.com/")));
    assert_eq!(created["attendees"][1]["response_status"], "needsAction");
    let id = created["id"].as_str().expect("id").to_owned();
    let insert = g
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("insert");
    assert_eq!(insert.query_param("conferenceDataVersion"), Some("1"));
    assert_eq!(insert.query_param("sendUpdates"), Some("all"));
    assert_eq!(
        insert.body["start"],
        json!({"dateTime": "2026-03-02T10:00:00", "timeZone": "Europe/Berlin"})
    );

    let updated = g
        .ok(
            "calendar.update_event",
            json!({"calendar_id": "primary", "event_id": id, "summary": "Planung (verschoben)",
                   "start": {"date_time": "2026-03-02T14:00:00Z"}, "end": {"date_time": "2026-03-02T15:00:00Z"}}),
        )
        .await;
    assert_eq!(updated["summary"], "Planung (verschoben)");
    assert_eq!(updated["meet_link"], created["meet_link"], "kept by PATCH");
    let stored = g.fake.calendar_event("primary", &id).expect("event");
    assert_eq!(stored.json["attendees"].as_array().map(Vec::len), Some(2));
    assert_eq!(stored.json["sequence"], 1);

    g.fake.calendar_upsert(
        "primary",
        &json!({"summary": "Other", "start": {"dateTime": "2026-03-05T09:00:00Z"}, "end": {"dateTime": "2026-03-05T10:00:00Z"}}),
    );
    let listed = g
        .ok(
            "calendar.list_events",
            json!({"calendar_id": "primary", "timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-03T00:00:00Z"}),
        )
        .await;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(listed["nextSyncToken"].is_string());

    let busy = g
        .ok(
            "calendar.freebusy",
            json!({"timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-03T00:00:00Z", "items": [{"id": "primary"}]}),
        )
        .await;
    assert_eq!(
        busy["calendars"]["primary"]["busy"],
        json!([{"start": "2026-03-02T14:00:00Z", "end": "2026-03-02T15:00:00Z"}])
    );

    let deleted = g
        .ok(
            "calendar.delete_event",
            json!({"calendar_id": "primary", "event_id": id}),
        )
        .await;
    assert_eq!(deleted, json!({}));
    assert_eq!(
        g.fake.calendar_event("primary", &id).expect("kept").json["status"],
        "cancelled"
    );
    let (code, message, _) = g
        .err(
            "calendar.delete_event",
            json!({"calendar_id": "primary", "event_id": id}),
        )
        .await;
    assert_eq!(code, "provider_error", "{message}");
    assert!(message.starts_with("deleted:"), "{message}");
    let (code, _, _) = g
        .err(
            "calendar.create_event",
            json!({"calendar_id": "primary", "start": {"date": "2026-03-03"}}),
        )
        .await;
    assert_eq!(code, "invalid_input", "end is required");
}

#[tokio::test]
async fn drive_lists_reads_exports_within_caps_and_uploads_multipart() {
    let g = Google::new(&["drive"]).await;
    let doc = g.fake.docs_put(
        "Roadmap",
        &[("HEADING_1", "Roadmap"), ("NORMAL_TEXT", "Q1: ship")],
    );
    let sheet = g.fake.drive_put_file(
        None,
        "Budget 2026",
        "application/vnd.google-apps.spreadsheet",
        b"item,eur\nrent,1200\n",
    );
    let binary = g
        .fake
        .drive_put_file(None, "photo.jpg", "image/jpeg", &[0xff, 0xd8, 0xff]);

    let listed = g
        .ok(
            "drive.list_files",
            json!({"q": "mimeType != 'image/jpeg' and trashed = false", "pageSize": 1, "max_pages": 3}),
        )
        .await;
    let names: Vec<&str> = listed["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["Roadmap", "Budget 2026"]);
    let file = g.ok("drive.get_file", json!({"file_id": binary})).await;
    assert_eq!(
        (file["name"].as_str(), file["size"].as_str()),
        (Some("photo.jpg"), Some("3"))
    );
    assert!(file["modifiedTime"].is_string());

    let text = g
        .ok(
            "drive.export_file",
            json!({"file_id": doc, "format": "text"}),
        )
        .await;
    assert_eq!(text["text"], "Roadmap\nQ1: ship\n");
    let csv = g
        .ok(
            "drive.export_file",
            json!({"file_id": sheet, "format": "csv"}),
        )
        .await;
    assert_eq!(csv["text"], "item,eur\nrent,1200\n");
    let pdf = g
        .ok(
            "drive.export_file",
            json!({"file_id": sheet, "format": "pdf"}),
        )
        .await;
    let bytes = STANDARD
        .decode(pdf["content_base64"].as_str().expect("pdf"))
        .expect("base64");
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(pdf["size"], bytes.len());

    // Our cap: the export arrives but is refused.
    let (code, message, _) = g
        .err(
            "drive.export_file",
            json!({"file_id": doc, "format": "text", "max_bytes": 5}),
        )
        .await;
    assert_eq!(code, "too_large", "{message}");
    // Google's cap (10 MB, lowered in the fake): 403 exportSizeLimitExceeded.
    g.fake.set_export_limit(10);
    let (code, message, _) = g
        .err(
            "drive.export_file",
            json!({"file_id": doc, "format": "text"}),
        )
        .await;
    assert_eq!(code, "too_large", "{message}");
    assert!(message.contains("exportSizeLimitExceeded"), "{message}");

    let uploaded = g
        .ok(
            "drive.upload_file",
            json!({"name": "notes.txt", "mime_type": "text/plain", "text": "héllo", "parents": ["folder-1"]}),
        )
        .await;
    assert_eq!(uploaded["size"], "héllo".len());
    let stored = g
        .fake
        .drive_file(uploaded["id"].as_str().expect("id"))
        .expect("stored");
    assert_eq!(stored.content, "héllo".as_bytes());
    assert_eq!(stored.parents, ["folder-1"]);
    let upload = g
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/upload/drive/v3/files")
        .expect("upload request");
    assert_eq!(upload.query_param("uploadType"), Some("multipart"));
    assert!(upload
        .header("content-type")
        .is_some_and(|t| t.starts_with("multipart/related; boundary=")));

    let before = g.fake.requests().len();
    let too_big = STANDARD.encode(vec![7u8; 4 * 1024 * 1024 + 1]);
    let (code, _, _) = g
        .err(
            "drive.upload_file",
            json!({"name": "big.bin", "content_base64": too_big}),
        )
        .await;
    assert_eq!(code, "too_large");
    assert_eq!(g.fake.requests().len(), before, "refused before any call");
}

#[tokio::test]
async fn docs_create_append_replace_and_read_text_and_headings() {
    let g = Google::new(&["documents"]).await;
    let created = g
        .ok("docs.create_document", json!({"title": "Protokoll"}))
        .await;
    assert_eq!(created["title"], "Protokoll");
    let id = created["document_id"].as_str().expect("id").to_owned();
    g.ok(
        "docs.append_text",
        json!({"document_id": id, "text": "Teilnehmer: Ann, Bob\nBeschluss: Bob macht es"}),
    )
    .await;
    let replaced = g
        .ok(
            "docs.replace_text",
            json!({"document_id": id, "find": "Bob", "replace": "Carol"}),
        )
        .await;
    assert_eq!(replaced["occurrences_changed"], 2);
    let none = g
        .ok(
            "docs.replace_text",
            json!({"document_id": id, "find": "Dave", "replace": "Eve"}),
        )
        .await;
    assert_eq!(none["occurrences_changed"], 0);
    assert_eq!(
        g.fake.docs_text(&id).expect("doc"),
        "Teilnehmer: Ann, Carol\nBeschluss: Carol macht es\n"
    );

    let seeded = g.fake.docs_put(
        "Spec",
        &[
            ("TITLE", "Spec"),
            ("HEADING_1", "Ziele"),
            ("NORMAL_TEXT", "Schnell sein."),
            ("HEADING_2", "Nicht-Ziele"),
            ("NORMAL_TEXT", "Alles andere."),
        ],
    );
    let read = g
        .ok("docs.get_document", json!({"document_id": seeded}))
        .await;
    assert_eq!(
        read["text"],
        "Spec\nZiele\nSchnell sein.\nNicht-Ziele\nAlles andere.\n"
    );
    let headings: Vec<(u64, &str)> = read["headings"]
        .as_array()
        .expect("headings")
        .iter()
        .map(|h| {
            (
                h["level"].as_u64().unwrap_or(99),
                h["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(headings, [(0, "Spec"), (1, "Ziele"), (2, "Nicht-Ziele")]);
    let (code, _, _) = g
        .err("docs.get_document", json!({"document_id": "nope"}))
        .await;
    assert_eq!(code, "provider_not_found");
}

#[tokio::test]
async fn a_missing_scope_fails_with_insufficient_scope_and_makes_no_call() {
    let g = Google::new(&["gmail.readonly", "drive.file"]).await;
    let (code, message, receipt) = g
        .err(
            "gmail.send_message",
            json!({"to": ["ann@example.com"], "subject": "x", "text": "y"}),
        )
        .await;
    assert_eq!(code, "insufficient_scope");
    assert!(
        message.contains("needs scope https://www.googleapis.com/auth/gmail.send"),
        "{message}"
    );
    for (tool, input) in [
        ("calendar.list_events", json!({"calendar_id": "primary"})),
        (
            "calendar.freebusy",
            json!({"timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-03T00:00:00Z", "items": [{"id": "primary"}]}),
        ),
    ] {
        let (code, _, _) = g.err(tool, input).await;
        assert_eq!(code, "insufficient_scope", "{tool}");
    }
    assert!(g.fake.requests().is_empty(), "no provider call was made");
    let receipt = g
        .stack
        .app
        .tools()
        .receipts
        .get(&receipt.expect("receipt"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(receipt.status, "insufficient_scope");
    assert!(receipt.attempts.is_empty());

    // What the scopes do allow works; drive.file sees only what the app created.
    g.ok("gmail.list_messages", json!({})).await;
    let mine = g
        .ok(
            "drive.upload_file",
            json!({"name": "mine.txt", "mime_type": "text/plain", "text": "x"}),
        )
        .await;
    let theirs = g
        .fake
        .drive_put_file(None, "theirs.txt", "text/plain", b"secret");
    g.ok("drive.get_file", json!({"file_id": mine["id"]})).await;
    let (code, _, _) = g.err("drive.get_file", json!({"file_id": theirs})).await;
    assert_eq!(code, "provider_not_found");
}

#[tokio::test]
async fn rate_limits_429_and_403_are_retried_and_permission_errors_are_not() {
    let g = Google::new(&["gmail.send", "gmail.readonly", "drive.readonly"]).await;
    g.fake.script(
        "/gmail/v1/users/me/messages",
        vec![Scripted::rate_limited(1)],
    );
    let response = g.call("gmail.list_messages", json!({})).await;
    assert!(response.error().is_none(), "{response:?}");
    let receipt = g.receipt(&response).await;
    let statuses: Vec<Option<u16>> = receipt.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    assert!(receipt.attempts[0].waited_ms >= 1000, "Retry-After honored");

    // Drive's 403 rate limits, twice, then the answer.
    g.fake.script(
        "/drive/v3/files",
        vec![
            Scripted::rate_limited_403("rateLimitExceeded"),
            Scripted::rate_limited_403("userRateLimitExceeded"),
        ],
    );
    let response = g.call("drive.list_files", json!({})).await;
    assert!(response.error().is_none(), "{response:?}");
    let statuses: Vec<Option<u16>> = g
        .receipt(&response)
        .await
        .attempts
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, [Some(403), Some(403), Some(200)]);

    // A 403 rate limit on a send: Google did not act, so even a POST is sent again, once.
    g.fake.script(
        "/gmail/v1/users/me/messages/send",
        vec![Scripted::rate_limited_403("userRateLimitExceeded")],
    );
    g.ok(
        "gmail.send_message",
        json!({"to": ["ann@example.com"], "text": "once"}),
    )
    .await;
    assert_eq!(g.fake.count("POST", "/gmail/v1/users/me/messages/send"), 2);
    assert_eq!(g.fake.gmail_labeled("SENT").len(), 1);

    // insufficientPermissions is the provider refusing the credential: not retried.
    g.fake.script(
        "/drive/v3/files",
        vec![Scripted::error(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )],
    );
    let before = g.fake.count("GET", "/drive/v3/files");
    let (code, message, _) = g.err("drive.list_files", json!({})).await;
    assert_eq!(code, "provider_auth", "{message}");
    assert!(message.starts_with("insufficientPermissions:"), "{message}");
    assert_eq!(g.fake.count("GET", "/drive/v3/files"), before + 1);
}
