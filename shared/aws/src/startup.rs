//! What every function reads at cold start: its resources (only the variables its template
//! entry sets), limits, clock and SDK configuration.

use switchyard_core::clock::Clock;
use switchyard_core::config::{self, ConfigError, Limits, Need, Resources};
use switchyard_providers::DefinitionError;

use crate::clients::AwsClients;

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Definitions(#[from] DefinitionError),
}

/// A function's environment, read once per cold start.
#[derive(Debug, Clone)]
pub struct Startup {
    pub aws: AwsClients,
    pub resources: Resources,
    pub limits: Limits,
    pub clock: Clock,
}

impl Startup {
    /// From the environment, as a Lambda of the given `needs` has it: a missing needed variable
    /// is an error naming it; the others are never read by that function's code.
    pub fn from_env(needs: &[Need]) -> Result<Self, StartError> {
        let resources = Resources::from_env_for(needs)?;
        let limits = Limits::from_env()?;
        let clock = config::clock(
            std::env::var("SWITCHYARD_CLOCK_PIN").ok().as_deref(),
            std::env::var("AWS_ENDPOINT_URL").ok().as_deref(),
        )?;
        let aws = AwsClients::for_lambda();
        Ok(Self {
            aws,
            resources,
            limits,
            clock,
        })
    }
}
