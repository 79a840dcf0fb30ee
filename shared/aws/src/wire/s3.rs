//! S3's object writes and reads on the wire client: the claim check of a large payload (the
//! webhook's `PUT`, the consumer's `GET`) and a large event's payload.
//!
//! Addressing is the SDK's: path-style (`<endpoint>/<bucket>/<key>`) against an endpoint override
//! (the emulator), virtual-hosted (`<bucket>.s3.<region>.amazonaws.com/<key>`) against AWS, and
//! path-style there too for a bucket whose name has a dot (no certificate covers it as a label).
//! The body's SHA-256 is sent and signed as `x-amz-content-sha256`, as S3 requires.

use std::borrow::Cow;

use bytes::Bytes;

use super::transport::Answer;
use super::{sigv4, Endpoint, ErrorFormat, Outgoing, Wire, WireError};

const PUT_OBJECT: &str = "S3.PutObject";
const GET_OBJECT: &str = "S3.GetObject";
/// The SHA-256 of an empty body (a `GET`'s).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl Wire {
    /// Writes `body` as object `key` of `bucket`.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(), WireError> {
        let (https, authority, path) = self.object_address(bucket, key);
        let sha = sigv4::payload_sha256(&body);
        self.send(&Outgoing {
            operation: PUT_OBJECT,
            signing_name: "s3",
            method: http::Method::PUT,
            https,
            authority: Cow::Owned(authority),
            path: Cow::Owned(path),
            headers: vec![
                ("content-type", Cow::Borrowed(content_type)),
                ("x-amz-content-sha256", Cow::Owned(sha.clone())),
            ],
            body,
            payload_sha256: sha,
            errors: ErrorFormat::Xml,
        })
        .await
        .map(|_| ())
    }

    /// Reads object `key` of `bucket`; `None` when there is no such key.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Bytes>, WireError> {
        let (https, authority, path) = self.object_address(bucket, key);
        let answer = self
            .send(&Outgoing {
                operation: GET_OBJECT,
                signing_name: "s3",
                method: http::Method::GET,
                https,
                authority: Cow::Owned(authority),
                path: Cow::Owned(path),
                headers: vec![("x-amz-content-sha256", Cow::Borrowed(EMPTY_SHA256))],
                body: Bytes::new(),
                payload_sha256: EMPTY_SHA256.to_owned(),
                errors: ErrorFormat::Xml,
            })
            .await;
        match answer {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Scheme, authority and canonical path of an object.
    fn object_address(&self, bucket: &str, key: &str) -> (bool, String, String) {
        let key = sigv4::uri_encode(key, true);
        let bucket_path = |e: &Endpoint| {
            format!(
                "{}/{}/{key}",
                e.path.trim_end_matches('/'),
                sigv4::uri_encode(bucket, false)
            )
        };
        match &self.inner.endpoint {
            Some(e) => (e.https, e.authority.clone(), bucket_path(e)),
            None if bucket.contains('.') => {
                let e = Endpoint::regional("s3", &self.inner.region);
                let path = bucket_path(&e);
                (true, e.authority, path)
            }
            None => {
                let e = Endpoint::regional(&format!("{bucket}.s3"), &self.inner.region);
                (true, e.authority, format!("/{key}"))
            }
        }
    }
}

/// The error of a non-2xx answer: `<Code>` and `<Message>` of S3's XML error, else the status.
pub(super) fn service_error(answer: &Answer) -> WireError {
    let text = String::from_utf8_lossy(&answer.body);
    let code = element(&text, "Code")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Http{}", answer.status));
    WireError::Service {
        status: answer.status,
        code,
        message: element(&text, "Message").unwrap_or_default().to_owned(),
        body: serde_json::Value::Null,
    }
}

/// The text of the first `<name>…</name>` (S3's error elements hold no markup).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{Region, SdkConfig};

    fn wire(endpoint: Option<&str>) -> Wire {
        let mut config = SdkConfig::builder().region(Region::new("eu-west-1"));
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        Wire::new(&config.build(), Default::default())
    }

    #[test]
    fn objects_are_path_style_at_an_endpoint_and_virtual_hosted_at_aws() {
        let key = "payloads/by-instance/a b/wi_1.json";
        assert_eq!(
            wire(Some("http://127.0.0.1:5000")).object_address("bkt", key),
            (
                false,
                "127.0.0.1:5000".to_owned(),
                "/bkt/payloads/by-instance/a%20b/wi_1.json".to_owned()
            )
        );
        assert_eq!(
            wire(None).object_address("bkt", key),
            (
                true,
                "bkt.s3.eu-west-1.amazonaws.com".to_owned(),
                "/payloads/by-instance/a%20b/wi_1.json".to_owned()
            )
        );
        assert_eq!(
            wire(None).object_address("my.bucket", "k"),
            (
                true,
                "s3.eu-west-1.amazonaws.com".to_owned(),
                "/my.bucket/k".to_owned()
            )
        );
    }

    #[test]
    fn the_empty_body_hash_is_the_sha256_of_nothing() {
        assert_eq!(EMPTY_SHA256, sigv4::payload_sha256(b""));
    }

    #[test]
    fn s3_errors_keep_their_code_and_message() {
        let answer = |status, body: &str| Answer {
            status,
            query_error: None,
            error_type: None,
            body: Bytes::from(body.to_owned()),
        };
        let e = service_error(&answer(
            404,
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>k</Key></Error>",
        ));
        assert_eq!(e.code(), Some("NoSuchKey"));
        assert!(e.to_string().contains("The specified key does not exist."));
        let e = service_error(&answer(503, "<Error><Code>SlowDown</Code></Error>"));
        assert_eq!(e.code(), Some("SlowDown"));
        assert!(e.is_retryable());
        assert_eq!(service_error(&answer(403, "")).code(), Some("Http403"));
    }
}
