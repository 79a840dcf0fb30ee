//! The per-instance circuit breaker around a tool: what counts, and what each outcome does.
//!
//! Only the provider's own faults count (5xx, transport errors and timeouts while it had the
//! request, 429s that outlasted the retries): a caller's bad input, a guardrail, a limit, a
//! refused redirect or a provider's 4xx answer (Discord's 401/404 on an expired interaction
//! token) says nothing about the provider's health and must not let one caller switch a tool off
//! for everyone. An open breaker lets one probe through after its cool-down: success closes it
//! (`integration.recovered`), a provider fault re-opens it for another cool-down.

use crate::definitions::Method;
use crate::error::{Fault, ToolError};
use crate::events::IntegrationEvent;
use crate::instances::Instance;
use crate::state::BreakerSettings;
use crate::Tools;

/// The instance's breaker settings (config `breaker_threshold`, `breaker_window_secs`,
/// `breaker_cooldown_secs`), defaults where unset or unreadable.
pub fn settings(instance: &Instance) -> BreakerSettings {
    let number = |key: &str| {
        instance
            .config
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
    };
    let defaults = BreakerSettings::default();
    BreakerSettings {
        threshold: number("breaker_threshold").unwrap_or(defaults.threshold),
        window_secs: number("breaker_window_secs").unwrap_or(defaults.window_secs),
        cooldown_secs: number("breaker_cooldown_secs").unwrap_or(defaults.cooldown_secs),
    }
}

/// Records a call's outcome. `probe`: this call held the half-open probe.
pub async fn record(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    error: Option<&ToolError>,
    probe: bool,
) {
    let tool = &method.tool_id;
    let state = &app.tool_state;
    let provider_fault = error.filter(|e| matches!(e.fault, Fault::Provider { .. }));
    let outcome = match (probe, error, provider_fault) {
        (true, None, _) => match state.close(&instance.id, tool).await {
            Ok(true) => {
                tracing::info!(instance_id = %instance.id, tool, "tool recovered: probe succeeded");
                let event = IntegrationEvent::tool_recovered(instance, tool, app.clock.now());
                publish(app, &event).await;
                Ok(())
            }
            other => other.map(|_| ()),
        },
        (true, _, Some(e)) => {
            tracing::warn!(instance_id = %instance.id, tool, "probe failed: breaker re-opened");
            state
                .reopen(&instance.id, tool, &e.to_string(), app.clock.now())
                .await
        }
        (true, Some(_), None) => state.release_probe(&instance.id, tool).await,
        (false, None, _) => state.record_success(&instance.id, tool).await,
        (false, _, Some(e)) => {
            match state
                .record_failure(
                    &instance.id,
                    tool,
                    &e.to_string(),
                    settings(instance),
                    app.clock.now(),
                )
                .await
            {
                Ok(true) => {
                    tracing::warn!(instance_id = %instance.id, tool, "tool disabled after repeated failures");
                    let event = IntegrationEvent::tool_disabled(
                        instance,
                        tool,
                        error.map(|e| e as &dyn std::fmt::Display),
                        app.clock.now(),
                    );
                    publish(app, &event).await;
                    Ok(())
                }
                other => other.map(|_| ()),
            }
        }
        (false, Some(_), None) => Ok(()),
    };
    if let Err(e) = outcome {
        tracing::error!(tool, error = %e, "could not update the circuit breaker");
    }
}

/// Gives back a probe taken by a call that then stopped before reaching the provider.
pub async fn release_probe(app: &Tools, instance: &Instance, tool: &str) {
    if let Err(e) = app.tool_state.release_probe(&instance.id, tool).await {
        tracing::error!(tool, error = %e, "could not release the breaker probe");
    }
}

async fn publish(app: &Tools, event: &IntegrationEvent) {
    if let Err(e) = app.sink.publish_integration(event).await {
        tracing::error!(error = %e, event = %event.event_type, "could not publish the breaker event");
    }
}
