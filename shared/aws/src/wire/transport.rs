//! HTTP/1.1 with keep-alive for the wire client: a plain connection pool for an emulator's
//! `http://` endpoint, and a TLS one (rustls on the SDK's aws-lc provider, the system's roots)
//! built at the first `https://` call, so a function that never calls AWS over TLS never reads a
//! certificate store.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Plain = Client<HttpConnector, Full<Bytes>>;
type Tls = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What a call needs of an answer.
pub(super) struct Answer {
    pub status: u16,
    pub query_error: Option<String>,
    pub error_type: Option<String>,
    pub body: Bytes,
}

pub(super) struct Transport {
    connect_timeout: Duration,
    plain: OnceLock<Plain>,
    tls: OnceLock<Result<Tls, String>>,
}

impl Transport {
    pub(super) fn new(connect_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            plain: OnceLock::new(),
            tls: OnceLock::new(),
        }
    }

    fn connector(&self) -> HttpConnector {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(self.connect_timeout));
        // Requests are one small write each; Nagle's algorithm would only delay them.
        connector.set_nodelay(true);
        connector.enforce_http(false);
        connector
    }

    fn plain(&self) -> &Plain {
        self.plain
            .get_or_init(|| Client::builder(TokioExecutor::new()).build(self.connector()))
    }

    fn tls(&self) -> Result<&Tls, String> {
        self.tls
            .get_or_init(|| {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(Arc::new(
                        rustls::crypto::aws_lc_rs::default_provider(),
                    ))
                    .map_err(|e| format!("no TLS roots: {e}"))?
                    .https_only()
                    .enable_http1()
                    .wrap_connector(self.connector());
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Sends `request` and reads the whole answer; `Err` is why it did not arrive.
    pub(super) async fn send(
        &self,
        request: http::Request<Bytes>,
        https: bool,
    ) -> Result<Answer, String> {
        let request = request.map(Full::new);
        let response = if https {
            self.tls()?.request(request).await
        } else {
            self.plain().request(request).await
        }
        .map_err(|e| crate::error::chain(&e))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, query_error, error_type) = (
            response.status().as_u16(),
            header("x-amzn-query-error"),
            header("x-amzn-errortype"),
        );
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| crate::error::chain(&e))?
            .to_bytes();
        Ok(Answer {
            status,
            query_error,
            error_type,
            body,
        })
    }
}
