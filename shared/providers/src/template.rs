//! Value templates of provider definitions, and JSON paths with `*` steps.
//!
//! A template is text with placeholders:
//! - `{header:x-shopify-topic}`: a request header;
//! - `{/id}`: a JSON pointer into the event (the `each` match, or the whole body);
//! - `{body:/entry/*/id}`: a JSON pointer into the whole body, whose `*` steps take the indices
//!   of the event's own match in order (the WhatsApp entry a message came in);
//! - `{type}`: the event type, in `name` only.
//!
//! Strings are taken as they are, numbers and booleans as their JSON text; a placeholder that
//! finds nothing makes the whole template absent.

use http::HeaderMap;
use serde_json::Value;

/// Where a template is used, which says which placeholders it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Ids, types, times, attributes, tenant values.
    Event,
    /// Event names: also `{type}`.
    Name,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Header(String),
    Event(Path),
    Body(Path),
    Type,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

/// A JSON pointer whose steps may be `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Any,
}

/// What a template is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a Value,
    /// The event's own value (the `each` match, or the body).
    pub event: &'a Value,
    /// The indices of the event's `*` steps, in order.
    pub indices: &'a [usize],
    /// The evaluated event type, for names.
    pub event_type: Option<&'a str>,
}

/// Checks a JSON path: a JSON pointer (`/a/0/b`) whose steps may be `*`.
pub fn check_path(text: &str) -> Result<Path, String> {
    Path::parse(text)
}

impl Path {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self(Vec::new()));
        }
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("path {text:?} must start with '/'"))?;
        Ok(Self(
            rest.split('/')
                .map(|step| match step {
                    "*" => Step::Any,
                    key => Step::Key(key.replace("~1", "/").replace("~0", "~")),
                })
                .collect(),
        ))
    }

    /// Every value the path matches, with the indices its `*` steps took.
    pub fn matches<'v>(&self, value: &'v Value) -> Vec<(Vec<usize>, &'v Value)> {
        let mut found = Vec::new();
        walk(&self.0, value, &mut Vec::new(), &mut found);
        found
    }

    /// The value at this path with its `*` steps fixed to `indices` (missing ones: 0).
    fn resolve<'v>(&self, value: &'v Value, indices: &[usize]) -> Option<&'v Value> {
        let mut at = value;
        let mut next = indices.iter();
        for step in &self.0 {
            at = match step {
                Step::Key(key) => child(at, key)?,
                Step::Any => at.get(next.next().copied().unwrap_or(0))?,
            };
        }
        Some(at)
    }
}

fn child<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn walk<'v>(
    steps: &[Step],
    value: &'v Value,
    indices: &mut Vec<usize>,
    found: &mut Vec<(Vec<usize>, &'v Value)>,
) {
    let Some((step, rest)) = steps.split_first() else {
        found.push((indices.clone(), value));
        return;
    };
    match step {
        Step::Key(key) => {
            if let Some(next) = child(value, key) {
                walk(rest, next, indices, found);
            }
        }
        Step::Any => {
            if let Value::Array(items) = value {
                for (i, item) in items.iter().enumerate() {
                    indices.push(i);
                    walk(rest, item, indices, found);
                    indices.pop();
                }
            }
        }
    }
}

impl Template {
    /// Parses `text`, refusing placeholders `source` does not allow.
    pub fn parse(text: &str, source: Source) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("template {text:?} has an unclosed '{{'"))?;
            let inner = &rest[open + 1..open + close];
            pieces.push(piece(inner, source).map_err(|e| format!("template {text:?}: {e}"))?);
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("template {text:?} has a stray '}}'"));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(Self(pieces))
    }

    /// The template's text for `context`, or `None` when a placeholder finds nothing.
    pub fn eval(&self, context: &Context<'_>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Header(name) => out.push_str(context.headers.get(name)?.to_str().ok()?),
                Piece::Event(path) => out.push_str(&text_of(path.resolve(context.event, &[])?)?),
                Piece::Body(path) => {
                    out.push_str(&text_of(path.resolve(context.body, context.indices)?)?)
                }
                Piece::Type => out.push_str(context.event_type?),
            }
        }
        Some(out)
    }
}

fn piece(inner: &str, source: Source) -> Result<Piece, String> {
    if let Some(name) = inner.strip_prefix("header:") {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "header name {name:?} must be non-empty and lowercase"
            ));
        }
        return Ok(Piece::Header(name.to_owned()));
    }
    if let Some(path) = inner.strip_prefix("body:") {
        return Ok(Piece::Body(Path::parse(path)?));
    }
    if inner.starts_with('/') {
        let path = Path::parse(inner)?;
        if path.0.contains(&Step::Any) {
            return Err(format!("{inner:?}: '*' only in body: paths"));
        }
        return Ok(Piece::Event(path));
    }
    if inner == "type" && source == Source::Name {
        return Ok(Piece::Type);
    }
    Err(format!("unknown placeholder {{{inner}}}"))
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context<'a>(
        headers: &'a HeaderMap,
        body: &'a Value,
        event: &'a Value,
        indices: &'a [usize],
    ) -> Context<'a> {
        Context {
            headers,
            body,
            event,
            indices,
            event_type: Some("orders/create"),
        }
    }

    #[test]
    fn headers_pointers_and_type() {
        let mut headers = HeaderMap::new();
        headers.insert("x-topic", "orders/create".parse().expect("header"));
        let body = json!({"id": 7, "shop": {"domain": "a.myshopify.com"}});
        let c = context(&headers, &body, &body, &[]);
        let t = Template::parse("{header:x-topic}#{/id}", Source::Event).expect("parse");
        assert_eq!(t.eval(&c).as_deref(), Some("orders/create#7"));
        let t = Template::parse("shopify.{type}", Source::Name).expect("parse");
        assert_eq!(t.eval(&c).as_deref(), Some("shopify.orders/create"));
        assert!(Template::parse("{type}", Source::Event).is_err());
        assert!(Template::parse("{/missing}", Source::Event)
            .expect("parse")
            .eval(&c)
            .is_none());
        assert!(Template::parse("{nope}", Source::Event).is_err());
        assert!(Template::parse("{/a", Source::Event).is_err());
        assert!(Template::parse("{header:X-Up}", Source::Event).is_err());
    }

    #[test]
    fn wildcard_matches_and_body_paths_follow_their_indices() {
        let body = json!({"entry": [
            {"id": "W1", "changes": [{"value": {"messages": [{"id": "m1"}, {"id": "m2"}]}}]},
            {"id": "W2", "changes": [{"value": {"messages": [{"id": "m3"}]}}]}
        ]});
        let path = check_path("/entry/*/changes/*/value/messages/*").expect("path");
        let found = path.matches(&body);
        let ids: Vec<_> = found
            .iter()
            .map(|(_, v)| v["id"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(ids, ["m1", "m2", "m3"]);
        let headers = HeaderMap::new();
        let account = Template::parse("{body:/entry/*/id}", Source::Event).expect("parse");
        let (indices, event) = &found[2];
        assert_eq!(
            account
                .eval(&context(&headers, &body, event, indices))
                .as_deref(),
            Some("W2")
        );
        let all = check_path("/*").expect("path");
        assert_eq!(all.matches(&json!([1, 2])).len(), 2);
        assert!(check_path("entry").is_err());
    }
}
