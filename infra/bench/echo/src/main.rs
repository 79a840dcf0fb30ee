//! The floor of the steady-state bench: a `lambda_runtime` function that parses its event and
//! answers it back. Everything a webhook costs above this is the gateway's own.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
