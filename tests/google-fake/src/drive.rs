//! Drive v3: files with a change log (`changes.getStartPageToken`, `changes.list`), listing and
//! metadata, export of Google Docs/Sheets/Slides (capped like Google's 10 MB), uploads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::channels::{self, Lifetime};
use crate::error::ApiError;
use crate::page::{page_size, token, untoken, Fields};
use crate::server::{ok, parse_time, rfc3339, Reply, Req, Route, State};

/// The scopes every read method here accepts.
pub(crate) const DRIVE_ANY: &[&str] = &[
    "drive",
    "drive.appdata",
    "drive.file",
    "drive.meet.readonly",
    "drive.metadata",
    "drive.metadata.readonly",
    "drive.photos.readonly",
    "drive.readonly",
];
const EXPORT: &[&str] = &[
    "drive",
    "drive.file",
    "drive.meet.readonly",
    "drive.readonly",
];
const CREATE: &[&str] = &["drive", "drive.appdata", "drive.file"];
/// Scopes that see every file; `drive.file` alone sees only files the app created.
const BROAD: &[&str] = &[
    "drive",
    "drive.readonly",
    "drive.metadata",
    "drive.metadata.readonly",
];

/// Google's export cap.
const EXPORT_LIMIT: usize = 10 << 20;

pub(crate) const DOC: &str = "application/vnd.google-apps.document";
const SHEET: &str = "application/vnd.google-apps.spreadsheet";
const SLIDES: &str = "application/vnd.google-apps.presentation";

/// `POST /upload/drive/v3/files`.
pub(crate) const UPLOAD_ROUTE: Route = Route {
    scopes: CREATE,
    handler: upload,
};

/// A stored file.
#[derive(Debug, Clone)]
pub struct DriveFile {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub description: Option<String>,
    pub parents: Vec<String>,
    pub trashed: bool,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Bumped on every change.
    pub version: u64,
    /// The bytes (for Google Docs/Sheets/Slides: their text or CSV, what export converts).
    pub content: Vec<u8>,
    /// Created through the API (visible under `drive.file`).
    pub app_created: bool,
}

impl DriveFile {
    fn is_google_type(&self) -> bool {
        self.mime_type.starts_with("application/vnd.google-apps.")
    }

    fn json(&self, owner: &str) -> Value {
        let link = match self.mime_type.as_str() {
            DOC => format!("https://docs.google.com/document/d/{}/edit", self.id),
            SHEET => format!("https://docs.google.com/spreadsheets/d/{}/edit", self.id),
            SLIDES => format!("https://docs.google.com/presentation/d/{}/edit", self.id),
            _ => format!("https://drive.google.com/file/d/{}/view", self.id),
        };
        let mut body = json!({
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": self.parents,
            "trashed": self.trashed,
            "createdTime": rfc3339(self.created),
            "modifiedTime": rfc3339(self.modified),
            "version": self.version.to_string(),
            "webViewLink": link,
            "owners": [{"kind": "drive#user", "emailAddress": owner, "me": true, "displayName": "Owner"}],
        });
        if let Some(description) = &self.description {
            body["description"] = description.clone().into();
        }
        if !self.is_google_type() {
            body["size"] = self.content.len().to_string().into();
        }
        body
    }
}

#[derive(Debug, Clone)]
struct ChangeRecord {
    file_id: String,
    time: DateTime<Utc>,
    removed: bool,
}

/// The drive: files in creation order and the change log (page token N = the Nth change).
#[derive(Debug)]
pub(crate) struct Drive {
    pub files: BTreeMap<String, DriveFile>,
    order: Vec<String>,
    changes: Vec<ChangeRecord>,
    pub export_limit: usize,
}

impl Default for Drive {
    fn default() -> Self {
        Self {
            files: BTreeMap::new(),
            order: Vec::new(),
            changes: Vec::new(),
            export_limit: EXPORT_LIMIT,
        }
    }
}

impl State {
    fn drive_record(&mut self, file_id: &str, removed: bool) {
        let time = self.now();
        self.drive.changes.push(ChangeRecord {
            file_id: file_id.to_owned(),
            time,
            removed,
        });
    }

    /// Creates or replaces a file and records the change.
    pub(crate) fn drive_put(
        &mut self,
        id: Option<&str>,
        name: &str,
        mime_type: &str,
        content: Vec<u8>,
        parents: Option<Vec<String>>,
    ) -> String {
        self.drive_store(id, name, mime_type, content, parents, false)
    }

    fn drive_store(
        &mut self,
        id: Option<&str>,
        name: &str,
        mime_type: &str,
        content: Vec<u8>,
        parents: Option<Vec<String>>,
        app_created: bool,
    ) -> String {
        let now = self.now();
        let id = id.map_or_else(|| self.new_id("1"), str::to_owned);
        let existing = self.drive.files.get(&id).cloned();
        let file = DriveFile {
            id: id.clone(),
            name: name.to_owned(),
            mime_type: mime_type.to_owned(),
            description: existing.as_ref().and_then(|f| f.description.clone()),
            parents: parents
                .or_else(|| existing.as_ref().map(|f| f.parents.clone()))
                .unwrap_or_else(|| vec!["root".to_owned()]),
            trashed: false,
            created: existing.as_ref().map_or(now, |f| f.created),
            modified: now,
            version: existing.as_ref().map_or(1, |f| f.version + 1),
            content,
            app_created: existing.as_ref().map_or(app_created, |f| f.app_created),
        };
        if existing.is_none() {
            self.drive.order.push(id.clone());
        }
        self.drive.files.insert(id.clone(), file);
        self.drive_record(&id, false);
        id
    }

    pub(crate) fn drive_touch(&mut self, id: &str) -> bool {
        let now = self.now();
        let Some(file) = self.drive.files.get_mut(id) else {
            return false;
        };
        file.modified = now;
        file.version += 1;
        self.drive_record(id, false);
        true
    }

    pub(crate) fn drive_trash(&mut self, id: &str) -> bool {
        let Some(file) = self.drive.files.get_mut(id) else {
            return false;
        };
        file.trashed = true;
        self.drive_touch(id)
    }

    pub(crate) fn drive_remove(&mut self, id: &str) -> bool {
        if self.drive.files.remove(id).is_none() {
            return false;
        }
        self.drive.order.retain(|f| f != id);
        self.drive_record(id, true);
        true
    }

    pub(crate) fn drive_set_content(&mut self, id: &str, content: Vec<u8>) {
        if let Some(file) = self.drive.files.get_mut(id) {
            file.content = content;
        }
        self.drive_touch(id);
    }

    /// Creates the Drive side of a new Google Doc (created through the API).
    pub(crate) fn drive_create_doc(&mut self, id: &str, title: &str, text: Vec<u8>) {
        self.drive_store(Some(id), title, DOC, text, None, true);
    }
}

/// The route of `rest` (the path after `drive/v3`).
pub(crate) fn route(method: &http::Method, rest: &[&str]) -> Option<Route> {
    use http::Method as M;
    let (scopes, handler): (&'static [&'static str], crate::server::Handler) = match (method, rest)
    {
        (&M::GET, ["changes", "startPageToken"]) => (DRIVE_ANY, start_page_token),
        (&M::GET, ["changes"]) => (DRIVE_ANY, list_changes),
        (&M::POST, ["changes", "watch"]) => (DRIVE_ANY, watch_changes),
        (&M::POST, ["channels", "stop"]) => return Some(channels::DRIVE_STOP_ROUTE),
        (&M::GET, ["files"]) => (DRIVE_ANY, list_files),
        (&M::POST, ["files"]) => (CREATE, create_metadata),
        (&M::GET, ["files", _]) => (DRIVE_ANY, get_file),
        (&M::GET, ["files", _, "export"]) => (EXPORT, export_file),
        (&M::POST, ["files", _, "watch"]) => (DRIVE_ANY, watch_file),
        _ => return None,
    };
    Some(Route { scopes, handler })
}

fn sees_all(req: &Req) -> bool {
    req.has_scope(BROAD)
}

fn visible(req: &Req, file: &DriveFile) -> bool {
    file.app_created || sees_all(req)
}

fn file_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("File not found: {id}."))
}

fn find<'a>(state: &'a State, req: &Req, id: &str) -> Result<&'a DriveFile, ApiError> {
    state
        .drive
        .files
        .get(id)
        .filter(|f| visible(req, f))
        .ok_or_else(|| file_not_found(id))
}

/// The `fields` of `req` applied to `body`, or Drive's default partial response
/// (`default` selected) when there is none.
fn select(req: &Req, body: &Value, default: &str) -> Result<Value, ApiError> {
    let mask = req.q("fields").unwrap_or(default);
    Ok(match Fields::parse(mask)? {
        Some(fields) => fields.apply(body),
        None => body.clone(),
    })
}

fn start_page_token(state: &mut State, _req: &Req) -> Result<Reply, ApiError> {
    ok(json!({
        "kind": "drive#startPageToken",
        "startPageToken": (state.drive.changes.len() + 1).to_string(),
    }))
}

fn list_changes(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let next = state.drive.changes.len() + 1;
    let token = req
        .q("pageToken")
        .ok_or_else(|| ApiError::required("Required parameter: pageToken"))?;
    let from = token
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=next).contains(n))
        .ok_or_else(|| ApiError::invalid(format!("Invalid Value: pageToken {token}")))?;
    let size = page_size(req.q("pageSize"), 100, 1000)?;
    let include_removed = req.q_bool("includeRemoved", true);
    let mut changes = Vec::new();
    let mut seq = from;
    while seq < next && changes.len() < size {
        let record = &state.drive.changes[seq - 1];
        seq += 1;
        let file = state.drive.files.get(&record.file_id);
        let shown = match file {
            Some(file) => visible(req, file),
            None => include_removed,
        };
        if !shown {
            continue;
        }
        let mut change = json!({
            "kind": "drive#change",
            "changeType": "file",
            "time": rfc3339(record.time),
            "removed": record.removed || file.is_none(),
            "fileId": record.file_id,
        });
        if let Some(file) = file {
            change["file"] = file.json(&state.email);
        }
        changes.push(change);
    }
    let mut body = json!({"kind": "drive#changeList", "changes": changes});
    if seq < next {
        body["nextPageToken"] = seq.to_string().into();
    } else {
        body["newStartPageToken"] = next.to_string().into();
    }
    ok(select(
        req,
        &body,
        "kind,nextPageToken,newStartPageToken,changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))",
    )?)
}

fn watch_changes(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let token = req
        .q("pageToken")
        .ok_or_else(|| ApiError::required("Required parameter: pageToken"))?;
    let uri = format!("https://www.googleapis.com/drive/v3/changes?alt=json&pageToken={token}");
    let lifetime = Lifetime {
        default_secs: 3600,
        max_secs: 7 * 86400,
    };
    channels::open(state, req, "drive", "changes".to_owned(), uri, lifetime)
}

fn watch_file(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let id = req.seg(3).to_owned();
    find(state, req, &id)?;
    let uri = format!("https://www.googleapis.com/drive/v3/files/{id}?alt=json");
    let lifetime = Lifetime {
        default_secs: 3600,
        max_secs: 86400,
    };
    channels::open(state, req, "drive", format!("files/{id}"), uri, lifetime)
}

fn get_file(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let id = req.seg(3);
    let file = find(state, req, id)?;
    if req.q("alt") == Some("media") {
        if file.is_google_type() {
            return Err(ApiError::new(
                403,
                "fileNotDownloadable",
                "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
            ));
        }
        return Ok(Reply::bytes(&file.mime_type, file.content.clone()));
    }
    ok(select(
        req,
        &file.json(&state.email),
        "kind,id,name,mimeType",
    )?)
}

fn export_file(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let id = req.seg(3);
    let file = find(state, req, id)?;
    let target = req
        .q("mimeType")
        .ok_or_else(|| ApiError::required("Required parameter: mimeType"))?;
    if !file.is_google_type() {
        return Err(ApiError::new(
            403,
            "fileNotExportable",
            "Export only supports Docs Editors files.",
        ));
    }
    let text = match state.docs.get(id) {
        Some(doc) => doc.text().into_bytes(),
        None => file.content.clone(),
    };
    let bytes = match (file.mime_type.as_str(), target) {
        (DOC | SLIDES, "text/plain") | (SHEET, "text/csv") => text,
        (DOC, "text/html") => format!(
            "<html><body>{}</body></html>",
            String::from_utf8_lossy(&text)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
        )
        .into_bytes(),
        (DOC | SHEET | SLIDES, "application/pdf") => pdf(&String::from_utf8_lossy(&text)),
        _ => {
            return Err(ApiError::bad_request(
                "The requested conversion is not supported.",
            ));
        }
    };
    if bytes.len() > state.drive.export_limit {
        return Err(ApiError::new(
            403,
            "exportSizeLimitExceeded",
            "This file is too large to be exported.",
        ));
    }
    Ok(Reply::bytes(target, bytes))
}

/// A one-page PDF showing `text`, with a correct cross-reference table.
fn pdf(text: &str) -> Vec<u8> {
    let escaped: String = text
        .lines()
        .map(|line| {
            let line = line
                .replace('\\', "\\\\")
                .replace('(', "\\(")
                .replace(')', "\\)");
            format!("({line}) Tj T* ")
        })
        .collect();
    let stream = format!("BT /F1 11 Tf 14 TL 72 720 Td {escaped}ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{object}\nendobj\n", n + 1).into_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .into_bytes(),
    );
    out
}

/// One clause of the `q` subset.
#[derive(Debug)]
enum Clause {
    Trashed(bool),
    NameIs(String),
    NameContains(String),
    MimeIs(String, bool),
    InParents(String),
    FullText(String),
    Modified(String, DateTime<Utc>),
}

impl Clause {
    fn matches(&self, file: &DriveFile) -> bool {
        match self {
            Clause::Trashed(t) => file.trashed == *t,
            Clause::NameIs(n) => file.name == *n,
            Clause::NameContains(n) => file.name.to_lowercase().contains(&n.to_lowercase()),
            Clause::MimeIs(m, equal) => (file.mime_type == *m) == *equal,
            Clause::InParents(p) => file.parents.iter().any(|x| x == p),
            Clause::FullText(t) => {
                let t = t.to_lowercase();
                file.name.to_lowercase().contains(&t)
                    || String::from_utf8_lossy(&file.content)
                        .to_lowercase()
                        .contains(&t)
            }
            Clause::Modified(op, time) => match op.as_str() {
                ">" => file.modified > *time,
                ">=" => file.modified >= *time,
                "<" => file.modified < *time,
                "<=" => file.modified <= *time,
                _ => file.modified == *time,
            },
        }
    }
}

fn quoted(text: &str) -> Option<String> {
    let inner = text.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("\\'", "'"))
}

fn parse_clause(clause: &str) -> Option<Clause> {
    let clause = clause.trim();
    let words: Vec<&str> = clause.splitn(3, ' ').collect();
    match words.as_slice() {
        ["trashed", "=", v] => Some(Clause::Trashed(*v == "true")),
        ["name", "=", v] => quoted(v).map(Clause::NameIs),
        ["name", "contains", v] => quoted(v).map(Clause::NameContains),
        ["mimeType", "=", v] => quoted(v).map(|m| Clause::MimeIs(m, true)),
        ["mimeType", "!=", v] => quoted(v).map(|m| Clause::MimeIs(m, false)),
        ["fullText", "contains", v] => quoted(v).map(Clause::FullText),
        ["modifiedTime", op @ (">" | ">=" | "<" | "<=" | "="), v] => quoted(v)
            .and_then(|t| parse_time(&t))
            .map(|t| Clause::Modified((*op).to_owned(), t)),
        _ => {
            let (id, rest) = clause.split_once(" in ")?;
            (rest.trim() == "parents").then_some(())?;
            quoted(id).map(Clause::InParents)
        }
    }
}

fn parse_q(q: &str) -> Result<Vec<Clause>, ApiError> {
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    q.split(" and ")
        .map(|c| parse_clause(c).ok_or_else(|| ApiError::invalid(format!("Invalid Value: q {q}"))))
        .collect()
}

fn list_files(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let clauses = parse_q(req.q("q").unwrap_or(""))?;
    let size = page_size(req.q("pageSize"), 100, 1000)?;
    let offset = match req.q("pageToken") {
        Some(t) => untoken(t, "pageToken")?
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("Invalid pageToken"))?,
        None => 0,
    };
    let mut files: Vec<&DriveFile> = state
        .drive
        .order
        .iter()
        .filter_map(|id| state.drive.files.get(id))
        .filter(|f| visible(req, f))
        .filter(|f| clauses.iter().all(|c| c.matches(f)))
        .collect();
    if let Some(order) = req.q("orderBy") {
        let (key, desc) = match order.split_once(' ') {
            Some((key, dir)) => (key, dir.trim() == "desc"),
            None => (order, false),
        };
        match key {
            "name" => files.sort_by(|a, b| a.name.cmp(&b.name)),
            "modifiedTime" => files.sort_by_key(|f| f.modified),
            "createdTime" => files.sort_by_key(|f| f.created),
            _ => {}
        }
        if desc {
            files.reverse();
        }
    }
    let page: Vec<Value> = files
        .iter()
        .skip(offset)
        .take(size)
        .map(|f| f.json(&state.email))
        .collect();
    let mut body = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if offset + size < files.len() {
        body["nextPageToken"] = token(&(offset + size).to_string()).into();
    }
    ok(select(
        req,
        &body,
        "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)",
    )?)
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

/// Creates a file from metadata and media, as the app (visible under `drive.file`).
fn create(
    state: &mut State,
    req: &Req,
    meta: &Value,
    media: Vec<u8>,
    media_type: &str,
) -> Result<Reply, ApiError> {
    let name = meta["name"].as_str().unwrap_or("Untitled");
    let mime = meta["mimeType"].as_str().unwrap_or(media_type);
    let mime = if mime.is_empty() {
        "application/octet-stream"
    } else {
        mime
    };
    let id = state.drive_store(None, name, mime, media, strings(&meta["parents"]), true);
    if let Some(description) = meta["description"].as_str() {
        if let Some(file) = state.drive.files.get_mut(&id) {
            file.description = Some(description.to_owned());
        }
    }
    if mime == DOC {
        let text = state
            .drive
            .files
            .get(&id)
            .map(|f| f.content.clone())
            .unwrap_or_default();
        state.docs_attach(&id, name, &String::from_utf8_lossy(&text));
    }
    let file = state
        .drive
        .files
        .get(&id)
        .ok_or_else(|| file_not_found(&id))?;
    ok(select(
        req,
        &file.json(&state.email),
        "kind,id,name,mimeType",
    )?)
}

fn create_metadata(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let meta = req.json()?;
    create(state, req, &meta, Vec::new(), "application/octet-stream")
}

fn upload(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    match req.q("uploadType") {
        Some("media") => {
            let media_type = req.content_type.clone();
            create(state, req, &json!({}), req.bytes.clone(), &media_type)
        }
        Some("multipart") => {
            let (meta, media, media_type) = multipart_related(&req.content_type, &req.bytes)?;
            create(state, req, &meta, media, &media_type)
        }
        other => Err(ApiError::bad_request(format!(
            "Invalid upload type: {}",
            other.unwrap_or("(none)")
        ))),
    }
}

/// Splits a `multipart/related` body into its JSON metadata part and its media part.
fn multipart_related(
    content_type: &str,
    body: &[u8],
) -> Result<(Value, Vec<u8>, String), ApiError> {
    let bad = |m: &str| ApiError::bad_request(format!("Bad multipart request: {m}"));
    if !content_type.starts_with("multipart/related") {
        return Err(bad("Content-Type must be multipart/related"));
    }
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| bad("no boundary"))?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    let start = find_bytes(rest, &delimiter).ok_or_else(|| bad("no opening boundary"))?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let rest_after_eol = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .ok_or_else(|| bad("boundary line"))?;
        let end =
            find_bytes(rest_after_eol, &delimiter).ok_or_else(|| bad("no closing boundary"))?;
        let mut part = &rest_after_eol[..end];
        part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        parts.push(part);
        rest = &rest_after_eol[end + delimiter.len()..];
    }
    if parts.len() != 2 {
        return Err(bad("expected a metadata part and a media part"));
    }
    let split = |part: &[u8]| -> Result<(String, Vec<u8>), ApiError> {
        let (head_end, sep) = find_bytes(part, b"\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| find_bytes(part, b"\n\n").map(|i| (i, 2)))
            .ok_or_else(|| bad("part without headers"))?;
        let head = String::from_utf8_lossy(&part[..head_end]).into_owned();
        let content_type = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        Ok((content_type, part[head_end + sep..].to_vec()))
    };
    let (meta_type, meta) = split(parts[0])?;
    if !meta_type.starts_with("application/json") {
        return Err(bad("the first part must be application/json metadata"));
    }
    let meta: Value = serde_json::from_slice(&meta).map_err(|_| bad("metadata is not JSON"))?;
    let (media_type, media) = split(parts[1])?;
    Ok((meta, media, media_type))
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
