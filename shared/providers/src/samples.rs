//! Every webhook provider's sample (`shared/providers/samples/<id>.json`), walked through
//! verify → interpret → tenant binding → normalize. A provider without a sample, or whose sample
//! does not come out as the events it lists, fails here, not in front of a delivery.
//!
//! A sample: `config` (the instance's values, secrets included: test values only) and
//! `requests`, each with `now`, `headers`, the raw `body` and the PlatformEvent types expected.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

/// A provider's sample requests.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    #[serde(default)]
    pub note: String,
    pub config: BTreeMap<String, String>,
    pub requests: Vec<SampleRequest>,
}

/// One signed request and what it must become.
#[derive(Debug, Clone, Deserialize)]
pub struct SampleRequest {
    pub name: String,
    pub now: u64,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The PlatformEvent types, in order.
    pub events: Vec<String>,
}

impl SampleRequest {
    /// The headers as a `HeaderMap`.
    pub fn header_map(&self) -> HeaderMap {
        self.headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect()
    }
}

/// The samples compiled in (every `shared/providers/samples/*.json`), by file name.
const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// The samples compiled into this build, by provider id.
pub fn builtin() -> Result<BTreeMap<String, Sample>, String> {
    BUILTIN
        .iter()
        .map(|(file, text)| {
            let id = file.trim_end_matches(".json").to_owned();
            let sample = serde_json::from_str(text).map_err(|e| format!("{file}: {e}"))?;
            Ok((id, sample))
        })
        .collect()
}

/// The samples in a directory, by provider id.
pub fn load(dir: &std::path::Path) -> Result<BTreeMap<String, Sample>, String> {
    let mut samples = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let sample: Sample =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            samples.insert(id.to_owned(), sample);
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{tenant_mismatch, Interpretation};
    use crate::verify::Verifier;
    use crate::Registry;
    use switchyard_core::secret::SecretString;
    use switchyard_core::workitem::WorkItem;

    fn samples() -> BTreeMap<String, Sample> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let loaded = load(&dir).expect("samples");
        assert_eq!(builtin().expect("builtin").len(), loaded.len());
        loaded
    }

    #[test]
    fn every_webhook_provider_walks_verify_interpret_normalize() {
        let registry = Registry::load().expect("registry");
        let samples = samples();
        let mut walked = 0;
        for id in registry.webhook_ids() {
            let def = registry.get(id).expect("def");
            let signature = &def.webhook.as_ref().expect("webhook").signature;
            if signature.checks_fetched_material() {
                // Verified against a fetched key set or a stored channel: the Google push
                // end-to-end tests (tests/e2e/google_push.rs) walk these.
                assert!(!samples.contains_key(id), "{id}: a sample nothing walks");
                continue;
            }
            let sample = samples.get(id).unwrap_or_else(|| {
                panic!("{id} takes webhooks but has no providers/samples/{id}.json")
            });
            let plugin = registry.plugin(id).expect("plugin");
            let secrets: BTreeMap<&str, SecretString> = sample
                .config
                .iter()
                .map(|(k, v)| (k.as_str(), SecretString::from(v.as_str())))
                .collect();
            let verifier = Verifier::new(signature, |k| secrets.get(k)).expect("verifier");
            for request in &sample.requests {
                let what = format!("{id}/{}", request.name);
                let headers = request.header_map();
                let body = request.body.as_bytes();
                verifier
                    .verify(&headers, body, request.now)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let mut tampered = body.to_vec();
                tampered[body.len() / 2] ^= 0x01;
                assert!(
                    verifier.verify(&headers, &tampered, request.now).is_err(),
                    "{what}: a tampered body verified"
                );
                let Interpretation::Deliver { deliveries, .. } = plugin
                    .interpret(&crate::plugin::Inbound {
                        headers: &headers,
                        body,
                        facts: &Default::default(),
                    })
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
                else {
                    panic!("{what}: not a delivery");
                };
                let mut names = Vec::new();
                for delivery in deliveries {
                    assert_eq!(
                        tenant_mismatch(&sample.config, &delivery.tenant),
                        None,
                        "{what}"
                    );
                    let item = WorkItem {
                        v: 1,
                        id: "wi_sample".into(),
                        delivery_key: format!("{id}#sample#{}", delivery.id),
                        provider: id.to_owned(),
                        instance_id: "sample".into(),
                        kind: delivery.kind,
                        received_at: request.now,
                        retry_num: None,
                        payload: Some(delivery.payload.clone()),
                        payload_ref: None,
                        event: delivery.event,
                    };
                    let normalized = plugin
                        .normalize(&item, &delivery.payload)
                        .unwrap_or_else(|| panic!("{what}: nothing for agents"));
                    names.push(normalized.event_type);
                }
                assert_eq!(names, request.events, "{what}");
                walked += 1;
            }
        }
        assert!(walked >= 7, "only {walked} samples walked");
    }

    #[test]
    fn a_wrong_tenant_is_caught() {
        let registry = Registry::load().expect("registry");
        let sample = &samples()["shopify"];
        let request = &sample.requests[0];
        let headers = request.header_map();
        let plugin = registry.plugin("shopify").expect("plugin");
        let Interpretation::Deliver { deliveries, .. } = plugin
            .interpret(&crate::plugin::Inbound {
                headers: &headers,
                body: request.body.as_bytes(),
                facts: &Default::default(),
            })
            .expect("interpret")
        else {
            panic!("not a delivery");
        };
        let mut other = sample.config.clone();
        other.insert("shop".into(), "other.myshopify.com".into());
        assert!(tenant_mismatch(&other, &deliveries[0].tenant).is_some());
        other.insert(
            "shop".into(),
            "other.myshopify.com, demo.myshopify.com".into(),
        );
        assert_eq!(tenant_mismatch(&other, &deliveries[0].tenant), None);
    }
}
