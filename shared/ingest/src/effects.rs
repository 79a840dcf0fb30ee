//! Applies what a delivery changes in the gateway's own state ([`Effect`]), before its events
//! are published. Every write is idempotent: a redelivered record applies its effects again
//! with the same result, and a failure leaves the record on the queue to be retried.

use switchyard_aws::messages::{MessageLogError, Recorded, StatusEvent};
use switchyard_aws::recipients::RecipientError;
use switchyard_providers::Effect;

use crate::instances::Instance;
use crate::Consumer;

/// Why an effect could not be recorded (the record is retried).
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error(transparent)]
    Messages(#[from] MessageLogError),
    #[error(transparent)]
    Recipients(#[from] RecipientError),
    #[error(transparent)]
    Connections(#[from] switchyard_aws::connections::ConnectionError),
}

/// Applies `effects` of a delivery to `instance`, in order.
pub async fn apply(
    app: &Consumer,
    instance: &Instance,
    effects: &[Effect],
) -> Result<(), EffectError> {
    for effect in effects {
        let recipients = &app.recipients;
        match effect {
            Effect::InboundMessage { recipient, at } => {
                recipients
                    .record_inbound(&instance.id, recipient, *at)
                    .await?
            }
            Effect::OptedOut { recipient, at } => {
                recipients.opt_out(&instance.id, recipient, *at).await?;
                tracing::info!(instance_id = %instance.id, "a recipient opted out");
            }
            Effect::OptedIn { recipient, at } => {
                recipients.opt_in(&instance.id, recipient, *at).await?;
                tracing::info!(instance_id = %instance.id, "a recipient opted back in");
            }
            Effect::MessageStatus {
                message_id,
                recipient,
                status,
                at,
            } => {
                // The provider is the message's sending service: statuses of SendGrid's event
                // webhook are about mail sent through SendGrid.
                let event = StatusEvent {
                    recipient: recipient.clone(),
                    status: status.clone(),
                    at: *at,
                };
                let recorded = app
                    .messages
                    .record_status(&instance.provider, message_id, &event)
                    .await?;
                if recorded == Recorded::UnknownMessage {
                    tracing::info!(instance_id = %instance.id, %status, "status of a message no tool sent; ignored");
                }
            }
            Effect::AppUninstalled => crate::uninstalled::revoke(app, instance).await?,
        }
    }
    Ok(())
}
