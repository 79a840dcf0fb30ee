//! [`Effect::AppUninstalled`](switchyard_providers::Effect::AppUninstalled): the account
//! removed the app, so every connection of the instance is revoked (its token no longer works;
//! the ciphertext is deleted) and `integration.disconnected` is announced. A redelivery finds
//! them revoked already and changes nothing.

use switchyard_aws::connections::Status;
use switchyard_aws::events::IntegrationEvent;

use crate::effects::EffectError;
use crate::instances::Instance;
use crate::Consumer;

/// Why the connections were revoked (their `last_error`, the event's detail).
const REASON: &str = "the app was uninstalled";

/// Revokes `instance`'s live connections; announces each (best effort, like the OAuth flow).
pub async fn revoke(app: &Consumer, instance: &Instance) -> Result<(), EffectError> {
    let now = app.clock.now();
    // Uninstalls are rare: a scan of the connections is cheaper than an index kept for them.
    let connections = app.connections.list().await?;
    for connection in connections
        .iter()
        .filter(|c| c.instance_id == instance.id && c.status != Status::Revoked)
    {
        app.connections
            .set_status(&connection.id, Status::Revoked, REASON, now)
            .await?;
        tracing::info!(instance_id = %instance.id, connection_id = %connection.id, "connection revoked: app uninstalled");
        let event = IntegrationEvent::disconnected(connection, "app_uninstalled", REASON, now);
        if let Err(e) = app.sink.publish_integration(&event).await {
            tracing::error!(connection_id = %connection.id, error = %e, "could not publish integration.disconnected");
        }
    }
    Ok(())
}
