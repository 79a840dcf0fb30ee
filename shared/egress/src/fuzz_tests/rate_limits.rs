//! The Retry-After and rate-limit header parsers: any header or body gives a wait within the
//! documented cap (or none), never a panic; numbers and HTTP dates read as what they say.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::Value;

use super::{config, json};
use crate::outbound::{provider_wait, retry_after, Buckets};

/// The longest wait a provider header is taken at (`outbound`'s documented cap).
const CAP: Duration = Duration::from_secs(3600);

const DAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An IMF-fixdate of unix seconds `secs` (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn imf_fixdate(secs: u64) -> String {
    let text = switchyard_core::clock::rfc3339(secs);
    let (y, mo, d) = (&text[0..4], &text[5..7], &text[8..10]);
    let month = MONTHS[mo.parse::<usize>().expect("month") - 1];
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[((secs / 86_400 + 3) % 7) as usize];
    format!("{weekday}, {d} {month} {y} {} GMT", &text[11..19])
}

fn header(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("retry-after".to_owned(), value.to_owned())])
}

/// Text shaped like an IMF-fixdate, with numbers in its fields that are wrong but not absurd
/// (see [`absurd_dates`] for the rest).
fn date_like() -> impl Strategy<Value = String> {
    imf_shaped(
        prop_oneof![1u64..40, 32u64..1_000_000],
        prop_oneof![1900i64..10_000, -1_000_000_000i64..1_000_000_000],
    )
}

/// Day 0 and years past ±10^13: what `outbound::http_date` overflows on (a panic in debug
/// builds, a wrapped date in release).
fn absurd_dates() -> impl Strategy<Value = String> {
    imf_shaped(
        prop_oneof![Just(0u64), any::<u64>()],
        prop_oneof![any::<i64>(), 10_000_000_000_000i64..],
    )
}

fn imf_shaped(
    day: impl Strategy<Value = u64>,
    year: impl Strategy<Value = i64>,
) -> impl Strategy<Value = String> {
    (
        prop::sample::select(DAYS),
        day,
        prop_oneof![
            prop::sample::select(MONTHS).prop_map(str::to_owned),
            "[A-Za-z]{3}"
        ],
        year,
        prop_oneof![0u64..62, any::<u64>()],
        prop_oneof![0u64..62, any::<u64>()],
        prop_oneof![0u64..62, any::<u64>()],
    )
        .prop_map(|(wd, d, mo, y, h, mi, s)| {
            format!("{wd}, {d:02} {mo} {y} {h:02}:{mi:02}:{s:02} GMT")
        })
}

proptest! {
    #![proptest_config(config(1500))]

    /// Any number of seconds: NaN is no wait, everything else a wait within [0, cap], exactly
    /// the seconds asked where they are inside it, and longer asks never wait less.
    #[test]
    fn provider_waits_are_clamped_and_monotonic(a in any::<f64>(), b in any::<f64>()) {
        let (wa, wb) = (provider_wait(a), provider_wait(b));
        prop_assert_eq!(wa.is_none(), a.is_nan());
        if let (Some(wa), Some(wb)) = (wa, wb) {
            prop_assert!(wa <= CAP && wb <= CAP);
            if a <= b {
                prop_assert!(wa <= wb);
            }
            if (0.0..=CAP.as_secs_f64()).contains(&a) {
                prop_assert!((wa.as_secs_f64() - a).abs() < 1e-6, "{a}: {wa:?}");
            }
        }
    }

    /// Any Retry-After text and any body: a wait within the cap or none, never a panic; a
    /// number in the header reads as that many seconds.
    #[test]
    fn retry_after_reads_any_header_and_body(
        value in prop_oneof![
            any::<String>(),
            any::<f64>().prop_map(|f| f.to_string()),
            "[ +-]?[0-9]{0,25}(\\.[0-9]{0,6})?([eE][+-]?[0-9]{1,4})? ?",
            date_like(),
        ],
        body in json(&["retry_after", "global", "message"]),
    ) {
        let wait = retry_after(&header(&value), &body);
        prop_assert!(wait.is_none_or(|w| w <= CAP), "{value:?}: {wait:?}");
        if let Ok(secs) = value.trim().parse::<f64>() {
            prop_assert_eq!(wait, provider_wait(secs));
        }
        let from_body = retry_after(&BTreeMap::new(), &body);
        let asked = body.get("retry_after").and_then(Value::as_f64);
        prop_assert_eq!(from_body, asked.and_then(provider_wait));
    }

    /// An HTTP date in the future is waited for until then (capped); one in the past is no wait.
    #[test]
    fn retry_after_dates_wait_until_then(ahead in -10_000_000i64..10_000_000) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        let at = now.saturating_add_signed(ahead);
        let wait = retry_after(&header(&imf_fixdate(at)), &Value::Null).expect("a date");
        let expected = Duration::from_secs(u64::try_from(ahead).unwrap_or(0)).min(CAP);
        // The parser reads the clock a moment later than this test did.
        prop_assert!(wait <= expected && expected - wait <= Duration::from_secs(2), "{ahead}: {wait:?}");
    }

    /// Discord's bucket headers, any text: a remembered wait within the cap, never a panic;
    /// an exhausted bucket waits at most what it said.
    #[test]
    fn rate_limit_buckets_take_any_headers(
        remaining in prop_oneof!["[0-9]{1,3}", any::<String>(), Just("0".to_owned())],
        reset_after in prop_oneof![
            any::<f64>().prop_map(|f| f.to_string()),
            "[0-9]{1,4}(\\.[0-9]{1,3})?",
            any::<String>(),
        ],
    ) {
        let buckets = Buckets::default();
        let headers = BTreeMap::from([
            ("x-ratelimit-remaining".to_owned(), remaining.clone()),
            ("x-ratelimit-reset-after".to_owned(), reset_after.clone()),
        ]);
        buckets.update("route", &headers);
        let wait = buckets.wait_for("route");
        prop_assert!(wait.is_none_or(|w| w <= CAP));
        let exhausted = remaining.parse::<u64>() == Ok(0);
        if let (true, Ok(after)) = (exhausted, reset_after.parse::<f64>()) {
            if after > 0.5 && after <= CAP.as_secs_f64() {
                let w = wait.expect("an exhausted bucket waits");
                prop_assert!(w.as_secs_f64() <= after + 1e-6);
            }
        }
        if !exhausted {
            prop_assert_eq!(wait, None);
        }
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Found by this suite: `http_date` did its calendar arithmetic before its range checks, so
    /// `Retry-After: Sun, 00 Mar 2026 00:00:00 GMT` (day 0) or a year past ±10^13 overflowed (a
    /// panic in debug builds, a bogus wait in release). Ranges are now checked first.
    #[test]
    fn retry_after_survives_absurd_dates(value in absurd_dates()) {
        let wait = retry_after(&header(&value), &Value::Null);
        prop_assert!(wait.is_none(), "{value:?}: {wait:?}");
    }
}
