//! `switchyard`: the admin CLI (see `switchyard_ops::cli`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    switchyard::telemetry::init();
    let mut out = std::io::stdout().lock();
    match switchyard_ops::cli::run(std::env::args().collect(), &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            drop(out);
            // clap's own errors (usage, --help) print themselves.
            match e.downcast_ref::<clap::Error>() {
                Some(clap_error) => clap_error.exit(),
                None => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
