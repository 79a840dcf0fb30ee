//! What the sync worker and the renewer hold per warm process.

use std::ops::Deref;
use std::sync::Arc;

use switchyard_aws::clients::AwsClients;
use switchyard_aws::cursors::CursorStore;
use switchyard_aws::watches::WatchStore;
use switchyard_aws::{StartError, Startup};
use switchyard_core::config::{needs, ConfigError, Resources};
use switchyard_ingest::Ingress;
use switchyard_oauth::Vault;
use switchyard_providers::Registry;
use switchyard_tools::Tools;

/// The knobs of watch renewal, the sweep and full syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Cloud Pub/Sub topic Gmail publishes to (`projects/<p>/topics/<t>`); Gmail watches
    /// cannot be created without it.
    pub gmail_topic: Option<String>,
    /// How long a new Drive/Calendar channel is asked to live (Google caps Drive changes
    /// channels at a week).
    pub channel_ttl_secs: u64,
    /// A channel expiring within this is replaced by the renewer (hourly runs: a day leaves
    /// many tries).
    pub renew_window_secs: u64,
    /// Gmail's watch is called again when the last call is older than this (Google: daily).
    pub gmail_rewatch_secs: u64,
    /// The sweep syncs every watch whose last sync is older than this.
    pub sweep_after_secs: u64,
    /// Failures in a row that make a watch `failing`.
    pub failing_after: u32,
    /// How many of the newest messages a Gmail full sync (expired history) looks at.
    pub full_sync_messages: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            gmail_topic: None,
            channel_ttl_secs: 7 * 86_400,
            renew_window_secs: 86_400,
            gmail_rewatch_secs: 86_400,
            sweep_after_secs: 15 * 60,
            failing_after: 3,
            full_sync_messages: 100,
        }
    }
}

impl Settings {
    /// `SWITCHYARD_GMAIL_TOPIC` and `SWITCHYARD_SYNC_SWEEP_MINUTES` (default 15), else defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut settings = Self {
            gmail_topic: std::env::var("SWITCHYARD_GMAIL_TOPIC")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            ..Self::default()
        };
        const SWEEP: &str = "SWITCHYARD_SYNC_SWEEP_MINUTES";
        if let Ok(value) = std::env::var(SWEEP) {
            let minutes: u64 = value.trim().parse().map_err(|_| ConfigError::NotANumber {
                name: SWEEP,
                value: value.clone(),
            })?;
            settings.sweep_after_secs = minutes * 60;
        }
        Ok(settings)
    }
}

/// The Google sync worker's and the renewer's context: internal tool calls, ingress (claim and
/// queue), the watches table and the settings.
#[derive(Debug)]
pub struct GoogleSync {
    pub tools: Tools,
    pub ingress: Ingress,
    pub watches: WatchStore,
    /// What a Calendar full resync needs to tell created, updated and unchanged events apart:
    /// the last version seen of each event (see [`crate::sync::calendar`]).
    pub cursors: CursorStore,
    pub settings: Settings,
}

impl GoogleSync {
    /// The sync worker's or renewer's context, from its environment (both have the same needs).
    pub async fn from_env() -> Result<Self, StartError> {
        let start = Startup::from_env(needs::GOOGLE_SYNC)?;
        let registry = Registry::load()?;
        let vault = Vault::new(
            &start.aws,
            &start.resources,
            registry.clone(),
            start.limits,
            start.clock.clone(),
        );
        let mut sync = Self::new(&start.aws, &start.resources, Arc::new(vault), registry);
        sync.settings = Settings::from_env()?;
        Ok(sync)
    }

    /// From parts, with default settings.
    pub fn new(
        aws: &AwsClients,
        resources: &Resources,
        vault: Arc<Vault>,
        registry: Registry,
    ) -> Self {
        let limits = vault.limits;
        let clock = vault.clock.clone();
        Self {
            tools: Tools::new(aws, resources, vault),
            ingress: Ingress::new(aws, resources, registry, limits, clock),
            watches: WatchStore::new(aws, &resources.watches_table),
            cursors: CursorStore::new(aws.dynamodb(), &resources.cursors_table),
            settings: Settings::default(),
        }
    }

    /// The same context with other settings.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Now, by the context's clock.
    pub fn now(&self) -> u64 {
        self.ingress.clock.now()
    }
}

impl Deref for GoogleSync {
    type Target = Tools;

    fn deref(&self) -> &Tools {
        &self.tools
    }
}
