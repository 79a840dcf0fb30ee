//! Operations: the admin CLI, the local host, and the local stack provisioned from
//! `template.yaml`. Never linked into a Lambda: it is the only crate that reads the template,
//! parses command lines or serves HTTP itself.

pub mod admin;
pub mod agents;
pub mod cli;
pub mod costs;
pub mod deferred;
pub mod email;
pub mod google;
pub mod intent_cli;
pub mod intents;
pub mod live;
pub mod local;
pub mod messaging;
pub mod operator;
pub mod progress;
pub mod stack;

use switchyard::aws::AwsClients;
use switchyard::clock::Clock;
use switchyard::config::{Limits, Resources};
use switchyard::App;

/// Why the operator's app could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    App(#[from] switchyard::app::AppError),
    #[error(transparent)]
    Config(#[from] switchyard::config::ConfigError),
    #[error(transparent)]
    Stack(#[from] stack::StackError),
}

/// The app for the CLI and the local host: resources derived from the template when
/// `SWITCHYARD_STACK_PREFIX` is set (the local stack), else named one by one in the environment
/// as on Lambda.
pub async fn app_from_env() -> Result<App, OpsError> {
    let aws = AwsClients::from_env().await;
    let resources = match std::env::var("SWITCHYARD_STACK_PREFIX") {
        Ok(prefix) if !prefix.is_empty() => stack::resolve(&aws, &prefix).await?,
        _ => Resources::from_env()?,
    };
    Ok(App::new(
        aws,
        resources,
        Limits::from_env()?,
        Clock::default(),
    )?)
}
