//! The local stand-in for `EmailStatusFunction`: SES email events that EventBridge's rule on the
//! default bus sends to the stand-in queue, recorded in the message log by the same code
//! ([`switchyard::ses_events::record`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard::App;

use crate::local::{poll_once, DriverError, DriverSettings};

/// Receives one batch of the stand-in queue and records each event. A record whose write
/// failed is retried after the visibility timeout, as EventBridge retries a failed target.
pub async fn drive_status_once(
    app: &App,
    settings: DriverSettings,
) -> Result<(usize, usize), DriverError> {
    let Some(queue) = app.resources.email_events_queue_url.clone() else {
        return Ok((0, 0));
    };
    let log = app.tools().messages.clone();
    poll_once(app, &queue, settings, |records| async move {
        let mut failed = Vec::new();
        for record in records {
            let Ok(event) = serde_json::from_str::<Value>(&record.body) else {
                tracing::warn!("not an EventBridge event; dropped");
                continue;
            };
            let detail = event.get("detail").cloned().unwrap_or(Value::Null);
            if let Err(e) = switchyard::ses_events::record(&log, &detail, app.clock.now()).await {
                tracing::warn!(error = %e, "SES event not recorded; retried");
                failed.push(record.message_id);
            }
        }
        failed
    })
    .await
}

/// Drives the SES email events forever.
pub async fn drive_status(app: Arc<App>, settings: DriverSettings) {
    loop {
        if let Err(e) = drive_status_once(&app, settings).await {
            tracing::warn!(error = %e, "email events poll failed; retrying in 2 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
