//! The local host's EventBridge Scheduler: the emulator stores schedules but never fires them,
//! so this driver lists the intents' schedule group (ListSchedules, GetSchedule), works out
//! which are due, and runs the intents worker in-process with each schedule's target input, the
//! scheduled time filled in as the scheduler would. A one-off (`at(...)`) is deleted after it
//! fired (`ActionAfterCompletion: DELETE`); a cron schedule fires its latest due occurrence
//! and stays.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use switchyard::clock::rfc3339;
use switchyard::intents::{ScheduleView, WorkerInput, SCHEDULED_TIME};
use switchyard::tools::intents::{cron::Cron, parse_time, worker};
use switchyard::App;

/// Why a pass could not list or read the schedules.
#[derive(Debug, thiserror::Error)]
#[error("intent schedules: {0}")]
pub struct FireError(String);

/// The cron occurrences this process has fired, by schedule name (the scheduler's own memory of
/// where a recurring schedule is). A cron schedule seen for the first time fires from then on.
#[derive(Debug, Default)]
pub struct CronMemory(Mutex<HashMap<String, u64>>);

/// What one pass fired: (schedule name, scheduled time, outcome).
pub type Fired = Vec<(String, u64, worker::Outcome)>;

/// The scheduled time at which `schedule` is due at `now`, if it is.
fn due(schedule: &ScheduleView, now: u64, memory: &CronMemory) -> Option<u64> {
    let expression = schedule.expression.trim();
    if let Some(at) = expression
        .strip_prefix("at(")
        .and_then(|e| e.strip_suffix(')'))
    {
        let at = parse_time(&format!("{at}Z"))?;
        return (at <= now).then_some(at);
    }
    let cron = Cron::parse(expression).ok()?;
    let mut seen = memory.0.lock().unwrap_or_else(|e| e.into_inner());
    let last = *seen.entry(schedule.name.clone()).or_insert(now);
    let mut latest = None;
    let mut after = last;
    while let Some(next) = cron.next_after(after).filter(|n| *n <= now) {
        latest = Some(next);
        after = next;
    }
    if let Some(at) = latest {
        seen.insert(schedule.name.clone(), at);
    }
    latest
}

/// One pass at `now`: fires every due schedule of the group once.
pub async fn fire_due(app: &App, now: u64, memory: &CronMemory) -> Result<Fired, FireError> {
    let schedules = &app.tools().schedules;
    let names = schedules
        .names()
        .await
        .map_err(|e| FireError(e.to_string()))?;
    let mut fired = Vec::new();
    for name in names {
        let Some(schedule) = schedules
            .get(&name)
            .await
            .map_err(|e| FireError(e.to_string()))?
        else {
            continue;
        };
        let Some(at) = due(&schedule, now, memory) else {
            continue;
        };
        let input = schedule.input.replace(SCHEDULED_TIME, &rfc3339(at));
        let outcome = match serde_json::from_str::<WorkerInput>(&input) {
            Ok(input) => {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                worker::run(app.tools(), &input, deadline).await
            }
            Err(e) => worker::Outcome::Failed(format!("not a worker input: {e}")),
        };
        if schedule.expression.starts_with("at(") {
            schedules
                .delete(&name)
                .await
                .map_err(|e| FireError(e.to_string()))?;
        }
        fired.push((name, at, outcome));
    }
    Ok(fired)
}

/// Fires due schedules every `every`, by the app's clock (the local intents scheduler).
pub async fn fire_intents(app: std::sync::Arc<App>, every: Duration) {
    let memory = CronMemory::default();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match fire_due(&app, app.clock.now(), &memory).await {
            Ok(fired) if !fired.is_empty() => tracing::info!(?fired, "intent schedules fired"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "intent schedules could not be read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(expression: &str) -> ScheduleView {
        ScheduleView {
            name: "s".into(),
            expression: expression.into(),
            input: String::new(),
        }
    }

    #[test]
    fn one_offs_are_due_from_their_time() {
        let memory = CronMemory::default();
        let at = schedule("at(2026-11-27T18:00:00)");
        assert_eq!(due(&at, 1_795_802_399, &memory), None);
        assert_eq!(due(&at, 1_795_802_400, &memory), Some(1_795_802_400));
    }

    #[test]
    fn cron_fires_each_occurrence_once_from_when_it_was_first_seen() {
        let memory = CronMemory::default();
        let hourly = schedule("cron(0 * * * ? *)");
        let t = 1_795_802_400; // 18:00
        assert_eq!(
            due(&hourly, t + 60, &memory),
            None,
            "first sight: from now on"
        );
        assert_eq!(due(&hourly, t + 3599, &memory), None);
        assert_eq!(due(&hourly, t + 3600, &memory), Some(t + 3600));
        assert_eq!(due(&hourly, t + 3700, &memory), None, "fired once");
        // Two occurrences missed: the latest fires.
        assert_eq!(due(&hourly, t + 3 * 3600 + 5, &memory), Some(t + 3 * 3600));
    }
}
