//! Logging: JSON lines on Lambda (CloudWatch), compact text locally; `RUST_LOG` filters.
//!
//! `RUST_LOG` takes `level` and `target=level` directives separated by commas
//! (`info,switchyard_oauth=debug`), read by `tracing_subscriber`'s `Targets` filter: no regular
//! expressions (span and field filters are not supported), so no Lambda links a regex engine.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if on_lambda {
        registry.with(format.json().without_time()).try_init()
    } else {
        registry.with(format.compact()).try_init()
    };
}

/// The filter `RUST_LOG` asks for; `info` when it is unset or not understood.
fn filter(directives: Option<&str>) -> Targets {
    directives
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_by_target() {
        let f = filter(Some("warn,switchyard_oauth=debug"));
        assert!(f.would_enable("switchyard_oauth::vault", &Level::DEBUG));
        assert!(!f.would_enable("switchyard_ingest", &Level::INFO));
        assert!(f.would_enable("switchyard_ingest", &Level::WARN));
        let default = filter(None);
        assert!(default.would_enable("anything", &Level::INFO));
        assert!(!default.would_enable("anything", &Level::DEBUG));
        let garbage = filter(Some("=[not a directive"));
        assert!(garbage.would_enable("anything", &Level::INFO));
    }
}
