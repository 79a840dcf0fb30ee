//! AWS Signature Version 4 for the one request shape the wire client sends: a `POST` of a JSON
//! body to the endpoint's path, with no query string, signing `content-type`, `host`,
//! `x-amz-date`, `x-amz-security-token` (with temporary credentials) and `x-amz-target`.
//!
//! The algorithm is AWS's (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>);
//! the tests check it against the SDK's own signer (`aws-sigv4`) on the same request.

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
    pub host: &'a str,
    pub path: &'a str,
    pub content_type: &'a str,
    pub target: &'a str,
    pub body: &'a [u8],
}

/// The headers to add: `x-amz-date` and `authorization` (and the session token, when the
/// credentials have one, under `x-amz-security-token`).
#[derive(Debug)]
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
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
    let mut canonical = String::with_capacity(512);
    canonical.push_str("POST\n");
    canonical.push_str(request.path);
    canonical.push_str("\n\n");
    canonical.push_str("content-type:");
    canonical.push_str(request.content_type);
    canonical.push_str("\nhost:");
    canonical.push_str(request.host);
    canonical.push_str("\nx-amz-date:");
    canonical.push_str(&amz_date);
    if let Some(token) = keys.session_token {
        canonical.push_str("\nx-amz-security-token:");
        canonical.push_str(token);
    }
    canonical.push_str("\nx-amz-target:");
    canonical.push_str(request.target);
    let signed_headers = if keys.session_token.is_some() {
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
    } else {
        "content-type;host;x-amz-date;x-amz-target"
    };
    canonical.push_str("\n\n");
    canonical.push_str(signed_headers);
    canonical.push('\n');
    canonical.push_str(&hex::encode(Sha256::digest(request.body)));

    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
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
        sign as sdk_sign, SignableBody, SignableRequest, SigningSettings,
    };
    use aws_sigv4::sign::v4;

    /// The SDK's signature of the same request, as its `authorization` header.
    fn sdk_authorization(
        keys: Keys<'_>,
        region: &str,
        service: &str,
        unix: u64,
        request: &Request<'_>,
    ) -> String {
        let identity = Credentials::new(
            keys.access_key_id,
            keys.secret_access_key,
            keys.session_token.map(str::to_owned),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(UNIX_EPOCH + Duration::from_secs(unix))
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let headers = [
            ("content-type", request.content_type),
            ("host", request.host),
            ("x-amz-target", request.target),
        ];
        let signable = SignableRequest::new(
            "POST",
            format!("http://{}{}", request.host, request.path),
            headers.into_iter(),
            SignableBody::Bytes(request.body),
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

    fn request<'a>(host: &'a str, target: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            host,
            path: "/",
            content_type: "application/x-amz-json-1.0",
            target,
            body,
        }
    }

    #[test]
    fn signs_as_the_sdk_does_with_long_term_keys() {
        let keys = Keys {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: None,
        };
        let body = br#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#;
        let req = request(
            "dynamodb.us-east-1.amazonaws.com",
            "DynamoDB_20120810.PutItem",
            body,
        );
        let unix = 1_440_938_160; // 2015-08-30T12:36:00Z, the date of AWS's own examples
        let ours = sign(keys, "us-east-1", "dynamodb", amz_date(unix), &req);
        assert_eq!(ours.amz_date, "20150830T123600Z");
        assert_eq!(
            ours.authorization,
            sdk_authorization(keys, "us-east-1", "dynamodb", unix, &req)
        );
    }

    #[test]
    fn signs_the_session_token_as_the_sdk_does() {
        let keys = Keys {
            access_key_id: "ASIAEXAMPLE",
            secret_access_key: "secret/with+chars",
            session_token: Some("IQoJb3JpZ2luX2VjE//token+with/slashes=="),
        };
        let body = br#"{"QueueUrl":"http://127.0.0.1:5000/1/q","MessageBody":"{}"}"#;
        let req = request("127.0.0.1:5000", "AmazonSQS.SendMessage", body);
        let unix = 1_798_761_599; // 2026-12-31T23:59:59Z
        let ours = sign(keys, "eu-west-1", "sqs", amz_date(unix), &req);
        assert_eq!(ours.amz_date, "20261231T235959Z");
        assert!(ours.authorization.contains("x-amz-security-token"));
        assert_eq!(
            ours.authorization,
            sdk_authorization(keys, "eu-west-1", "sqs", unix, &req)
        );
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
            sign(
                keys,
                "us-east-1",
                "dynamodb",
                amz_date(0),
                &request("h", target, body),
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
}
