//! Envelope encryption of sensitive instance fields with a KMS data key.
//!
//! `seal` asks KMS for a fresh AES-256 data key bound to the encryption context
//! `{"provider": <provider id>, "instance_id": <id>}` (or `connection_id`, `oauth_state`),
//! encrypts the secrets with AES-256-GCM (the id as associated data) and keeps only the wrapped
//! key, nonce and ciphertext. `open` reverses it; a ciphertext copied to another instance fails
//! both the KMS context check and the GCM tag.
//!
//! The provider in the context is what IAM conditions on: each function's role may only decrypt
//! (`kms:EncryptionContext:provider`) what was sealed for its own provider, so the Slack tools
//! cannot open an HTTP instance's credential even though both sit in the same table under the same
//! key. The envelope records the provider it was sealed for, so `open` sends the same context; a
//! tampered `provider` field changes the context and KMS refuses to unwrap the key.
//!
//! Envelopes from before the provider binding (`v: 1`, no `provider`) open with the old
//! `{key: id}` context. The operator's credentials can still do that; the functions' roles cannot
//! (their policies require a provider), so such envelopes must be resealed once
//! (`switchyard instance reseal`, see the README).
//!
//! KMS is called on the wire client ([`crate::wire`]): a webhook that opens a verification
//! secret then links no KMS SDK.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::wire::{Wire, WireError, KMS};

use crate::secret::SecretString;

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("KMS {op} failed: {detail}")]
    Kms { op: &'static str, detail: String },
    #[error("sealed secrets are corrupt or belong to another instance")]
    Corrupt,
}

/// What is stored: the KMS-wrapped data key, the nonce and the AES-GCM ciphertext, base64, and
/// the provider the data key is bound to (absent in `v: 1` envelopes, sealed before the binding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    pub wrapped_key: String,
    pub nonce: String,
    pub ciphertext: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl Envelope {
    /// Sealed before the provider binding: only the operator can open it (see the module docs).
    pub fn is_legacy(&self) -> bool {
        self.provider.is_none()
    }
}

/// The encryption-context key naming the provider; IAM policies condition on it
/// (`kms:EncryptionContext:provider`).
pub const PROVIDER_CONTEXT: &str = "provider";
/// The encryption-context key of instance secrets.
pub const INSTANCE_CONTEXT: &str = "instance_id";

/// Envelope format with the provider in the context.
const V_PROVIDER: u8 = 2;
/// Envelope format without it.
const V_LEGACY: u8 = 1;

/// Seals and opens instance secrets with one KMS key.
#[derive(Debug, Clone)]
pub struct Keyring {
    wire: Wire,
    key_id: String,
}

/// What `GenerateDataKey` answers (blobs in base64).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKey {
    plaintext: String,
    ciphertext_blob: String,
}

/// What `Decrypt` answers.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Decrypted {
    plaintext: String,
}

impl Keyring {
    /// A keyring using the KMS key `key_id` (id, ARN or alias), called on `wire`.
    pub fn new(wire: Wire, key_id: impl Into<String>) -> Self {
        Self {
            wire,
            key_id: key_id.into(),
        }
    }

    /// Encrypts `secrets` of the instance `instance_id` of `provider`.
    pub async fn seal(
        &self,
        provider: &str,
        instance_id: &str,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Result<Envelope, CryptoError> {
        self.seal_for(provider, INSTANCE_CONTEXT, instance_id, secrets)
            .await
    }

    /// Decrypts an envelope sealed for `instance_id`.
    pub async fn open(
        &self,
        instance_id: &str,
        envelope: &Envelope,
    ) -> Result<BTreeMap<String, SecretString>, CryptoError> {
        self.open_for(INSTANCE_CONTEXT, instance_id, envelope).await
    }

    /// Encrypts `secrets` bound to `{"provider": provider, context_key: id}` (e.g.
    /// `connection_id`); `id` is also the GCM associated data.
    pub async fn seal_for(
        &self,
        provider: &str,
        context_key: &str,
        id: &str,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Result<Envelope, CryptoError> {
        self.seal_bound(Some(provider), context_key, id, secrets)
            .await
    }

    /// Seals in the format from before the provider binding (`v: 1`, context `{context_key:
    /// id}` only): what `switchyard instance reseal` migrates. Only for testing that migration.
    #[doc(hidden)]
    pub async fn seal_legacy(
        &self,
        context_key: &str,
        id: &str,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Result<Envelope, CryptoError> {
        self.seal_bound(None, context_key, id, secrets).await
    }

    async fn seal_bound(
        &self,
        provider: Option<&str>,
        context_key: &str,
        id: &str,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Result<Envelope, CryptoError> {
        let request = json!({
            "KeyId": self.key_id,
            "KeySpec": "AES_256",
            "EncryptionContext": context(provider, context_key, id),
        });
        let data_key: DataKey = self
            .wire
            .call(&KMS, "GenerateDataKey", &request)
            .await
            .map_err(|e| kms_err("GenerateDataKey", &e))?;
        let decode = |s: &str| B64.decode(s).map_err(|_| CryptoError::Corrupt);
        let (plain_key, wrapped) = (
            decode(&data_key.plaintext)?,
            decode(&data_key.ciphertext_blob)?,
        );
        let cipher = Aes256Gcm::new_from_slice(&plain_key).map_err(|_| CryptoError::Corrupt)?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let plaintext: BTreeMap<&str, &str> = secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        let plaintext = serde_json::to_vec(&plaintext).map_err(|_| CryptoError::Corrupt)?;
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        Ok(Envelope {
            v: if provider.is_some() {
                V_PROVIDER
            } else {
                V_LEGACY
            },
            wrapped_key: B64.encode(wrapped),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
            provider: provider.map(str::to_owned),
        })
    }

    /// Decrypts an envelope sealed by [`Keyring::seal_for`] with the same `context_key` and `id`
    /// (the provider comes from the envelope; see the module docs for why that is safe).
    pub async fn open_for(
        &self,
        context_key: &str,
        id: &str,
        envelope: &Envelope,
    ) -> Result<BTreeMap<String, SecretString>, CryptoError> {
        let decode = |s: &str| B64.decode(s).map_err(|_| CryptoError::Corrupt);
        let (wrapped, nonce, ciphertext) = (
            decode(&envelope.wrapped_key)?,
            decode(&envelope.nonce)?,
            decode(&envelope.ciphertext)?,
        );
        let provider = match (envelope.v, &envelope.provider) {
            (V_PROVIDER, Some(provider)) => Some(provider),
            (V_LEGACY, None) => None,
            _ => return Err(CryptoError::Corrupt),
        };
        if nonce.len() != 12 {
            return Err(CryptoError::Corrupt);
        }
        let request = json!({
            "KeyId": self.key_id,
            "CiphertextBlob": B64.encode(&wrapped),
            "EncryptionContext": context(provider.map(String::as_str), context_key, id),
        });
        let data_key: Decrypted = self
            .wire
            .call(&KMS, "Decrypt", &request)
            .await
            .map_err(|e| match e.code() {
                Some("InvalidCiphertextException") => CryptoError::Corrupt,
                _ => kms_err("Decrypt", &e),
            })?;
        let plain_key = decode(&data_key.plaintext)?;
        let cipher = Aes256Gcm::new_from_slice(&plain_key).map_err(|_| CryptoError::Corrupt)?;
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        let map: BTreeMap<String, String> =
            serde_json::from_slice(&plaintext).map_err(|_| CryptoError::Corrupt)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect())
    }
}

/// The encryption context: `{context_key: id}`, and the provider when bound to one.
fn context(provider: Option<&str>, context_key: &str, id: &str) -> Value {
    let mut context = Map::new();
    context.insert(context_key.to_owned(), id.into());
    if let Some(provider) = provider {
        context.insert(PROVIDER_CONTEXT.to_owned(), provider.into());
    }
    Value::Object(context)
}

fn kms_err(op: &'static str, e: &WireError) -> CryptoError {
    CryptoError::Kms {
        op,
        detail: e.to_string(),
    }
}
