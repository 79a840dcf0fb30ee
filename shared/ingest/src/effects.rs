//! Applies what a delivery changes in the gateway's own state ([`Effect`]), before its events
//! are published. Every write is idempotent: a redelivered record applies its effects again
//! with the same result, and a failure leaves the record on the queue to be retried.

use switchyard_providers::Effect;

use crate::instances::Instance;
use crate::Consumer;

/// Why an effect could not be recorded (the record is retried).
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
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
        match effect {
            Effect::AppUninstalled => crate::uninstalled::revoke(app, instance).await?,
            // Each kind is recorded by the store that owns it; kinds this build does not record
            // yet are logged so a missing store is visible.
            _ => {
                tracing::info!(instance_id = %instance.id, effect = ?kind(effect), "delivery effect not recorded by this build")
            }
        }
    }
    Ok(())
}

fn kind(effect: &Effect) -> &'static str {
    match effect {
        Effect::AppUninstalled => "app_uninstalled",
        Effect::InboundMessage { .. } => "inbound_message",
        Effect::OptedOut { .. } => "opted_out",
        Effect::OptedIn { .. } => "opted_in",
        Effect::MessageStatus { .. } => "message_status",
    }
}
