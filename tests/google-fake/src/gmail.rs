//! Gmail v1: a mailbox with a monotonically increasing `historyId`, whose every change (message
//! added, labels added or removed, message deleted) appends a history record.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use serde_json::{json, Value};

use crate::channels::GmailWatch;
use crate::error::ApiError;
use crate::page::{page_size, token, untoken};
use crate::server::{ok, Reply, Req, Route, State};

/// Gmail's full-access scope.
pub(crate) const FULL_SCOPE: &str = "https://mail.google.com/";

const READ: &[&str] = &[
    FULL_SCOPE,
    "gmail.modify",
    "gmail.readonly",
    "gmail.metadata",
];
const PROFILE: &[&str] = &[
    FULL_SCOPE,
    "gmail.modify",
    "gmail.readonly",
    "gmail.metadata",
    "gmail.compose",
];
const SEND: &[&str] = &[FULL_SCOPE, "gmail.modify", "gmail.compose", "gmail.send"];
const COMPOSE: &[&str] = &[FULL_SCOPE, "gmail.modify", "gmail.compose"];
const MODIFY: &[&str] = &[FULL_SCOPE, "gmail.modify"];

/// The first history id of a new mailbox.
const FIRST_HISTORY_ID: u64 = 1000;
/// `users.watch` lasts 7 days.
const WATCH_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// A stored message.
#[derive(Debug, Clone)]
pub struct GmailMessage {
    pub id: String,
    pub thread_id: String,
    pub label_ids: Vec<String>,
    /// The RFC 5322 bytes as received or sent.
    pub raw: Vec<u8>,
    pub internal_date_ms: i64,
    /// The id of the last history record that touched the message.
    pub history_id: u64,
    pub deleted: bool,
    /// Decoded header values.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub snippet: String,
}

#[derive(Debug, Clone)]
enum Change {
    Added,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
    Deleted,
}

#[derive(Debug, Clone)]
struct HistoryRecord {
    id: u64,
    message_id: String,
    thread_id: String,
    /// The message's labels right after the change.
    labels: Vec<String>,
    change: Change,
}

/// The mailbox.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub history_id: u64,
    pub messages: Vec<GmailMessage>,
    history: Vec<HistoryRecord>,
    /// History records from this id on are retained; older start ids answer 404.
    retained_from: u64,
    drafts: Vec<(String, String)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self {
            history_id: FIRST_HISTORY_ID,
            messages: Vec::new(),
            history: Vec::new(),
            retained_from: FIRST_HISTORY_ID,
            drafts: Vec::new(),
        }
    }
}

impl Mailbox {
    pub(crate) fn expire_before(&mut self, id: u64) {
        self.retained_from = self.retained_from.max(id);
        self.history.retain(|record| record.id >= id);
    }

    fn record(&mut self, index: usize, change: Change) {
        self.history_id += 1;
        let id = self.history_id;
        let message = &mut self.messages[index];
        message.history_id = id;
        self.history.push(HistoryRecord {
            id,
            message_id: message.id.clone(),
            thread_id: message.thread_id.clone(),
            labels: message.label_ids.clone(),
            change,
        });
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.messages.iter().position(|m| m.id == id && !m.deleted)
    }
}

impl State {
    /// Stores `raw` with `labels`, threading it into `thread_id` when that thread exists.
    pub(crate) fn gmail_insert(
        &mut self,
        raw: Vec<u8>,
        labels: Vec<String>,
        thread_id: Option<&str>,
    ) -> Result<String, ApiError> {
        let (from, to, subject, snippet) = {
            let parsed = MessageParser::default()
                .parse(&raw)
                .ok_or_else(|| ApiError::new(400, "invalidArgument", "Invalid raw message"))?;
            (
                address_text(parsed.from()),
                address_text(parsed.to()),
                parsed.subject().unwrap_or("").to_owned(),
                snippet(&parsed),
            )
        };
        let id = self.new_id("");
        let thread_id = thread_id
            .filter(|t| self.gmail.messages.iter().any(|m| m.thread_id == *t))
            .map_or_else(|| id.clone(), str::to_owned);
        let message = GmailMessage {
            id: id.clone(),
            thread_id,
            label_ids: labels,
            internal_date_ms: self.now().timestamp_millis(),
            history_id: 0,
            deleted: false,
            from,
            to,
            subject,
            snippet,
            raw,
        };
        self.gmail.messages.push(message);
        let index = self.gmail.messages.len() - 1;
        self.gmail.record(index, Change::Added);
        Ok(id)
    }

    pub(crate) fn gmail_modify(&mut self, id: &str, add: &[&str], remove: &[&str]) -> bool {
        let Some(index) = self.gmail.find(id) else {
            return false;
        };
        let labels = &mut self.gmail.messages[index].label_ids;
        let added: Vec<String> = add
            .iter()
            .filter(|l| !labels.iter().any(|x| x == *l))
            .map(|l| (*l).to_owned())
            .collect();
        labels.extend(added.iter().cloned());
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| labels.iter().any(|x| x == *l))
            .map(|l| (*l).to_owned())
            .collect();
        labels.retain(|l| !removed.contains(l));
        if !added.is_empty() {
            self.gmail.record(index, Change::LabelsAdded(added));
        }
        if !removed.is_empty() {
            self.gmail.record(index, Change::LabelsRemoved(removed));
        }
        true
    }

    pub(crate) fn gmail_delete(&mut self, id: &str) -> bool {
        let Some(index) = self.gmail.find(id) else {
            return false;
        };
        self.gmail.messages[index].deleted = true;
        self.gmail.record(index, Change::Deleted);
        true
    }
}

/// The route of `rest` (the path after `users/{userId}`).
pub(crate) fn route(method: &http::Method, rest: &[&str]) -> Option<Route> {
    use http::Method as M;
    let (scopes, handler): (&'static [&'static str], crate::server::Handler) = match (method, rest)
    {
        (&M::GET, ["profile"]) => (PROFILE, get_profile),
        (&M::GET, ["messages"]) => (READ, list_messages),
        (&M::POST, ["messages", "send"]) => (SEND, send_json),
        (&M::GET, ["messages", _]) => (READ, get_message),
        (&M::GET, ["messages", _, "attachments", _]) => (READ, get_attachment),
        (&M::POST, ["messages", _, "modify"]) => (MODIFY, modify_message),
        (&M::POST, ["drafts"]) => (COMPOSE, create_draft),
        (&M::GET, ["history"]) => (READ, list_history),
        (&M::POST, ["watch"]) => (READ, watch),
        (&M::POST, ["stop"]) => (READ, stop),
        _ => return None,
    };
    Some(Route { scopes, handler })
}

/// `POST /upload/gmail/v1/users/{userId}/messages/send` (`uploadType=media`, message/rfc822).
pub(crate) fn upload_route(method: &http::Method, rest: &[&str]) -> Option<Route> {
    match (method, rest) {
        (&http::Method::POST, ["messages", "send"]) => Some(Route {
            scopes: SEND,
            handler: send_media,
        }),
        _ => None,
    }
}

/// The metadata scope alone forbids `q` and bodies, as Gmail does.
fn metadata_only(req: &Req) -> bool {
    !req.has_scope(&[FULL_SCOPE, "gmail.modify", "gmail.readonly"])
}

fn not_found() -> ApiError {
    ApiError::not_found("Requested entity was not found.")
}

fn get_profile(state: &mut State, _req: &Req) -> Result<Reply, ApiError> {
    let live = state.gmail.messages.iter().filter(|m| !m.deleted);
    let threads: std::collections::HashSet<&str> =
        live.clone().map(|m| m.thread_id.as_str()).collect();
    ok(json!({
        "emailAddress": state.email,
        "messagesTotal": live.count(),
        "threadsTotal": threads.len(),
        "historyId": state.gmail.history_id.to_string(),
    }))
}

fn list_messages(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let query = req.q("q").unwrap_or("");
    if !query.is_empty() && metadata_only(req) {
        return Err(ApiError::new(
            403,
            "forbidden",
            "Metadata scope does not support 'q' parameter",
        ));
    }
    let size = page_size(req.q("maxResults"), 100, 500)?;
    let offset = match req.q("pageToken") {
        Some(t) => untoken(t, "pageToken")?
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("Invalid pageToken"))?,
        None => 0,
    };
    let label_ids = req.q_all("labelIds");
    let include_spam_trash = req.q_bool("includeSpamTrash", false);
    let terms = parse_query(query);
    let matching: Vec<&GmailMessage> = state
        .gmail
        .messages
        .iter()
        .rev()
        .filter(|m| !m.deleted)
        .filter(|m| include_spam_trash || !m.label_ids.iter().any(|l| l == "SPAM" || l == "TRASH"))
        .filter(|m| label_ids.iter().all(|l| m.label_ids.iter().any(|x| x == l)))
        .filter(|m| terms.iter().all(|term| term.matches(m)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|m| json!({"id": m.id, "threadId": m.thread_id}))
        .collect();
    let mut body = json!({"resultSizeEstimate": matching.len()});
    if !page.is_empty() {
        body["messages"] = Value::Array(page);
    }
    if offset + size < matching.len() {
        body["nextPageToken"] = token(&(offset + size).to_string()).into();
    }
    ok(body)
}

fn get_message(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let id = req.seg(5);
    let index = state.gmail.find(id).ok_or_else(not_found)?;
    let message = &state.gmail.messages[index];
    let format = req.q("format").unwrap_or("full");
    if metadata_only(req) && matches!(format, "full" | "raw") {
        return Err(ApiError::new(
            403,
            "forbidden",
            format!(
                "Metadata scope doesn't allow format {}",
                format.to_uppercase()
            ),
        ));
    }
    let mut body = json!({
        "id": message.id,
        "threadId": message.thread_id,
        "labelIds": message.label_ids,
        "snippet": message.snippet,
        "historyId": message.history_id.to_string(),
        "internalDate": message.internal_date_ms.to_string(),
        "sizeEstimate": message.raw.len(),
    });
    let parsed = MessageParser::default()
        .parse(&message.raw)
        .ok_or_else(|| ApiError::new(500, "backendError", "Backend Error"))?;
    match format {
        "raw" => body["raw"] = URL_SAFE.encode(&message.raw).into(),
        "minimal" => {}
        "metadata" => {
            let wanted = req.q_all("metadataHeaders");
            let mut payload = part_json(&parsed, 0, "");
            let headers = payload["headers"].as_array().cloned().unwrap_or_default();
            let headers: Vec<Value> = headers
                .into_iter()
                .filter(|h| {
                    wanted.is_empty()
                        || wanted.iter().any(|w| {
                            h["name"]
                                .as_str()
                                .is_some_and(|n| n.eq_ignore_ascii_case(w))
                        })
                })
                .collect();
            payload = json!({"partId": "", "mimeType": payload["mimeType"], "filename": "", "headers": headers});
            body["payload"] = payload;
        }
        "full" => body["payload"] = part_json(&parsed, 0, ""),
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'format' ({other})"
            )))
        }
    }
    ok(body)
}

fn get_attachment(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let index = state.gmail.find(req.seg(5)).ok_or_else(not_found)?;
    let wanted = req
        .seg(7)
        .strip_prefix("ANGjdJ")
        .ok_or_else(not_found)?
        .to_owned();
    let raw = state.gmail.messages[index].raw.clone();
    let parsed = MessageParser::default().parse(&raw).ok_or_else(not_found)?;
    let mut found = None;
    walk_parts(&parsed, 0, "", &mut |part_id, part| {
        if part_id == wanted {
            found = Some(part.contents().to_vec());
        }
    });
    let data = found.ok_or_else(not_found)?;
    ok(json!({"size": data.len(), "data": URL_SAFE.encode(&data)}))
}

fn modify_message(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let strings = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, remove) = (strings("addLabelIds"), strings("removeLabelIds"));
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    let remove: Vec<&str> = remove.iter().map(String::as_str).collect();
    let id = req.seg(5).to_owned();
    if !state.gmail_modify(&id, &add, &remove) {
        return Err(not_found());
    }
    let message = &state.gmail.messages[state.gmail.find(&id).ok_or_else(not_found)?];
    ok(json!({"id": message.id, "threadId": message.thread_id, "labelIds": message.label_ids}))
}

/// Decodes Gmail's `raw` (base64url, padding optional).
fn decode_raw(raw: &Value) -> Result<Vec<u8>, ApiError> {
    let text = raw.as_str().ok_or_else(|| {
        ApiError::new(
            400,
            "invalidArgument",
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
        )
    })?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| ApiError::new(400, "invalidArgument", "Invalid value for ByteString: raw"))
}

fn send(state: &mut State, raw: Vec<u8>, thread_id: Option<&str>) -> Result<Reply, ApiError> {
    let parsed = MessageParser::default()
        .parse(&raw)
        .ok_or_else(|| ApiError::new(400, "invalidArgument", "Invalid raw message"))?;
    let has_recipient = [parsed.to(), parsed.cc(), parsed.bcc()]
        .iter()
        .any(|a| a.is_some_and(|a| a.iter().any(|addr| addr.address().is_some())));
    if !has_recipient {
        return Err(ApiError::new(
            400,
            "invalidArgument",
            "Recipient address required",
        ));
    }
    let id = state.gmail_insert(raw, vec!["SENT".to_owned()], thread_id)?;
    let message = &state.gmail.messages[state.gmail.find(&id).ok_or_else(not_found)?];
    ok(json!({"id": message.id, "threadId": message.thread_id, "labelIds": message.label_ids}))
}

fn send_json(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let raw = decode_raw(&body["raw"])?;
    send(state, raw, body["threadId"].as_str())
}

fn send_media(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    if req.q("uploadType") != Some("media") || !req.content_type.starts_with("message/rfc822") {
        return Err(ApiError::bad_request(
            "Media type 'message/rfc822' with uploadType=media is required",
        ));
    }
    send(state, req.bytes.clone(), None)
}

fn create_draft(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let raw = decode_raw(&body["message"]["raw"])?;
    let id = state.gmail_insert(
        raw,
        vec!["DRAFT".to_owned()],
        body["message"]["threadId"].as_str(),
    )?;
    let draft_id = format!("r{}", 5_000_000_000_000_000_000u64 + state.next_seq());
    state.gmail.drafts.push((draft_id.clone(), id.clone()));
    let message = &state.gmail.messages[state.gmail.find(&id).ok_or_else(not_found)?];
    ok(json!({
        "id": draft_id,
        "message": {"id": message.id, "threadId": message.thread_id, "labelIds": message.label_ids},
    }))
}

fn list_history(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let start = req
        .q("startHistoryId")
        .ok_or_else(|| ApiError::required("Required parameter: startHistoryId"))?;
    let start: u64 = start
        .parse()
        .map_err(|_| ApiError::invalid(format!("Invalid value '{start}' for startHistoryId")))?;
    if start + 1 < state.gmail.retained_from {
        return Err(not_found());
    }
    let after = match req.q("pageToken") {
        Some(t) => untoken(t, "pageToken")?
            .parse::<u64>()
            .map_err(|_| ApiError::invalid("Invalid pageToken"))?,
        None => start,
    };
    let size = page_size(req.q("maxResults"), 100, 500)?;
    let types = req.q_all("historyTypes");
    for t in &types {
        if !matches!(
            *t,
            "messageAdded" | "messageDeleted" | "labelAdded" | "labelRemoved"
        ) {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'history_types' ({t})"
            )));
        }
    }
    let label = req.q("labelId");
    let matching: Vec<&HistoryRecord> = state
        .gmail
        .history
        .iter()
        .filter(|r| r.id > after)
        .filter(|r| types.is_empty() || types.contains(&change_type(&r.change)))
        .filter(|r| label.is_none_or(|l| r.labels.iter().any(|x| x == l)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(size)
        .map(|r| history_json(r))
        .collect();
    let mut body = json!({"historyId": state.gmail.history_id.to_string()});
    if matching.len() > size {
        if let Some(last) = matching.get(size - 1) {
            body["nextPageToken"] = token(&last.id.to_string()).into();
        }
    }
    if !page.is_empty() {
        body["history"] = Value::Array(page);
    }
    ok(body)
}

fn change_type(change: &Change) -> &'static str {
    match change {
        Change::Added => "messageAdded",
        Change::LabelsAdded(_) => "labelAdded",
        Change::LabelsRemoved(_) => "labelRemoved",
        Change::Deleted => "messageDeleted",
    }
}

fn history_json(record: &HistoryRecord) -> Value {
    let short = json!({"id": record.message_id, "threadId": record.thread_id});
    let full =
        json!({"id": record.message_id, "threadId": record.thread_id, "labelIds": record.labels});
    let mut body = json!({"id": record.id.to_string(), "messages": [short]});
    match &record.change {
        Change::Added => body["messagesAdded"] = json!([{"message": full}]),
        Change::LabelsAdded(labels) => {
            body["labelsAdded"] = json!([{"message": full, "labelIds": labels}]);
        }
        Change::LabelsRemoved(labels) => {
            body["labelsRemoved"] = json!([{"message": full, "labelIds": labels}]);
        }
        Change::Deleted => body["messagesDeleted"] = json!([{"message": short}]),
    }
    body
}

fn watch(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let topic = body["topicName"].as_str().unwrap_or("");
    let parts: Vec<&str> = topic.split('/').collect();
    if !matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty()) {
        return Err(ApiError::new(
            400,
            "invalidArgument",
            format!(
                "Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC: {topic}"
            ),
        ));
    }
    let expiration = state.now().timestamp_millis() + WATCH_LIFETIME_MS;
    let calls = state.gmail_watch.as_ref().map_or(0, |w| w.calls);
    let behavior = body["labelFilterBehavior"]
        .as_str()
        .or(body["labelFilterAction"].as_str())
        .unwrap_or("include")
        .to_ascii_lowercase();
    state.gmail_watch = Some(GmailWatch {
        topic_name: topic.to_owned(),
        label_ids: body["labelIds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        label_filter_behavior: behavior,
        history_id: state.gmail.history_id,
        expiration_ms: expiration,
        calls: calls + 1,
        stopped: false,
    });
    ok(
        json!({"historyId": state.gmail.history_id.to_string(), "expiration": expiration.to_string()}),
    )
}

fn stop(state: &mut State, _req: &Req) -> Result<Reply, ApiError> {
    if let Some(watch) = &mut state.gmail_watch {
        watch.stopped = true;
    }
    Ok(Reply::empty())
}

// --- MIME ----------------------------------------------------------------------------------

/// A plain-text RFC 5322 message (a UTF-8 subject as an RFC 2047 encoded word).
pub(crate) fn plain_message(
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> String {
    let subject = if subject.is_ascii() {
        subject.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject)
        )
    };
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{}@fake.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        now.to_rfc2822(),
        uuid::Uuid::new_v4().simple(),
    )
}

fn address_text(address: Option<&Address<'_>>) -> String {
    address.map_or_else(String::new, |a| {
        a.iter()
            .map(|addr| match (addr.name(), addr.address()) {
                (Some(name), Some(email)) => format!("{name} <{email}>"),
                (None, Some(email)) => email.to_owned(),
                (Some(name), None) => name.to_owned(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn snippet(message: &Message<'_>) -> String {
    let text = message.body_preview(400).unwrap_or_default();
    let collapsed: Vec<&str> = text.split_whitespace().collect();
    collapsed.join(" ").chars().take(200).collect()
}

/// A header's value as Gmail shows it: unfolded, RFC 2047 words decoded.
fn header_value(message: &Message<'_>, header: &mail_parser::Header<'_>) -> String {
    let raw = message
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let unfolded = raw.replace("\r\n", "").replace('\n', "");
    let unfolded = unfolded.trim();
    if !unfolded.contains("=?") {
        return unfolded.to_owned();
    }
    match header.value() {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(", "),
        HeaderValue::Address(address) => address_text(Some(address)),
        _ => unfolded.to_owned(),
    }
}

fn walk_parts<'a>(
    message: &'a Message<'a>,
    index: u32,
    part_id: &str,
    visit: &mut dyn FnMut(&str, &'a mail_parser::MessagePart<'a>),
) {
    let Some(part) = message.parts.get(index as usize) else {
        return;
    };
    visit(part_id, part);
    if let PartType::Multipart(children) = &part.body {
        for (n, child) in children.iter().enumerate() {
            let id = if part_id.is_empty() {
                n.to_string()
            } else {
                format!("{part_id}.{n}")
            };
            walk_parts(message, *child, &id, visit);
        }
    }
}

/// The Gmail `MessagePart` of mail-parser part `index`: MIME type, filename, headers, body
/// (`data` base64url for inline parts, `attachmentId` for attachments) and sub-parts.
fn part_json(message: &Message<'_>, index: u32, part_id: &str) -> Value {
    let Some(part) = message.parts.get(index as usize) else {
        return Value::Null;
    };
    let mime_type = part.content_type().map_or_else(
        || "text/plain".to_owned(),
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
    );
    let filename = part.attachment_name().unwrap_or("").to_owned();
    let headers: Vec<Value> = part
        .headers
        .iter()
        .map(|h| json!({"name": h.name(), "value": header_value(message, h)}))
        .collect();
    let mut body = json!({
        "partId": part_id,
        "mimeType": mime_type,
        "filename": filename,
        "headers": headers,
    });
    match &part.body {
        PartType::Multipart(children) => {
            body["body"] = json!({"size": 0});
            body["parts"] = children
                .iter()
                .enumerate()
                .map(|(n, child)| {
                    let id = if part_id.is_empty() {
                        n.to_string()
                    } else {
                        format!("{part_id}.{n}")
                    };
                    part_json(message, *child, &id)
                })
                .collect();
        }
        _ => {
            let contents = part.contents();
            body["body"] = if filename.is_empty() {
                json!({"size": contents.len(), "data": URL_SAFE.encode(contents)})
            } else {
                json!({"size": contents.len(), "attachmentId": format!("ANGjdJ{part_id}")})
            };
        }
    }
    body
}

// --- Search --------------------------------------------------------------------------------

/// One term of the `q` subset: `from:`, `to:`, `subject:`, `label:`, `in:`, `is:`, or a word.
#[derive(Debug)]
enum Term {
    From(String),
    To(String),
    Subject(String),
    Label(String),
    Word(String),
}

impl Term {
    fn matches(&self, m: &GmailMessage) -> bool {
        let contains =
            |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
        match self {
            Term::From(x) => contains(&m.from, x),
            Term::To(x) => contains(&m.to, x),
            Term::Subject(x) => contains(&m.subject, x),
            Term::Label(x) => m.label_ids.iter().any(|l| l.eq_ignore_ascii_case(x)),
            Term::Word(x) => {
                contains(&m.subject, x) || contains(&m.snippet, x) || contains(&m.from, x)
            }
        }
    }
}

fn parse_query(q: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut rest = q.trim();
    while !rest.is_empty() {
        let (token, after) = next_token(rest);
        rest = after.trim_start();
        let term = match token.split_once(':') {
            Some(("from", v)) => Term::From(v.to_owned()),
            Some(("to", v)) => Term::To(v.to_owned()),
            Some(("subject", v)) => Term::Subject(v.to_owned()),
            Some(("label", v)) | Some(("in", v)) => Term::Label(match v {
                "drafts" => "DRAFT".to_owned(),
                other => other.replace('-', "_"),
            }),
            Some(("is", "unread")) => Term::Label("UNREAD".to_owned()),
            Some(("is", "starred")) => Term::Label("STARRED".to_owned()),
            Some(("is", "important")) => Term::Label("IMPORTANT".to_owned()),
            _ => Term::Word(token.trim_matches('"').to_owned()),
        };
        terms.push(term);
    }
    terms
}

/// The next whitespace-separated token; a quoted value (`subject:"a b"`) stays whole, unquoted.
fn next_token(text: &str) -> (String, &str) {
    let mut out = String::new();
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (out, &text[i..]),
            c => out.push(c),
        }
    }
    (out, "")
}
