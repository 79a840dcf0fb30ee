//! AWS Signature Version 4 for the requests the wire client sends: no query string, the path
//! already in its canonical (URI-encoded) form, and the headers given signed beside `host`,
//! `x-amz-date` and, with temporary credentials, `x-amz-security-token`.
//!
//! The algorithm is AWS's (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>);
//! the tests check it against the SDK's own signer (`aws-sigv4`) on the same requests: a JSON
//! protocol's `POST` and S3's `PUT` of an object.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What signs: the credentials of one request.
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// Names the key id only: the secret and the token are never printed.
impl std::fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The request being signed.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// The canonical URI: the path, each segment URI-encoded once.
    pub path: &'a str,
    /// The headers signed beside `host`, `x-amz-date` and the token: lower-case names, values
    /// without surrounding spaces.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body's SHA-256, in lower-case hex.
    pub payload_sha256: &'a str,
}

/// The headers to add: `x-amz-date` and `authorization` (and the session token, when the
/// credentials have one, under `x-amz-security-token`).
#[derive(Debug)]
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// The lower-case hex SHA-256 of a body.
pub fn payload_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Signs `request` for `service` in `region` at `amz_date` (`YYYYMMDD'T'HHMMSS'Z'`).
pub fn sign(
    keys: Keys<'_>,
    region: &str,
    service: &str,
    amz_date: String,
    request: &Request<'_>,
) -> Signed {
    let date = &amz_date[..8];
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(request.headers.len() + 3);
    headers.extend_from_slice(request.headers);
    headers.push(("host", request.host));
    headers.push(("x-amz-date", &amz_date));
    if let Some(token) = keys.session_token {
        headers.push(("x-amz-security-token", token));
    }
    headers.sort_unstable_by_key(|(name, _)| *name);
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");

    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(request.path);
    canonical.push_str("\n\n");
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(request.payload_sha256);

    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        payload_sha256(canonical.as_bytes())
    );
    let key = signing_key(keys.secret_access_key, date, region, service);
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        keys.access_key_id
    );
    Signed {
        amz_date,
        authorization,
    }
}

/// A path segment (an S3 object key's) URI-encoded as SigV4 wants: every byte but the
/// unreserved `A-Z a-z 0-9 - . _ ~` as `%XX`, with `/` kept when `keep_slash`.
pub fn uri_encode(raw: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The day's key for one region and service (`kSigning` in AWS's documentation).
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts a key of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `YYYYMMDD'T'HHMMSS'Z'` of a Unix time in seconds (UTC): RFC 3339 without its separators.
pub fn amz_date(unix_secs: u64) -> String {
    switchyard_core::clock::rfc3339(unix_secs).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign as sdk_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    };
    use aws_sigv4::sign::v4;

    const CONTENT_SHA: &str = "x-amz-content-sha256";

    /// The SDK's signature of the same request, as its `authorization` header. With
    /// `x-amz-content-sha256` among the headers, the SDK is set as its S3 client sets it (it
    /// then adds that header itself; paths are encoded once and not normalized).
    fn sdk_authorization(
        keys: Keys<'_>,
        region: &str,
        service: &str,
        unix: u64,
        request: &Request<'_>,
        body: &[u8],
    ) -> String {
        let identity = Credentials::new(
            keys.access_key_id,
            keys.secret_access_key,
            keys.session_token.map(str::to_owned),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        let s3_style = request.headers.iter().any(|(n, _)| *n == CONTENT_SHA);
        if s3_style {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(UNIX_EPOCH + Duration::from_secs(unix))
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let headers = request
            .headers
            .iter()
            .filter(|(n, _)| *n != CONTENT_SHA)
            .copied()
            .chain([("host", request.host)]);
        let signable = SignableRequest::new(
            request.method,
            format!("http://{}{}", request.host, request.path),
            headers,
            SignableBody::Bytes(body),
        )
        .expect("signable");
        let (instructions, _) = sdk_sign(signable, &params).expect("sdk signs").into_parts();
        let authorization = instructions
            .headers()
            .find(|(name, _)| *name == "authorization")
            .map(|(_, value)| value.to_owned())
            .expect("an authorization header");
        authorization
    }

    /// Checks our signature of a JSON protocol's `POST` against the SDK's.
    fn check_json(
        keys: Keys<'_>,
        region: &str,
        service: &str,
        unix: u64,
        host: &str,
        target: &str,
        body: &[u8],
    ) -> Signed {
        let sha = payload_sha256(body);
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target),
        ];
        let req = Request {
            method: "POST",
            host,
            path: "/",
            headers: &headers,
            payload_sha256: &sha,
        };
        let ours = sign(keys, region, service, amz_date(unix), &req);
        assert_eq!(
            ours.authorization,
            sdk_authorization(keys, region, service, unix, &req, body)
        );
        ours
    }

    #[test]
    fn signs_as_the_sdk_does_with_long_term_keys() {
        let keys = Keys {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
        };
        let body = br#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#;
        let unix = 1_440_938_160; // 2015-08-30T12:36:00Z, the date of AWS's own examples
        let ours = check_json(
            keys,
            "us-east-1",
            "dynamodb",
            unix,
            "dynamodb.us-east-1.amazonaws.com",
            "DynamoDB_20120810.PutItem",
            body,
        );
        assert_eq!(ours.amz_date, "20150830T123600Z");
    }

    #[test]
    fn signs_the_session_token_as_the_sdk_does() {
        let keys = Keys {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: "secret/with+chars",
            session_token: Some("IQoJb3JpZ2luX2VjE//token+with/slashes=="),
        };
        let body = br#"{"QueueUrl":"http://127.0.0.1:5000/1/q","MessageBody":"{}"}"#;
        let unix = 1_798_761_599; // 2026-12-31T23:59:59Z
        let ours = check_json(
            keys,
            "eu-west-1",
            "sqs",
            unix,
            "127.0.0.1:5000",
            "AmazonSQS.SendMessage",
            body,
        );
        assert_eq!(ours.amz_date, "20261231T235959Z");
        assert!(ours.authorization.contains("x-amz-security-token"));
    }

    #[test]
    fn signs_an_s3_put_of_an_odd_key_as_the_sdk_does() {
        let body = br#"{"text":"a large payload"}"#;
        let sha = payload_sha256(body);
        let path = format!(
            "/payloads-bucket/{}",
            uri_encode("payloads/by-instance/acme slack+1/wi_ü=.json", true)
        );
        assert_eq!(
            path,
            "/payloads-bucket/payloads/by-instance/acme%20slack%2B1/wi_%C3%BC%3D.json"
        );
        let headers = [
            ("content-type", "application/json"),
            (CONTENT_SHA, sha.as_str()),
        ];
        let req = Request {
            method: "PUT",
            host: "127.0.0.1:5000",
            path: &path,
            headers: &headers,
            payload_sha256: &sha,
        };
        for token in [None, Some("FwoGZXIvYXdzEC8aDH+token/=")] {
            let keys = Keys {
                access_key_id: "AKID",
                secret_access_key: "secret",
                session_token: token,
            };
            let unix = 1_798_761_599;
            let ours = sign(keys, "us-east-1", "s3", amz_date(unix), &req);
            assert_eq!(
                ours.authorization,
                sdk_authorization(keys, "us-east-1", "s3", unix, &req, body)
            );
        }
    }

    #[test]
    fn keys_print_without_their_secret_or_token() {
        let printed = format!(
            "{:?}",
            Keys {
                access_key_id: "AKID",
                secret_access_key: "very-secret",
                session_token: Some("session-token"),
            }
        );
        assert!(printed.contains("AKID"));
        assert!(!printed.contains("very-secret") && !printed.contains("session-token"));
    }

    #[test]
    fn a_changed_body_target_or_key_changes_the_signature() {
        let keys = Keys {
            access_key_id: "AKID",
            secret_access_key: "secret",
            session_token: None,
        };
        let at_zero = |keys: Keys<'_>, target: &str, body: &[u8]| {
            let sha = payload_sha256(body);
            let headers = [("x-amz-target", target)];
            sign(
                keys,
                "us-east-1",
                "dynamodb",
                amz_date(0),
                &Request {
                    method: "POST",
                    host: "h",
                    path: "/",
                    headers: &headers,
                    payload_sha256: &sha,
                },
            )
        };
        let base = at_zero(keys, "T.A", b"{}");
        let other_body = at_zero(keys, "T.A", b"{ }");
        let other_target = at_zero(keys, "T.B", b"{}");
        let other_key = at_zero(
            Keys {
                secret_access_key: "secreT",
                ..keys
            },
            "T.A",
            b"{}",
        );
        assert_ne!(base.authorization, other_body.authorization);
        assert_ne!(base.authorization, other_target.authorization);
        assert_ne!(base.authorization, other_key.authorization);
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn only_unreserved_bytes_stay_unencoded() {
        assert_eq!(uri_encode("a-Z_0.~", false), "a-Z_0.~");
        assert_eq!(uri_encode("a/b c", false), "a%2Fb%20c");
        assert_eq!(uri_encode("a/b c", true), "a/b%20c");
    }
}
