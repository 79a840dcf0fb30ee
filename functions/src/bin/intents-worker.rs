//! Scheduler-invoked Lambda: runs the scheduled task intent its schedule names through the
//! tool pipeline, as the agent that asked.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime (see consumer.rs).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let tools = switchyard_tools::Tools::intents_worker_from_env().await?;
    // Load and compile the definitions during init, not on the first run.
    tools.catalog()?;
    let tools = &tools;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::run_intent(tools, event)
    }))
    .await
}
