//! Opaque page tokens and partial responses (`fields`), shared by the products.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// An opaque token carrying `inner` (what the product needs to resume), as Google's look.
pub(crate) fn token(inner: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("gfake:{inner}"))
}

/// The `inner` of a token made by [`token`]; anything else is 400 `invalid` like Google's
/// answer to a garbled token.
pub(crate) fn untoken(token: &str, what: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("gfake:").map(str::to_owned))
        .ok_or_else(|| ApiError::invalid(format!("Invalid {what}")))
}

/// A page size from `param` within `1..=max`, `default` when absent. Google rejects non-numbers.
pub(crate) fn page_size(
    param: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match param {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(0) => Ok(default),
            Ok(n) => Ok(n.min(max)),
            Err(_) => Err(ApiError::invalid(format!("Invalid value '{text}'. Values must match the following regular expression: '[0-9]+'"))),
        },
    }
}

/// A parsed `fields` mask: each selected name with its nested selection (`None` = whole value).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fields(Vec<(String, Option<Fields>)>);

impl Fields {
    /// Parses `a,b(c,d),e/f`; `*` selects everything (`None`).
    pub(crate) fn parse(mask: &str) -> Result<Option<Fields>, ApiError> {
        let mask = mask.trim();
        if mask.is_empty() || mask == "*" {
            return Ok(None);
        }
        let (fields, rest) = parse_list(mask)?;
        if !rest.is_empty() {
            return Err(ApiError::invalid(format!("Invalid field selection {mask}")));
        }
        Ok(Some(fields))
    }

    /// `value` reduced to the selection (arrays are selected element-wise).
    pub(crate) fn apply(&self, value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(|v| self.apply(v)).collect()),
            Value::Object(map) => {
                let mut out = Map::new();
                for (name, nested) in &self.0 {
                    if name == "*" {
                        out.extend(map.clone());
                        continue;
                    }
                    if let Some(field) = map.get(name) {
                        let field = match nested {
                            Some(sub) => sub.apply(field),
                            None => field.clone(),
                        };
                        out.insert(name.clone(), field);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

fn parse_list(text: &str) -> Result<(Fields, &str), ApiError> {
    let mut fields = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find([',', '(', ')', '/']).unwrap_or(rest.len());
        let name = rest[..end].trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::invalid(format!("Invalid field selection {text}")));
        }
        rest = &rest[end..];
        let nested = if let Some(after) = rest.strip_prefix('(') {
            let (sub, after) = parse_list(after)?;
            rest = after
                .strip_prefix(')')
                .ok_or_else(|| ApiError::invalid(format!("Invalid field selection {text}")))?;
            Some(sub)
        } else if let Some(after) = rest.strip_prefix('/') {
            let end = after.find([',', ')']).unwrap_or(after.len());
            let (sub, _) = parse_list(&after[..end])?;
            rest = &after[end..];
            Some(sub)
        } else {
            None
        };
        merge(&mut fields, name, nested);
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None => return Ok((Fields(fields), rest)),
        }
    }
}

fn merge(fields: &mut Vec<(String, Option<Fields>)>, name: String, nested: Option<Fields>) {
    match fields.iter_mut().find(|(n, _)| *n == name) {
        Some((_, existing)) => match (existing.as_mut(), nested) {
            (Some(old), Some(new)) => {
                for (n, sub) in new.0 {
                    merge(&mut old.0, n, sub);
                }
            }
            _ => *existing = None,
        },
        None => fields.push((name, nested)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_select_nested_and_paths() {
        let value = json!({"kind": "k", "nextPageToken": "t",
            "files": [{"id": "1", "name": "a", "size": "3"}, {"id": "2", "name": "b"}]});
        let fields = Fields::parse("nextPageToken,files(id,size)")
            .expect("a valid mask")
            .expect("a selection");
        assert_eq!(
            fields.apply(&value),
            json!({"nextPageToken": "t", "files": [{"id": "1", "size": "3"}, {"id": "2"}]})
        );
        let fields = Fields::parse("files/name")
            .expect("a valid mask")
            .expect("a selection");
        assert_eq!(
            fields.apply(&value),
            json!({"files": [{"name": "a"}, {"name": "b"}]})
        );
        assert_eq!(Fields::parse("*").expect("valid"), None);
        assert!(Fields::parse("files(id").is_err());
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(untoken(&token("12"), "pageToken").expect("our token"), "12");
        assert_eq!(
            untoken("garbage!", "pageToken")
                .expect_err("not our token")
                .code,
            400
        );
    }
}
