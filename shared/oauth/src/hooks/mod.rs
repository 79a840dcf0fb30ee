//! What a provider does at its own end when a connection is made or removed, behind one trait.
//!
//! Most providers need nothing: a connection is its tokens. A provider that has to be told
//! about the gateway (Shopify's webhook subscriptions, created per shop with the shop's token)
//! implements [`ConnectionHook`] and is listed once in [`CONNECTION_HOOKS`]. The OAuth
//! callback runs `on_connected` after the connection is stored; a disconnect runs
//! `on_disconnected` while the token still works. Both are best effort: the connection is the
//! record, and a hook's failure is logged and audited, never a reason to refuse a connection.

mod shopify;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::connections::Connection;
use crate::instances::Instance;
use crate::secret::SecretString;
use crate::Vault;

/// How long a hook may take (the callback page waits for it).
pub const HOOK_DEADLINE: Duration = Duration::from_secs(15);

/// Why a hook did not finish (logged and audited).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider refused: {0}")]
    Refused(String),
    #[error("the instance is misconfigured: {0}")]
    Misconfigured(String),
    #[error("could not record: {0}")]
    Record(String),
    #[error("took longer than {0:?}")]
    Deadline(Duration),
}

/// A boxed hook future (the trait is used as `dyn`).
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send + 'a>>;

/// What one connection event gives a hook.
#[derive(Debug, Clone, Copy)]
pub struct HookContext<'a> {
    pub vault: &'a Vault,
    pub instance: &'a Instance,
    pub connection: &'a Connection,
    /// The connection's access token (never logged).
    pub token: &'a SecretString,
}

/// A provider's code for connection events; both default to doing nothing.
pub trait ConnectionHook: Send + Sync + std::fmt::Debug {
    /// After a connection was stored by the OAuth callback.
    fn on_connected<'a>(&'a self, _cx: HookContext<'a>) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    /// Before a connection is revoked (its token still works).
    fn on_disconnected<'a>(&'a self, _cx: HookContext<'a>) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

type MakeHook = fn() -> Arc<dyn ConnectionHook>;

/// The providers with connection hooks, by provider id.
pub const CONNECTION_HOOKS: &[(&str, MakeHook)] =
    &[("shopify", || Arc::new(shopify::Subscriptions))];

/// The hook of `provider`, if it has one.
pub fn hook_for(provider: &str) -> Option<Arc<dyn ConnectionHook>> {
    CONNECTION_HOOKS
        .iter()
        .find(|(id, _)| *id == provider)
        .map(|(_, make)| make())
}

/// Which event a hook runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Connected,
    Disconnected,
}

/// Runs the provider's hook for `event`, if it has one, within [`HOOK_DEADLINE`]; a failure is
/// logged and audited on the connection.
pub async fn run(event: Event, cx: HookContext<'_>) {
    let Some(hook) = hook_for(&cx.connection.provider) else {
        return;
    };
    let future = match event {
        Event::Connected => hook.on_connected(cx),
        Event::Disconnected => hook.on_disconnected(cx),
    };
    let result = match tokio::time::timeout(HOOK_DEADLINE, future).await {
        Ok(result) => result,
        Err(_) => Err(HookError::Deadline(HOOK_DEADLINE)),
    };
    let action = match event {
        Event::Connected => "connect_hook",
        Event::Disconnected => "disconnect_hook",
    };
    match result {
        Ok(()) => crate::audit(cx.vault, cx.connection, action, "done").await,
        Err(e) => {
            tracing::error!(connection_id = %cx.connection.id, error = %e, action, "connection hook failed");
            crate::audit(cx.vault, cx.connection, action, &format!("failed: {e}")).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_providers_have_hooks() {
        assert!(hook_for("shopify").is_some());
        assert!(hook_for("notion").is_none());
    }
}
