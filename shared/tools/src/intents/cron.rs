//! EventBridge cron expressions (`minutes hours day-of-month month day-of-week year`, UTC):
//! checked before a schedule is made, and evaluated by the local host, which fires due
//! schedules itself.
//!
//! Supported: `*`, `?`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` `a/n` `a-b/n`, month
//! names `JAN`–`DEC` and day names `SUN`–`SAT` (`1` is Sunday, as in EventBridge). Exactly one
//! of day-of-month and day-of-week is `?`. The `L`, `W` and `#` forms are refused: intents do
//! not need them and the local evaluator would have to guess.

use chrono::{DateTime, Datelike, Timelike};

/// Why an expression is not a cron intents accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("a cron expression has 6 fields (minutes hours day-of-month month day-of-week year); this one has {0}")]
    FieldCount(usize),
    #[error("{field}: {value:?} is not valid ({reason})")]
    Field {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("exactly one of day-of-month and day-of-week must be '?'")]
    DayFields,
    #[error("the expression never fires again")]
    NeverFires,
}

/// One parsed field: which values match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field(Vec<bool>);

impl Field {
    fn matches(&self, value: u32) -> bool {
        self.0.get(value as usize).copied().unwrap_or(false)
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Field,
    hours: Field,
    /// `None`: `?` (the other day field decides).
    day_of_month: Option<Field>,
    month: Field,
    /// 1 = Sunday … 7 = Saturday.
    day_of_week: Option<Field>,
    year: Field,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const YEAR_MIN: u32 = 1970;
const YEAR_MAX: u32 = 2199;

fn value(text: &str, names: &[&str], first: u32, field: &'static str) -> Result<u32, CronError> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(first + i as u32);
    }
    text.parse().map_err(|_| CronError::Field {
        field,
        value: text.to_owned(),
        reason: "not a number".into(),
    })
}

fn field(
    text: &str,
    field_name: &'static str,
    (min, max): (u32, u32),
    names: &[&str],
) -> Result<Field, CronError> {
    let bad = |reason: &str| CronError::Field {
        field: field_name,
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    if text.contains(['L', 'W', '#']) && !names.iter().any(|n| text.contains(n)) {
        return Err(bad("L, W and # are not supported"));
    }
    let mut set = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad("the step is not a positive number"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, names, min, field_name)?,
                value(b, names, min, field_name)?,
            )
        } else {
            let v = value(range, names, min, field_name)?;
            // `a/n` runs from a to the end of the range.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(bad(&format!("values run from {min} to {max}")));
        }
        for v in (lo..=hi).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(Field(set))
}

impl Cron {
    /// Parses `expression`, with or without its `cron(...)` wrapper.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        let inner = expression
            .trim()
            .strip_prefix("cron(")
            .and_then(|e| e.strip_suffix(')'))
            .unwrap_or(expression.trim());
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = fields.as_slice() else {
            return Err(CronError::FieldCount(fields.len()));
        };
        let day = |text: &str, name, range, names: &[&str]| {
            if text == "?" {
                Ok(None)
            } else {
                field(text, name, range, names).map(Some)
            }
        };
        let cron = Self {
            minutes: field(min, "minutes", (0, 59), &[])?,
            hours: field(hour, "hours", (0, 23), &[])?,
            day_of_month: day(dom, "day-of-month", (1, 31), &[])?,
            month: field(month, "month", (1, 12), &MONTHS)?,
            day_of_week: day(dow, "day-of-week", (1, 7), &DAYS)?,
            year: field(year, "year", (YEAR_MIN, YEAR_MAX), &[])?,
        };
        if cron.day_of_month.is_some() == cron.day_of_week.is_some() {
            return Err(CronError::DayFields);
        }
        Ok(cron)
    }

    fn day_matches(&self, date: &DateTime<chrono::Utc>) -> bool {
        let weekday = date.weekday().num_days_from_sunday() + 1;
        self.year.matches(date.year() as u32)
            && self.month.matches(date.month())
            && self
                .day_of_month
                .as_ref()
                .is_none_or(|f| f.matches(date.day()))
            && self.day_of_week.as_ref().is_none_or(|f| f.matches(weekday))
    }

    /// The first occurrence strictly after `after` (unix seconds), if any within five years.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        let start = (after / 60 + 1) * 60;
        let first_day = start / 86_400;
        for day in first_day..first_day + 5 * 366 {
            let midnight = DateTime::from_timestamp((day * 86_400) as i64, 0)?;
            if !self.day_matches(&midnight) {
                continue;
            }
            for hour in (0..24).filter(|h| self.hours.matches(*h)) {
                for minute in (0..60).filter(|m| self.minutes.matches(*m)) {
                    let at = day * 86_400 + u64::from(hour) * 3600 + u64::from(minute) * 60;
                    if at >= start {
                        debug_assert_eq!(
                            DateTime::from_timestamp(at as i64, 0).map(|d| d.minute()),
                            Some(minute)
                        );
                        return Some(at);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-27T18:00:00Z, a Friday.
    const FRI_18H: u64 = 1_795_802_400;

    #[test]
    fn parses_eventbridge_fields_and_refuses_the_rest() {
        assert!(Cron::parse("cron(0 12 * * ? *)").is_ok());
        assert!(Cron::parse("0/15 8-17 ? * MON-FRI *").is_ok());
        assert!(Cron::parse("0 10 1,15 JAN,JUL ? 2027").is_ok());
        assert_eq!(Cron::parse("* * * * *"), Err(CronError::FieldCount(5)));
        assert_eq!(Cron::parse("0 12 * * * *"), Err(CronError::DayFields));
        assert_eq!(Cron::parse("0 12 ? * ? *"), Err(CronError::DayFields));
        assert!(matches!(
            Cron::parse("61 12 * * ? *"),
            Err(CronError::Field {
                field: "minutes",
                ..
            })
        ));
        assert!(matches!(
            Cron::parse("0 12 L * ? *"),
            Err(CronError::Field {
                field: "day-of-month",
                ..
            })
        ));
        assert!(Cron::parse("0 12 ? * 2#1 *").is_err());
    }

    #[test]
    fn finds_the_next_occurrence() {
        assert_eq!(chrono_text(FRI_18H), "2026-11-27T18:00:00Z");
        let hourly = Cron::parse("0 * * * ? *").expect("hourly");
        assert_eq!(hourly.next_after(FRI_18H), Some(FRI_18H + 3600));
        let quarter = Cron::parse("0/15 * * * ? *").expect("quarter");
        assert_eq!(quarter.next_after(FRI_18H + 60), Some(FRI_18H + 900));
        // Weekdays at 09:00: from Friday evening the next is Monday.
        let weekdays = Cron::parse("0 9 ? * MON-FRI *").expect("weekdays");
        assert_eq!(
            chrono_text(weekdays.next_after(FRI_18H).expect("next")),
            "2026-11-30T09:00:00Z"
        );
        // 1 is Sunday.
        let sundays = Cron::parse("30 6 ? * 1 *").expect("sundays");
        assert_eq!(
            chrono_text(sundays.next_after(FRI_18H).expect("next")),
            "2026-11-29T06:30:00Z"
        );
        let past = Cron::parse("0 0 1 1 ? 2020").expect("parses");
        assert_eq!(past.next_after(FRI_18H), None);
    }

    fn chrono_text(secs: u64) -> String {
        switchyard_core::clock::rfc3339(secs)
    }
}
