//! Switchyard's outbound HTTP: the client for provider calls (token endpoints, tool methods), the
//! SSRF-safe client behind `http.secure_http_request`, and the parsing of providers' rate-limit
//! answers. Both clients use rustls on the crypto provider the AWS SDK already links.

#[cfg(test)]
mod fuzz_tests;
pub mod outbound;
pub mod secure_http;

use std::time::Duration;

pub use switchyard_core::{error, secret};

/// Installs the process's rustls crypto provider: the AWS SDK's (aws-lc), shared with reqwest.
/// Idempotent and cheap; a function calls it before building a client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The HTTP client for provider calls: rustls on the AWS SDK's crypto provider, short timeouts,
/// no redirects (a token endpoint that redirects is misconfigured, and a redirect could carry a
/// credential elsewhere).
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
