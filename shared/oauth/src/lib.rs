//! OAuth connections: consent (start), callback, the token vault, disconnect.
//!
//! Provider specifics are data (`shared/providers/*.yaml`, section `oauth`); an instance holds
//! its OAuth app's `client_id` and sealed `client_secret` and may override the URLs and scopes.

pub mod client;
mod context;
pub mod flow;
pub mod hooks;
pub mod keys;
pub mod links;
pub mod opened;
pub mod pkce;
pub mod state;
pub mod turns;
pub mod vault;

pub use context::{Hooks, OAuth, Vault};
use switchyard_aws::connections::Connection;
use switchyard_aws::events::IntegrationEvent;
use switchyard_aws::{connections, crypto, error, instances};
use switchyard_core::{reply, secret};
use switchyard_providers as providers;

/// Publishes an `integration.disconnected` event for agents and operators (best effort: the
/// connection's status is the record; a lost event is logged).
pub(crate) async fn announce(
    app: &Vault,
    connection: &Connection,
    reason_code: &str,
    detail: &str,
) {
    let event = IntegrationEvent::disconnected(connection, reason_code, detail, app.clock.now());
    if let Err(e) = app.sink.publish_integration(&event).await {
        tracing::error!(connection_id = %connection.id, error = %e, "could not publish integration event");
    }
}

/// Publishes `integration.connected` (best effort, like [`announce`]).
pub(crate) async fn announce_connected(app: &Vault, connection: &Connection) {
    let event = IntegrationEvent::connected(connection, app.clock.now());
    if let Err(e) = app.sink.publish_integration(&event).await {
        tracing::error!(connection_id = %connection.id, error = %e, "could not publish integration.connected");
    }
}

/// Appends to the audit log under `connection#<id>` (best effort, logged on failure).
pub(crate) async fn audit(app: &Vault, connection: &Connection, action: &str, detail: &str) {
    let target = format!("connection#{}", connection.id);
    if let Err(e) = app
        .audit
        .record(&target, &app.actor, action, detail, app.clock.now())
        .await
    {
        tracing::error!(connection_id = %connection.id, error = %e, "could not write audit entry");
    }
}
