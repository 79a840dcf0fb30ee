//! Docs: a document's plain text and headings, extracted from its structure; appending text and
//! replacing text through `documents.batchUpdate`.

use serde_json::{json, Value};

use super::{send_json, text};
use crate::executor::{Call, Payload};
use crate::ToolError;

/// Text longer than this (characters) is cut, with `truncated: true`.
const DEFAULT_MAX_CHARS: usize = 100_000;

/// Reads the document: title, revision, plain text and headings.
pub(super) async fn get(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let document = send_json(call, input, Vec::new(), Payload::None).await?;
    let max_chars = input
        .get("max_chars")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MAX_CHARS, |n| n as usize);
    Ok(extract(&document, max_chars))
}

/// The heading level of a named paragraph style (`TITLE` 0, `HEADING_1`..`HEADING_6`), if it is
/// one.
fn heading_level(style: &str) -> Option<u64> {
    match style {
        "TITLE" | "SUBTITLE" => Some(0),
        _ => style.strip_prefix("HEADING_")?.parse().ok(),
    }
}

#[derive(Debug, Default)]
struct Extracted {
    text: String,
    headings: Vec<Value>,
}

/// Walks structural elements: paragraphs' text runs, and tables' cells (which hold elements).
fn walk(content: &Value, out: &mut Extracted) {
    for element in content.as_array().into_iter().flatten() {
        if let Some(paragraph) = element.get("paragraph") {
            let text: String = paragraph["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["textRun"]["content"].as_str())
                .collect();
            let style = &paragraph["paragraphStyle"];
            if let Some(level) = style["namedStyleType"].as_str().and_then(heading_level) {
                out.headings.push(json!({
                    "level": level,
                    "style": style["namedStyleType"],
                    "text": text.trim_end_matches('\n'),
                    "heading_id": style.get("headingId").cloned().unwrap_or(Value::Null),
                }));
            }
            out.text.push_str(&text);
        } else if let Some(table) = element.get("table") {
            for row in table["tableRows"].as_array().into_iter().flatten() {
                for cell in row["tableCells"].as_array().into_iter().flatten() {
                    walk(&cell["content"], out);
                }
            }
        } else if let Some(toc) = element.get("tableOfContents") {
            walk(&toc["content"], out);
        }
    }
}

fn extract(document: &Value, max_chars: usize) -> Value {
    let mut found = Extracted::default();
    walk(&document["body"]["content"], &mut found);
    let truncated = found.text.chars().count() > max_chars;
    let text: String = if truncated {
        found.text.chars().take(max_chars).collect()
    } else {
        found.text
    };
    json!({
        "document_id": document["documentId"],
        "title": document["title"],
        "revision_id": document.get("revisionId").cloned().unwrap_or(Value::Null),
        "text": text,
        "headings": found.headings,
        "truncated": truncated,
    })
}

/// Appends `text` at the end of the body.
pub(super) async fn append(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let body =
        json!({"requests": [{"insertText": {"text": input["text"], "endOfSegmentLocation": {}}}]});
    let answer = send_json(call, input, Vec::new(), Payload::Json(body)).await?;
    Ok(json!({
        "document_id": answer["documentId"],
        "revision_id": answer["writeControl"].get("requiredRevisionId").cloned().unwrap_or(Value::Null),
    }))
}

/// Replaces every occurrence of `find` with `replace`; how many there were.
pub(super) async fn replace(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let match_case = input
        .get("match_case")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let body = json!({"requests": [{"replaceAllText": {
        "containsText": {"text": text(input, "find"), "matchCase": match_case},
        "replaceText": text(input, "replace").unwrap_or_default(),
    }}]});
    let answer = send_json(call, input, Vec::new(), Payload::Json(body)).await?;
    // Google leaves a zero count out of the reply.
    let changed = answer["replies"][0]["replaceAllText"]["occurrencesChanged"]
        .as_u64()
        .unwrap_or(0);
    Ok(json!({
        "document_id": answer["documentId"],
        "occurrences_changed": changed,
        "revision_id": answer["writeControl"].get("requiredRevisionId").cloned().unwrap_or(Value::Null),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_headings_come_from_paragraphs_and_tables() {
        let paragraph = |style: &str, text: &str| {
            json!({"paragraph": {"elements": [{"textRun": {"content": text}}],
                "paragraphStyle": {"namedStyleType": style, "headingId": "h.1"}}})
        };
        let document = json!({"documentId": "d", "title": "T", "body": {"content": [
            {"sectionBreak": {}},
            paragraph("HEADING_1", "Goals\n"),
            paragraph("NORMAL_TEXT", "Ship it\n"),
            {"table": {"tableRows": [{"tableCells": [{"content": [paragraph("HEADING_2", "Cell\n")]}]}]}},
        ]}});
        let out = extract(&document, 100);
        assert_eq!(out["text"], "Goals\nShip it\nCell\n");
        assert_eq!(
            out["headings"][0],
            json!({"level": 1, "style": "HEADING_1", "text": "Goals", "heading_id": "h.1"})
        );
        assert_eq!(out["headings"][1]["level"], 2);
        assert_eq!(extract(&document, 3)["text"], "Goa");
        assert_eq!(extract(&document, 3)["truncated"], true);
    }
}
