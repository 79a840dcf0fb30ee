//! Agent-bus events to the agents' open live-event WebSockets (`switchyard_tools::live`).

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let app = switchyard_functions::live::Fanout::from_env()?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::live::ws_fanout(app, event)
    }))
    .await
}
