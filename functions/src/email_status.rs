//! `email-status`: SES email events (EventBridge rule on the default bus, source `aws.ses`)
//! recorded against the messages the email tools sent ([`switchyard_aws::ses_events`]).

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use switchyard_aws::messages::MessageLog;
use switchyard_aws::ses_events::{self, Applied};
use switchyard_aws::Startup;
use switchyard_core::clock::Clock;
use switchyard_core::config::needs;

/// The function's context: the message log only.
#[derive(Debug)]
pub struct EmailStatus {
    pub log: MessageLog,
    pub clock: Clock,
}

impl EmailStatus {
    pub fn from_env() -> Result<Self, lambda_runtime::Error> {
        let start = Startup::from_env(needs::EMAIL_STATUS)?;
        Ok(Self {
            log: MessageLog::new(start.aws.dynamodb(), &start.resources.messages_table),
            clock: start.clock,
        })
    }
}

/// One SES event. A write failure is returned, so EventBridge's retry policy runs it again.
pub async fn email_status(
    app: &EmailStatus,
    event: LambdaEvent<Value>,
) -> Result<Applied, lambda_runtime::Error> {
    let detail = event.payload.get("detail").cloned().unwrap_or(Value::Null);
    let deadline =
        crate::lambda::deadline_of(&event.context, std::time::Duration::from_millis(500));
    let applied = tokio::time::timeout_at(
        deadline,
        ses_events::record(&app.log, &detail, app.clock.now()),
    )
    .await
    .map_err(|_| "out of time recording an SES event")??;
    tracing::info!(?applied, "SES event");
    Ok(applied)
}
