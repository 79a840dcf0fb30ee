//! Whose credential a call uses: the instance's `connection_mode` and the user a call is for.
//!
//! - `shared` (the default): the instance's credential (its OAuth connection or its secret),
//!   whoever the call is for; the user is still recorded on the receipt.
//! - `per_user`: only the connection of the user the call is for. A call for nobody, or for a
//!   user without a connection, is `connection_required`.
//! - `both`: the user's own connection when the call is for a user (never the shared one as a
//!   fallback), the instance's credential when the agent acts as itself.

use tokio::time::Instant;

use crate::instances::Instance;
use crate::{within, ErrorCode, ToolError, Tools};
use switchyard_aws::connections::Status;

/// The instance config key.
pub const CONFIG_KEY: &str = "connection_mode";
/// How long the link of a `connection_required` answer stays valid.
const CONNECT_LINK_TTL_SECS: u64 = 3600;

/// Which connections an instance allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMode {
    Shared,
    PerUser,
    Both,
}

/// An instance's `connection_mode` is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection_mode must be shared, per_user or both, not {0:?}")]
pub struct BadMode(pub String);

/// Where a call's credential comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// The instance's own credential.
    Shared,
    /// This user's own connection, and nothing else.
    User(&'a str),
    /// A per-user instance called for nobody.
    NoUser,
}

impl ConnectionMode {
    /// The mode an instance's config sets (`shared` when it sets none).
    pub fn of(instance: &Instance) -> Result<Self, BadMode> {
        match instance.config.get(CONFIG_KEY).map(String::as_str) {
            None | Some("shared") => Ok(Self::Shared),
            Some("per_user") => Ok(Self::PerUser),
            Some("both") => Ok(Self::Both),
            Some(other) => Err(BadMode(other.to_owned())),
        }
    }

    /// Where a call for `user` (or for nobody) takes its credential from.
    pub fn source(self, user: Option<&str>) -> Source<'_> {
        match (self, user) {
            (Self::Shared, _) | (Self::Both, None) => Source::Shared,
            (Self::PerUser | Self::Both, Some(user)) => Source::User(user),
            (Self::PerUser, None) => Source::NoUser,
        }
    }
}

/// The id of `user`'s usable connection to `instance`; `connection_required` with a signed
/// start link for that user when there is none (or it was disconnected).
pub async fn user_connection(
    app: &Tools,
    instance: &Instance,
    user: &str,
    deadline: Instant,
) -> Result<String, ToolError> {
    let found = within(
        deadline,
        "the user's connection lookup",
        app.connections.for_owner(&instance.id, user),
    )
    .await?
    .map_err(|e| ToolError::unavailable(e.to_string()))?;
    match found {
        Some(c) if c.status != Status::Revoked => Ok(c.id),
        _ => Err(connection_required(app, instance, user, deadline).await),
    }
}

/// `connection_required` for `user`, with a link that connects them when one can be signed
/// (an OAuth provider, and the link key at hand within `deadline`).
async fn connection_required(
    app: &Tools,
    instance: &Instance,
    user: &str,
    deadline: Instant,
) -> ToolError {
    let mut error = ToolError::new(
        ErrorCode::ConnectionRequired,
        format!("{user} has not connected instance {}", instance.id),
        false,
    );
    let oauth = app
        .registry
        .get(&instance.provider)
        .is_some_and(|d| d.oauth.is_some());
    if oauth {
        let link = within(
            deadline,
            "signing the connect link",
            switchyard_oauth::links::sign(
                &app.link_key,
                &app.public_url,
                &instance.provider,
                &instance.id,
                Some(user),
                CONNECT_LINK_TTL_SECS,
                app.clock.now(),
            ),
        )
        .await;
        match link {
            Ok(Ok(url)) => error.connect_url = Some(Box::new(url)),
            Ok(Err(e)) => tracing::error!(error = %e, "could not sign a connect link"),
            Err(e) => tracing::error!(error = %e, "could not sign a connect link in time"),
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_call_never_falls_back_to_the_shared_credential() {
        assert_eq!(
            ConnectionMode::Both.source(Some("ada")),
            Source::User("ada")
        );
        assert_eq!(
            ConnectionMode::PerUser.source(Some("ada")),
            Source::User("ada")
        );
        assert_eq!(ConnectionMode::PerUser.source(None), Source::NoUser);
        assert_eq!(ConnectionMode::Both.source(None), Source::Shared);
        assert_eq!(ConnectionMode::Shared.source(Some("ada")), Source::Shared);
        assert_eq!(ConnectionMode::Shared.source(None), Source::Shared);
    }
}
