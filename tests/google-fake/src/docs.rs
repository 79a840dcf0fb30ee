//! Docs v1: documents as paragraphs with named styles; `documents.get` answers the structure
//! (section break, paragraphs, text runs, UTF-16 indexes), `documents.create`, and
//! `documents.batchUpdate` with `insertText` and `replaceAllText`. Every document is also a
//! Drive file (`application/vnd.google-apps.document`) whose changes enter Drive's change log.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::server::{ok, Reply, Req, Route, State};

const READ: &[&str] = &[
    "documents",
    "documents.readonly",
    "drive",
    "drive.file",
    "drive.readonly",
];
const WRITE: &[&str] = &["documents", "drive", "drive.file"];
/// Scopes that reach every document; `drive.file` alone reaches those the app created.
const BROAD: &[&str] = &["documents", "documents.readonly", "drive", "drive.readonly"];

/// A document.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub title: String,
    pub revision: u64,
    /// (`namedStyleType`, text without the closing newline).
    pub paragraphs: Vec<(String, String)>,
}

impl Document {
    fn from_text(title: &str, text: &str) -> Self {
        let text = text.strip_suffix('\n').unwrap_or(text);
        Self {
            title: title.to_owned(),
            revision: 1,
            paragraphs: text
                .split('\n')
                .map(|p| ("NORMAL_TEXT".to_owned(), p.to_owned()))
                .collect(),
        }
    }

    /// The body text: every paragraph with its newline.
    pub(crate) fn text(&self) -> String {
        self.paragraphs
            .iter()
            .map(|(_, t)| format!("{t}\n"))
            .collect()
    }

    fn json(&self, id: &str) -> Value {
        let mut content = vec![json!({
            "endIndex": 1,
            "sectionBreak": {"sectionStyle": {"columnSeparatorStyle": "NONE", "contentDirection": "LEFT_TO_RIGHT", "sectionType": "CONTINUOUS"}},
        })];
        let mut index = 1usize;
        for (n, (style, text)) in self.paragraphs.iter().enumerate() {
            let run = format!("{text}\n");
            let end = index + run.encode_utf16().count();
            let mut paragraph_style =
                json!({"namedStyleType": style, "direction": "LEFT_TO_RIGHT"});
            if style.starts_with("HEADING") || style == "TITLE" || style == "SUBTITLE" {
                paragraph_style["headingId"] = format!("h.{n:012x}").into();
            }
            content.push(json!({
                "startIndex": index,
                "endIndex": end,
                "paragraph": {
                    "elements": [{"startIndex": index, "endIndex": end, "textRun": {"content": run, "textStyle": {}}}],
                    "paragraphStyle": paragraph_style,
                },
            }));
            index = end;
        }
        json!({
            "documentId": id,
            "title": self.title,
            "body": {"content": content},
            "documentStyle": {"pageSize": {"height": {"magnitude": 792, "unit": "PT"}, "width": {"magnitude": 612, "unit": "PT"}}},
            "revisionId": format!("ALm37B{:08}", self.revision),
            "suggestionsViewMode": "SUGGESTIONS_INLINE",
        })
    }

    /// The end index of the body (after the last newline), in UTF-16 units.
    fn end_index(&self) -> usize {
        1 + self.text().encode_utf16().count()
    }

    /// Inserts `text` at UTF-16 `index` (1 = start of the body).
    fn insert(&mut self, index: usize, text: &str) -> Result<(), ApiError> {
        let end = self.end_index();
        if index < 1 || index >= end {
            return Err(ApiError::new(
                400,
                "badRequest",
                format!("Invalid requests[0].insertText: Index {index} must be less than the end index of the referenced segment, {end}."),
            ));
        }
        let mut at = 1usize;
        for p in 0..self.paragraphs.len() {
            let (style, para) = self.paragraphs[p].clone();
            let len = para.encode_utf16().count();
            if index <= at + len {
                let offset = utf16_to_byte(&para, index - at);
                let joined = format!("{}{text}{}", &para[..offset], &para[offset..]);
                let pieces: Vec<(String, String)> = joined
                    .split('\n')
                    .map(|t| (style.clone(), t.to_owned()))
                    .collect();
                self.paragraphs.splice(p..=p, pieces);
                return Ok(());
            }
            at += len + 1;
        }
        Err(ApiError::bad_request(
            "Invalid requests[0].insertText: index out of range",
        ))
    }

    /// Replaces every occurrence of `find` and returns how many there were.
    fn replace_all(&mut self, find: &str, replace: &str, match_case: bool) -> usize {
        if find.is_empty() {
            return 0;
        }
        let mut count = 0;
        let mut out = Vec::new();
        for (style, text) in &self.paragraphs {
            let (hay, needle) = if match_case {
                (text.clone(), find.to_owned())
            } else {
                (text.to_lowercase(), find.to_lowercase())
            };
            let mut result = String::new();
            let mut last = 0;
            // Lowercasing can change byte lengths for some scripts; then match exactly instead.
            let (hay, needle) = if hay.len() == text.len() {
                (hay, needle)
            } else {
                (text.clone(), find.to_owned())
            };
            for (start, _) in hay.match_indices(&needle) {
                result.push_str(&text[last..start]);
                result.push_str(replace);
                last = start + needle.len();
                count += 1;
            }
            result.push_str(&text[last..]);
            out.extend(result.split('\n').map(|t| (style.clone(), t.to_owned())));
        }
        self.paragraphs = out;
        count
    }
}

fn utf16_to_byte(text: &str, units: usize) -> usize {
    let mut seen = 0;
    for (byte, c) in text.char_indices() {
        if seen >= units {
            return byte;
        }
        seen += c.len_utf16();
    }
    text.len()
}

impl State {
    /// A user's document (not created by the app).
    pub(crate) fn docs_create(&mut self, title: &str, paragraphs: &[(&str, &str)]) -> String {
        let id = self.new_id("1d");
        let doc = Document {
            title: title.to_owned(),
            revision: 1,
            paragraphs: paragraphs
                .iter()
                .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
                .collect(),
        };
        let text = doc.text().into_bytes();
        self.docs.insert(id.clone(), doc);
        self.drive_put(Some(&id), title, crate::drive::DOC, text, None);
        id
    }

    /// The Docs side of a Doc created through Drive (`files.create`).
    pub(crate) fn docs_attach(&mut self, id: &str, title: &str, text: &str) {
        self.docs
            .insert(id.to_owned(), Document::from_text(title, text));
    }
}

/// The route of `rest` (the path after `v1/documents`).
pub(crate) fn route(method: &http::Method, rest: &[&str]) -> Option<Route> {
    use http::Method as M;
    let (scopes, handler): (&'static [&'static str], crate::server::Handler) = match (method, rest)
    {
        (&M::POST, []) => (WRITE, create),
        (&M::GET, [_]) => (READ, get),
        (&M::POST, [id]) if id.ends_with(":batchUpdate") => (WRITE, batch_update),
        _ => return None,
    };
    Some(Route { scopes, handler })
}

fn not_found() -> ApiError {
    ApiError::not_found("Requested entity was not found.")
}

fn find<'a>(state: &'a State, req: &Req, id: &str) -> Result<&'a Document, ApiError> {
    let app_created = state.drive.files.get(id).is_some_and(|f| f.app_created);
    state
        .docs
        .get(id)
        .filter(|_| app_created || req.has_scope(BROAD))
        .ok_or_else(not_found)
}

fn get(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let id = req.seg(2);
    ok(find(state, req, id)?.json(id))
}

fn create(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let title = body["title"]
        .as_str()
        .unwrap_or("Untitled document")
        .to_owned();
    let id = state.new_id("1d");
    let doc = Document::from_text(&title, "");
    state.drive_create_doc(&id, &title, doc.text().into_bytes());
    let answer = doc.json(&id);
    state.docs.insert(id, doc);
    ok(answer)
}

fn batch_update(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    let id = req.seg(2).trim_end_matches(":batchUpdate").to_owned();
    find(state, req, &id)?;
    let body = req.json()?;
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    if requests.is_empty() {
        return Err(ApiError::bad_request("Must specify at least one request."));
    }
    // All or nothing, as Google applies a batch.
    let mut doc = state.docs.get(&id).cloned().ok_or_else(not_found)?;
    if let Some(required) = body["writeControl"]["requiredRevisionId"].as_str() {
        if required != format!("ALm37B{:08}", doc.revision) {
            return Err(ApiError::new(
                400,
                "failedPrecondition",
                "The required revision ID does not match the latest revision.",
            ));
        }
    }
    let mut replies = Vec::new();
    for (n, request) in requests.iter().enumerate() {
        if let Some(insert) = request.get("insertText") {
            let text = insert["text"].as_str().unwrap_or("");
            let index = if insert.get("endOfSegmentLocation").is_some() {
                doc.end_index() - 1
            } else {
                insert["location"]["index"]
                    .as_u64()
                    .ok_or_else(|| ApiError::bad_request(format!("Invalid requests[{n}].insertText: location or endOfSegmentLocation required")))?
                    as usize
            };
            doc.insert(index, text)?;
            replies.push(json!({}));
        } else if let Some(replace) = request.get("replaceAllText") {
            let find = replace["containsText"]["text"].as_str().unwrap_or("");
            if find.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Invalid requests[{n}].replaceAllText: containsText.text must not be empty"
                )));
            }
            let count = doc.replace_all(
                find,
                replace["replaceText"].as_str().unwrap_or(""),
                replace["containsText"]["matchCase"]
                    .as_bool()
                    .unwrap_or(false),
            );
            replies.push(if count == 0 {
                json!({"replaceAllText": {}})
            } else {
                json!({"replaceAllText": {"occurrencesChanged": count}})
            });
        } else {
            return Err(ApiError::bad_request(format!(
                "Invalid requests[{n}]: unsupported request kind"
            )));
        }
    }
    doc.revision += 1;
    let text = doc.text().into_bytes();
    let revision = format!("ALm37B{:08}", doc.revision);
    state.docs.insert(id.clone(), doc);
    state.drive_set_content(&id, text);
    ok(
        json!({"documentId": id, "replies": replies, "writeControl": {"requiredRevisionId": revision}}),
    )
}
