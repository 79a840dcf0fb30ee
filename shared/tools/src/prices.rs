//! The versioned price table and the cost of a receipt's usage.
//!
//! `shared/integrations/prices.json` is data next to the integration definitions: a version, the
//! pages the figures come from and the date they were read, the currency (USD), how much of each
//! unit a price is quoted for (`quotedPer`: tokens and characters per million, images per image,
//! audio per minute = 60 seconds) and, per model key (`<provider>/<model>`, for images
//! `<provider>/<model>/<size>/<quality>`), the price of each unit. The `aiConfig` of every
//! `type: ai` definition feeds the same table (`costPerToken` is per token): a model priced in
//! both places must agree, so the two never drift apart silently.
//!
//! The table is parsed and checked once per cold start ([`PriceTable::load`], through
//! `Tools::prices`); a broken table fails the unit tests, never a user's call. A usage whose
//! unit has no price makes the cost unknown (`None`, logged), never zero: an unpriced call
//! reported as free would understate what agents spend.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::usage::Usage;

/// The price table shipped with this build.
const BUILTIN: &str = include_str!("../../integrations/prices.json");

/// Why the price table was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    #[error("prices.json is not a valid price table: {0}")]
    Unreadable(String),
    #[error("prices.json: {0} is required")]
    Missing(&'static str),
    #[error("prices.json: currency {0:?} is not USD")]
    Currency(String),
    #[error("prices.json: retrieved {0:?} is not a YYYY-MM-DD date")]
    Date(String),
    #[error("prices.json: source {0:?} is not an https URL")]
    Source(String),
    #[error("model key {0:?} is not <provider>/<model>")]
    ModelKey(String),
    #[error("{model}: unit {unit} has no quotedPer entry")]
    UnknownUnit { model: String, unit: String },
    #[error("{model}: price of {unit} must be a finite number >= 0")]
    BadPrice { model: String, unit: String },
    #[error("{integration}: aiConfig of {model} prices {unit} at {from_config} per unit, the price table at {from_table}")]
    Disagreement {
        integration: String,
        model: String,
        unit: String,
        from_config: f64,
        from_table: f64,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Source {
    version: String,
    currency: String,
    retrieved: String,
    sources: Vec<String>,
    quoted_per: BTreeMap<String, f64>,
    models: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The checked price table: per model key, the price of one unit of each priced unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceTable {
    pub version: String,
    pub retrieved: String,
    pub sources: Vec<String>,
    /// Model key → unit → USD per single unit.
    per_unit: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The cost of a list of usages.
#[derive(Debug, Clone, PartialEq)]
pub enum Cost {
    /// USD.
    Known(f64),
    /// These `(model key, unit)` pairs have no price.
    Unknown(Vec<(String, String)>),
}

impl PriceTable {
    /// The built-in table, checked, fed by the `aiConfig` of `integrations`.
    pub fn load<'a>(
        integrations: impl IntoIterator<Item = (&'a str, Option<&'a Value>)>,
    ) -> Result<Self, PriceError> {
        let mut table = Self::parse(BUILTIN)?;
        for (id, ai_config) in integrations {
            if let Some(ai) = ai_config {
                table.feed_ai_config(id, ai)?;
            }
        }
        Ok(table)
    }

    /// Parses and checks a price table's JSON text.
    pub fn parse(text: &str) -> Result<Self, PriceError> {
        let source: Source =
            serde_json::from_str(text).map_err(|e| PriceError::Unreadable(e.to_string()))?;
        if source.version.trim().is_empty() {
            return Err(PriceError::Missing("version"));
        }
        if source.currency != "USD" {
            return Err(PriceError::Currency(source.currency));
        }
        if !is_date(&source.retrieved) {
            return Err(PriceError::Date(source.retrieved));
        }
        if source.sources.is_empty() {
            return Err(PriceError::Missing("sources"));
        }
        if let Some(bad) = source.sources.iter().find(|s| !s.starts_with("https://")) {
            return Err(PriceError::Source(bad.clone()));
        }
        let mut per_unit = BTreeMap::new();
        for (model, prices) in source.models {
            check_key(&model)?;
            let mut units = BTreeMap::new();
            for (unit, price) in prices {
                let quoted = source.quoted_per.get(&unit).copied().ok_or_else(|| {
                    PriceError::UnknownUnit {
                        model: model.clone(),
                        unit: unit.clone(),
                    }
                })?;
                if !price.is_finite() || price < 0.0 || !quoted.is_finite() || quoted <= 0.0 {
                    return Err(PriceError::BadPrice { model, unit });
                }
                units.insert(unit, price / quoted);
            }
            per_unit.insert(model, units);
        }
        Ok(Self {
            version: source.version,
            retrieved: source.retrieved,
            sources: source.sources,
            per_unit,
        })
    }

    /// Adds the `costPerToken` of an `aiConfig` (`provider`, `availableModels[].id`): a model
    /// the table already prices must be priced the same.
    pub fn feed_ai_config(&mut self, integration: &str, ai: &Value) -> Result<(), PriceError> {
        let provider = ai
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let models = ai
            .get("availableModels")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for model in models {
            let (Some(id), Some(cost)) = (
                model.get("id").and_then(Value::as_str),
                model.get("costPerToken"),
            ) else {
                continue;
            };
            let key = model_key(provider, id);
            check_key(&key)?;
            for (field, unit) in [("input", "input_tokens"), ("output", "output_tokens")] {
                let Some(price) = cost.get(field) else {
                    continue;
                };
                let price = price.as_f64().filter(|p| p.is_finite() && *p >= 0.0);
                let price = price.ok_or_else(|| PriceError::BadPrice {
                    model: key.clone(),
                    unit: unit.into(),
                })?;
                let units = self.per_unit.entry(key.clone()).or_default();
                match units.get(unit) {
                    Some(known) if !same_price(*known, price) => {
                        return Err(PriceError::Disagreement {
                            integration: integration.into(),
                            model: key,
                            unit: unit.into(),
                            from_config: price,
                            from_table: *known,
                        })
                    }
                    Some(_) => {}
                    None => {
                        units.insert(unit.into(), price);
                    }
                }
            }
        }
        Ok(())
    }

    /// USD per single `unit` of `model_key`, if priced.
    pub fn unit_price(&self, model_key: &str, unit: &str) -> Option<f64> {
        self.per_unit.get(model_key)?.get(unit).copied()
    }

    /// The cost of `usage`: the sum over every entry and unit. A unit with a non-zero amount and
    /// no price makes the whole cost unknown.
    pub fn cost(&self, usage: &[Usage]) -> Cost {
        let mut total = 0.0;
        let mut missing = Vec::new();
        for entry in usage {
            let key = model_key(&entry.provider, &entry.model);
            for (unit, amount) in &entry.units {
                if *amount == 0.0 {
                    continue;
                }
                match self.unit_price(&key, unit) {
                    Some(price) => total += price * amount,
                    None => missing.push((key.clone(), unit.clone())),
                }
            }
        }
        if missing.is_empty() {
            Cost::Known(round_usd(total))
        } else {
            Cost::Unknown(missing)
        }
    }

    /// The receipt's `cost_usd`: `None` for a call that consumed nothing priced, or whose units
    /// are not all priced (logged, so the table can be completed).
    pub fn cost_usd(&self, tool: &str, usage: &[Usage]) -> Option<f64> {
        if usage.is_empty() {
            return None;
        }
        match self.cost(usage) {
            Cost::Known(usd) => Some(usd),
            Cost::Unknown(missing) => {
                tracing::warn!(
                    tool,
                    price_table = %self.version,
                    ?missing,
                    "no price for these units: the receipt's cost is unknown"
                );
                None
            }
        }
    }
}

/// The table's key for `model` at `provider`: the model as given when it is already qualified
/// with the provider (image keys are), else `<provider>/<model>`.
pub fn model_key(provider: &str, model: &str) -> String {
    if model.starts_with(&format!("{provider}/")) {
        model.to_owned()
    } else {
        format!("{provider}/{model}")
    }
}

/// Rounds to a nano-dollar: sums of binary fractions read back as the figures people compute.
pub fn round_usd(usd: f64) -> f64 {
    (usd * 1e9).round() / 1e9
}

fn same_price(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-12)
}

fn check_key(key: &str) -> Result<(), PriceError> {
    let mut parts = key.split('/');
    let ok = parts.clone().count() >= 2 && parts.all(|p| !p.trim().is_empty());
    ok.then_some(())
        .ok_or_else(|| PriceError::ModelKey(key.to_owned()))
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let number = |p: &str, len: usize| {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    matches!(parts.as_slice(), [y, m, d]
        if number(y, 4).is_some()
            && number(m, 2).is_some_and(|m| (1..=12).contains(&m))
            && number(d, 2).is_some_and(|d| (1..=31).contains(&d)))
}

/// Costs summed per tool, model and agent (what `switchyard costs` prints).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostSummary {
    /// USD over every priced receipt.
    pub total_usd: f64,
    pub by_tool: BTreeMap<String, f64>,
    /// By model key, from each receipt's usage (a receipt with several models is split by
    /// what each model's usage cost).
    pub by_model: BTreeMap<String, f64>,
    pub by_agent: BTreeMap<String, f64>,
    /// Receipts with usage but no known cost (a unit without a price).
    pub unpriced_receipts: usize,
    pub receipts: usize,
}

impl CostSummary {
    /// Adds one receipt: its `cost_usd` to its tool and agent, and per model what that model's
    /// usage cost in `table` (the receipt's total is what counts; the model split is read from
    /// the table).
    pub fn add(&mut self, table: &PriceTable, receipt: &crate::receipts::Receipt) {
        if receipt.usage.is_empty() && receipt.cost_usd.is_none() {
            return;
        }
        self.receipts += 1;
        let Some(usd) = receipt.cost_usd else {
            self.unpriced_receipts += 1;
            return;
        };
        self.total_usd = round_usd(self.total_usd + usd);
        add_to(&mut self.by_tool, &receipt.tool, usd);
        add_to(&mut self.by_agent, &receipt.agent_id, usd);
        for usage in &receipt.usage {
            if let Cost::Known(part) = table.cost(std::slice::from_ref(usage)) {
                add_to(
                    &mut self.by_model,
                    &model_key(&usage.provider, &usage.model),
                    part,
                );
            }
        }
    }
}

fn add_to(map: &mut BTreeMap<String, f64>, key: &str, usd: f64) {
    let entry = map.entry(key.to_owned()).or_insert(0.0);
    *entry = round_usd(*entry + usd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin() -> PriceTable {
        PriceTable::parse(BUILTIN).expect("the shipped price table is valid")
    }

    #[test]
    fn shipped_table_loads_with_every_unit_kind() {
        let table = builtin();
        assert_eq!(table.version, "2025.06.1");
        // One priced example of every unit the tools report.
        assert_eq!(
            table.unit_price("openai/gpt-4o-mini", "input_tokens"),
            Some(0.15 / 1e6)
        );
        assert_eq!(
            table.unit_price("openai/gpt-4o-mini", "output_tokens"),
            Some(0.6 / 1e6)
        );
        assert_eq!(
            table.unit_price("openai/text-embedding-3-small", "embedding_tokens"),
            Some(0.02 / 1e6)
        );
        assert_eq!(
            table.unit_price("openai/gpt-image-1/1024x1024/high", "images"),
            Some(0.167)
        );
        assert_eq!(
            table.unit_price("openai/tts-1", "characters"),
            Some(15.0 / 1e6)
        );
        assert_eq!(
            table.unit_price("openai/whisper-1", "audio_seconds"),
            Some(0.006 / 60.0)
        );
    }

    #[test]
    fn costs_are_summed_over_entries_and_units() {
        let table = builtin();
        // 1200 in + 300 out on gpt-4o-mini: 1200*0.15/1e6 + 300*0.6/1e6 = 0.00018 + 0.00018.
        // A failed first attempt on claude-3-5-haiku that consumed 100 in: 100*0.8/1e6 = 0.00008.
        // Two high 1024x1024 gpt-image-1 images: 2*0.167 = 0.334.
        // 90 s of whisper-1: 1.5 min * 0.006 = 0.009. Total 0.00036 + 0.00008 + 0.334 + 0.009.
        let usage = [
            Usage::new(
                "openai",
                "gpt-4o-mini",
                &[("input_tokens", 1200.0), ("output_tokens", 300.0)],
            ),
            Usage::new(
                "anthropic",
                "claude-3-5-haiku-latest",
                &[("input_tokens", 100.0)],
            ),
            Usage::new(
                "openai",
                "openai/gpt-image-1/1024x1024/high",
                &[("images", 2.0)],
            ),
            Usage::new("openai", "whisper-1", &[("audio_seconds", 90.0)]),
        ];
        assert_eq!(table.cost(&usage), Cost::Known(0.34344));
        assert_eq!(table.cost_usd("t", &usage), Some(0.34344));
        assert_eq!(table.cost_usd("t", &[]), None, "nothing priced consumed");
    }

    #[test]
    fn an_unpriced_unit_makes_the_cost_unknown_not_zero() {
        let table = builtin();
        let usage = [
            Usage::new("openai", "gpt-4o-mini", &[("input_tokens", 10.0)]),
            Usage::new("openai", "gpt-9-imaginary", &[("input_tokens", 10.0)]),
        ];
        assert_eq!(
            table.cost(&usage),
            Cost::Unknown(vec![(
                "openai/gpt-9-imaginary".into(),
                "input_tokens".into()
            )])
        );
        assert_eq!(table.cost_usd("t", &usage), None);
        // A priced model with an unpriced unit too.
        let odd = [Usage::new("openai", "tts-1", &[("images", 1.0)])];
        assert!(matches!(table.cost(&odd), Cost::Unknown(_)));
        // Zero of an unpriced unit costs nothing.
        let zero = [Usage::new(
            "openai",
            "tts-1",
            &[("characters", 1000.0), ("images", 0.0)],
        )];
        assert_eq!(table.cost(&zero), Cost::Known(0.015));
    }

    #[test]
    fn broken_tables_are_rejected() {
        let edit = |from: &str, to: &str| {
            let text = BUILTIN.replacen(from, to, 1);
            assert_ne!(text, BUILTIN, "{from} not in the table");
            PriceTable::parse(&text)
        };
        assert!(matches!(
            edit("\"currency\": \"USD\"", "\"currency\": \"EUR\""),
            Err(PriceError::Currency(_))
        ));
        assert!(matches!(
            edit("\"retrieved\": \"2025-06-01\"", "\"retrieved\": \"June\""),
            Err(PriceError::Date(_))
        ));
        assert!(matches!(
            edit("\"input_tokens\": 0.15", "\"input_token\": 0.15"),
            Err(PriceError::UnknownUnit { .. })
        ));
        assert!(matches!(
            edit("\"input_tokens\": 0.15", "\"input_tokens\": -0.15"),
            Err(PriceError::BadPrice { .. })
        ));
        assert!(matches!(
            edit("\"openai/gpt-4o-mini\"", "\"gpt-4o-mini\""),
            Err(PriceError::ModelKey(_))
        ));
        assert!(matches!(
            edit("\"https://openai.com/api/pricing/\"", "\"openai.com\""),
            Err(PriceError::Source(_))
        ));
        assert!(matches!(
            edit("\"version\": \"2025.06.1\",", "\"versoin\": \"x\","),
            Err(PriceError::Unreadable(_))
        ));
    }

    #[test]
    fn ai_config_costs_feed_the_table_and_must_agree_with_it() {
        let ai = |id: &str, input: f64, output: f64| {
            json!({"provider": "anthropic", "defaultModel": id, "availableModels": [
                {"id": id, "costPerToken": {"input": input, "output": output}}]})
        };
        let mut table = builtin();
        table
            .feed_ai_config("x", &ai("claude-3-opus", 0.000015, 0.000075))
            .expect("a new model");
        let usage = [Usage::new(
            "anthropic",
            "claude-3-opus",
            &[("input_tokens", 1000.0), ("output_tokens", 1000.0)],
        )];
        // 1000 * 0.000015 + 1000 * 0.000075 = 0.015 + 0.075.
        assert_eq!(table.cost(&usage), Cost::Known(0.09));
        // The same figure as the table (0.8 and 4.0 per million): accepted.
        table
            .feed_ai_config("x", &ai("claude-3-5-haiku-latest", 0.0000008, 0.000004))
            .expect("agrees with the table");
        assert!(matches!(
            table.feed_ai_config("x", &ai("claude-3-5-haiku-latest", 0.000001, 0.000004)),
            Err(PriceError::Disagreement { .. })
        ));
    }

    #[test]
    fn the_catalog_and_the_table_load_together() {
        let catalog = crate::definitions::Catalog::load().expect("definitions");
        let table = PriceTable::load(
            catalog
                .integrations()
                .map(|i| (i.integration_id.as_str(), i.ai_config.as_ref())),
        )
        .expect("aiConfig costs agree with the price table");
        assert!(table
            .unit_price("openai/gpt-4o-mini", "input_tokens")
            .is_some());
    }

    #[test]
    fn summaries_split_by_tool_model_and_agent() {
        let table = builtin();
        let receipt = |tool: &str, agent: &str, usage: Vec<Usage>| {
            let cost_usd = table.cost_usd(tool, &usage);
            crate::receipts::Receipt {
                receipt_id: "r".into(),
                tool: tool.into(),
                instance_id: "i".into(),
                agent_id: agent.into(),
                user: None,
                request_id: "q".into(),
                trace_id: None,
                idempotency_key: None,
                status: "ok".into(),
                error_code: None,
                provider_status: Some(200),
                provider_request_ids: vec![],
                attempts: vec![],
                latency_ms: 1,
                cost: None,
                usage,
                message_ids: vec![],
                cost_usd,
                created_at: 1,
            }
        };
        let mut summary = CostSummary::default();
        // 0.00036 (see above) + 1e6 embedding tokens = 0.02 + unpriced + no usage.
        summary.add(
            &table,
            &receipt(
                "llm.generate_text",
                "a1",
                vec![Usage::new(
                    "openai",
                    "gpt-4o-mini",
                    &[("input_tokens", 1200.0), ("output_tokens", 300.0)],
                )],
            ),
        );
        summary.add(
            &table,
            &receipt(
                "llm.embed",
                "a2",
                vec![Usage::new(
                    "openai",
                    "text-embedding-3-small",
                    &[("embedding_tokens", 1e6)],
                )],
            ),
        );
        summary.add(
            &table,
            &receipt(
                "llm.embed",
                "a2",
                vec![Usage::new("openai", "nope", &[("embedding_tokens", 5.0)])],
            ),
        );
        summary.add(&table, &receipt("slack.post_message", "a1", vec![]));
        assert_eq!(summary.total_usd, 0.02036);
        assert_eq!(summary.by_tool["llm.generate_text"], 0.00036);
        assert_eq!(summary.by_tool["llm.embed"], 0.02);
        assert_eq!(summary.by_agent["a1"], 0.00036);
        assert_eq!(summary.by_model["openai/text-embedding-3-small"], 0.02);
        assert_eq!(summary.unpriced_receipts, 1);
        assert_eq!(summary.receipts, 3);
    }
}
