//! The live-events WebSocket's `$connect` and `$disconnect` (`switchyard_tools::live`).

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let app = switchyard_functions::live::Connector::from_env()?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::live::ws_connect(app, event)
    }))
    .await
}
