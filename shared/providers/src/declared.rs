//! The webhook plugin of a provider described by data alone: its definition's `events` say how
//! a JSON body fans out into events, how each is identified, typed and named, and its `tenant`
//! rules say which signed values bind the request to an instance.

use std::collections::BTreeMap;

use serde_json::Value;

use super::plugin::{Delivery, Inbound, Interpretation, Malformed, TenantFact, WebhookPlugin};
use super::template::{check_path, Context, Path, Source, Template};
use super::webhook::{EventSource, WebhookDef};
use switchyard_core::reply::Reply;
use switchyard_core::workitem::EventMeta;

/// A provider's declared events, compiled.
#[derive(Debug)]
pub struct Declared {
    sources: Vec<CompiledSource>,
    tenant: Vec<(String, Template)>,
    /// Event name → what it changes in the gateway (`webhook.effects`).
    effects: std::collections::BTreeMap<String, crate::webhook::DeclaredEffect>,
    /// The provider's effects code for what data cannot say ([`crate::DECLARED_EFFECTS`]).
    effects_code: Option<crate::EffectsFn>,
}

#[derive(Debug)]
struct CompiledSource {
    each: Option<Path>,
    id: Template,
    event_type: Template,
    name: Template,
    time: Option<Template>,
    attributes: Vec<(String, Template)>,
}

impl Declared {
    /// Compiles `webhook`'s events and tenant rules for provider `id` (checked at load).
    pub fn new(id: &str, webhook: &WebhookDef) -> Result<Self, String> {
        let sources = webhook
            .events
            .iter()
            .map(|s| compile(id, s))
            .collect::<Result<_, _>>()?;
        let tenant = webhook
            .tenant
            .iter()
            .map(|rule| {
                Ok((
                    rule.config.clone(),
                    Template::parse(&rule.value, Source::Event)?,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            sources,
            tenant,
            effects: webhook.effects.clone(),
            effects_code: None,
        })
    }

    /// The same, with `effects` computing what each delivery changes.
    pub fn with_effects(self, effects_code: Option<crate::EffectsFn>) -> Self {
        Self {
            effects_code,
            ..self
        }
    }
}

fn compile(provider: &str, source: &EventSource) -> Result<CompiledSource, String> {
    let default_name = format!("{provider}.{{type}}");
    Ok(CompiledSource {
        each: source.each.as_deref().map(check_path).transpose()?,
        id: Template::parse(&source.id, Source::Event)?,
        event_type: Template::parse(&source.event_type, Source::Event)?,
        name: Template::parse(
            source.name.as_deref().unwrap_or(&default_name),
            Source::Name,
        )?,
        time: source
            .time
            .as_deref()
            .map(|t| Template::parse(t, Source::Event))
            .transpose()?,
        attributes: source
            .attributes
            .iter()
            .map(|(k, v)| Ok((k.clone(), Template::parse(v, Source::Event)?)))
            .collect::<Result<_, String>>()?,
    })
}

impl WebhookPlugin for Declared {
    fn interpret(&self, request: &Inbound<'_>) -> Result<Interpretation, Malformed> {
        let body: Value = serde_json::from_slice(request.body)
            .map_err(|e| Malformed(format!("body is not JSON: {e}")))?;
        let mut deliveries = Vec::new();
        for source in &self.sources {
            let matches = match &source.each {
                Some(path) => path.matches(&body),
                None => vec![(Vec::new(), &body)],
            };
            for (indices, event) in matches {
                let context = Context {
                    headers: request.headers,
                    body: &body,
                    event,
                    indices: &indices,
                    event_type: None,
                };
                deliveries.push(self.delivery(source, &context)?);
            }
        }
        if deliveries.is_empty() {
            return Err(Malformed("the body carries no event".into()));
        }
        Ok(Interpretation::Deliver {
            deliveries,
            ack: Reply::empty(200),
        })
    }

    fn effects(
        &self,
        item: &switchyard_core::workitem::WorkItem,
        payload: &Value,
    ) -> Vec<crate::Effect> {
        let mut effects: Vec<crate::Effect> = item
            .event
            .as_ref()
            .and_then(|meta| self.effects.get(&meta.name))
            .map(|e| vec![e.effect()])
            .unwrap_or_default();
        if let Some(code) = self.effects_code {
            effects.extend(code(item, payload));
        }
        effects
    }
}

impl Declared {
    fn delivery(
        &self,
        source: &CompiledSource,
        context: &Context<'_>,
    ) -> Result<Delivery, Malformed> {
        // An empty id would be one dedup key for every such event: all but the first dropped.
        let id = source
            .id
            .eval(context)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Malformed("an event has no id".into()))?;
        let kind = source
            .event_type
            .eval(context)
            .filter(|kind| !kind.is_empty())
            .ok_or_else(|| Malformed(format!("event {id} has no type")))?;
        let named = Context {
            event_type: Some(&kind),
            ..*context
        };
        let name = source
            .name
            .eval(&named)
            .ok_or_else(|| Malformed(format!("event {id} has no name")))?;
        let attributes: BTreeMap<String, String> = source
            .attributes
            .iter()
            .filter_map(|(k, t)| Some((k.clone(), t.eval(context)?)))
            .collect();
        let occurred_at = source
            .time
            .as_ref()
            .and_then(|t| t.eval(context))
            .and_then(|t| parse_time(&t));
        let tenant = self
            .tenant
            .iter()
            .map(|(config, t)| TenantFact::new(config, t.eval(context).as_deref()))
            .collect();
        Ok(Delivery {
            id,
            payload: context.event.clone(),
            event: Some(EventMeta {
                name,
                attributes,
                occurred_at,
            }),
            kind,
            tenant,
        })
    }
}

/// Unix seconds (`1767225600`, `"1767225600"`) or RFC 3339 (`2026-01-01T00:00:00.000Z`,
/// `…+02:00`). Anything else, including RFC 3339's shape with a sign in a field, another
/// separator or trailing text, is no time (the receive time stands in).
pub fn parse_time(text: &str) -> Option<u64> {
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs);
    }
    let b = text.as_bytes();
    let separators = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !separators {
        return None;
    }
    // Digits only: `str::parse` would take a sign (`T-1:00:00`).
    let num = |r: std::ops::Range<usize>| {
        let digits = text.get(r)?;
        digits
            .bytes()
            .all(|d| d.is_ascii_digit())
            .then(|| digits.parse::<i64>().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
        if rest.len() == frac.len() {
            return None;
        }
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (rest.get(1..3)?, rest.get(4..6)?);
            let field = |f: &str| {
                f.bytes()
                    .all(|d| d.is_ascii_digit())
                    .then(|| f.parse::<i64>().ok())?
            };
            let (oh, om) = (field(oh)?, field(om)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if *sign == b'+' { 1 } else { -1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    u64::try_from(secs).ok()
}

// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        assert_eq!(parse_time("1767225600"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T00:00:00.123Z"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T02:00:00+02:00"), Some(1_767_225_600));
        assert_eq!(parse_time("2025-12-31T19:00:00-05:00"), Some(1_767_225_600));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn times_of_the_wrong_shape_are_refused() {
        for bad in [
            "2026-01-01T-1:00:00Z",
            "2026-01-01T00:+5:00Z",
            "2026-+1-01T00:00:00Z",
            "2026-01-01T00x00x00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+02x00",
            "2026-01-01T00:00:00+02:00junk",
            "2026-01-01T00:00:00+02:-1",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_empty_id_or_type_is_malformed() {
        let registry = crate::Registry::load().expect("registry");
        let shopify = registry.plugin("shopify").expect("shopify");
        let request = |id: &str, topic: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("x-shopify-webhook-id", id.parse().expect("value"));
            headers.insert("x-shopify-topic", topic.parse().expect("value"));
            shopify.interpret(&crate::plugin::Inbound {
                headers: &headers,
                body: b"{}",
                facts: &Default::default(),
            })
        };
        assert!(request("w1", "orders/create").is_ok());
        assert!(request("", "orders/create").is_err());
        assert!(request("w1", "").is_err());
    }
}
