//! Media artifacts: generated or fetched binaries in S3, each with a metadata item.
//!
//! Objects live at `artifacts/<workspace>/<artifact id>.<ext>` in `ArtifactsBucket`; metadata in
//! `ArtifactsTable` (key `pk` = artifact id). What the metadata says about the bytes (size,
//! SHA-256, and the media facts the caller measured: duration, dimensions) is measured from the
//! bytes, never taken from a provider's word. The object is written before its metadata, so a
//! metadata item always points at bytes; an object whose metadata write failed is an orphan the
//! bucket's lifecycle rule removes.
//!
//! Retention ([`ArtifactStore::expired_page`], [`ArtifactStore::delete`]) pages through expired
//! items and deletes the object, then the metadata on the condition that it still exists, so two
//! runs at once each count a deletion once.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dynamo::{n, s, Item};
use crate::error::{chain, is_conditional_check_failed};

/// Why an artifact operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact store unavailable: {0}")]
    Unavailable(String),
    #[error("artifact {id} is corrupt: {detail}")]
    Corrupt { id: String, detail: String },
    #[error("artifact {0} not found")]
    NotFound(String),
    #[error("artifact {id} is {size} bytes, over the {limit}-byte limit")]
    TooLarge { id: String, size: u64, limit: u64 },
}

fn unavailable(e: impl std::error::Error) -> ArtifactError {
    ArtifactError::Unavailable(chain(&e))
}

/// A stored artifact's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    pub id: String,
    pub workspace: String,
    /// The background job that produced it, if any.
    pub job_id: Option<String>,
    /// The receipt of the tool call that produced it, if any.
    pub receipt_id: Option<String>,
    pub provider: String,
    pub model: Option<String>,
    pub mime_type: String,
    /// The S3 key of the bytes.
    pub key: String,
    pub size_bytes: u64,
    /// Audio/video duration, measured from the container.
    pub duration_ms: Option<u64>,
    /// Image width and height, measured from the bytes.
    pub dimensions: Option<(u32, u32)>,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub created_at: u64,
    /// When retention deletes it (unix seconds).
    pub expires_at: u64,
}

/// What the caller knows about new bytes; size and digest are computed by the store.
#[derive(Debug, Clone, Default)]
pub struct NewArtifact<'a> {
    pub workspace: &'a str,
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub mime_type: &'a str,
    /// File extension without the dot (`png`, `mp3`).
    pub extension: &'a str,
    pub job_id: Option<&'a str>,
    pub receipt_id: Option<&'a str>,
    pub duration_ms: Option<u64>,
    pub dimensions: Option<(u32, u32)>,
    pub expires_at: u64,
}

/// One page of expired artifacts and where the next begins.
#[derive(Debug, Clone, Default)]
pub struct ExpiredPage {
    pub artifacts: Vec<Artifact>,
    /// `None`: this was the last page.
    pub next: Option<Item>,
}

/// Artifacts in S3 with metadata in DynamoDB.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dynamodb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
}

/// A new artifact id.
pub fn new_id() -> String {
    format!("art_{}", uuid::Uuid::new_v4().simple())
}

impl ArtifactStore {
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        s3: aws_sdk_s3::Client,
        table: impl Into<String>,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            dynamodb,
            s3,
            table: table.into(),
            bucket: bucket.into(),
        }
    }

    /// Stores `bytes` as a new artifact: the object first, then its metadata.
    pub async fn put(
        &self,
        new: &NewArtifact<'_>,
        bytes: &[u8],
        now: u64,
    ) -> Result<Artifact, ArtifactError> {
        let id = new_id();
        let key = format!("artifacts/{}/{id}.{}", new.workspace, new.extension);
        let artifact = Artifact {
            id,
            workspace: new.workspace.to_owned(),
            job_id: new.job_id.map(str::to_owned),
            receipt_id: new.receipt_id.map(str::to_owned),
            provider: new.provider.to_owned(),
            model: new.model.map(str::to_owned),
            mime_type: new.mime_type.to_owned(),
            key,
            size_bytes: bytes.len() as u64,
            duration_ms: new.duration_ms,
            dimensions: new.dimensions,
            sha256: hex::encode(Sha256::digest(bytes)),
            created_at: now,
            expires_at: new.expires_at,
        };
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&artifact.key)
            .content_type(&artifact.mime_type)
            .body(bytes.to_vec().into())
            .send()
            .await
            .map_err(unavailable)?;
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(&artifact)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(artifact)
    }

    /// The metadata of artifact `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Artifact>, ArtifactError> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// The bytes of `artifact`, refused when over `limit` bytes (checked before reading).
    pub async fn bytes(&self, artifact: &Artifact, limit: u64) -> Result<Vec<u8>, ArtifactError> {
        if artifact.size_bytes > limit {
            return Err(ArtifactError::TooLarge {
                id: artifact.id.clone(),
                size: artifact.size_bytes,
                limit,
            });
        }
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&artifact.key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_no_such_key() => ArtifactError::NotFound(artifact.id.clone()),
                _ => unavailable(e),
            })?;
        let data = out.body.collect().await.map_err(unavailable)?.to_vec();
        Ok(data)
    }

    /// A presigned GET URL of `artifact`'s bytes, valid for `ttl`.
    pub async fn presigned_url(
        &self,
        artifact: &Artifact,
        ttl: Duration,
    ) -> Result<String, ArtifactError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)
            .map_err(|e| ArtifactError::Unavailable(e.to_string()))?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&artifact.key)
            .presigned(config)
            .await
            .map_err(unavailable)?;
        Ok(request.uri().to_owned())
    }

    /// One page (up to `limit` items scanned) of artifacts expired at `now`, starting at `from`
    /// (the previous page's `next`).
    pub async fn expired_page(
        &self,
        now: u64,
        from: Option<Item>,
        limit: i32,
    ) -> Result<ExpiredPage, ArtifactError> {
        self.scan_page(Some(now), from, limit).await
    }

    /// One page (up to `limit` items scanned) of every artifact, starting at `from`: retention
    /// reads all of them to apply a window shortened after an artifact's `expires_at` was set.
    pub async fn page(&self, from: Option<Item>, limit: i32) -> Result<ExpiredPage, ArtifactError> {
        self.scan_page(None, from, limit).await
    }

    /// A scan page, of the artifacts expired at `expired_at` when given.
    async fn scan_page(
        &self,
        expired_at: Option<u64>,
        from: Option<Item>,
        limit: i32,
    ) -> Result<ExpiredPage, ArtifactError> {
        let mut scan = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .set_exclusive_start_key(from)
            .limit(limit)
            .consistent_read(true);
        if let Some(now) = expired_at {
            scan = scan
                .filter_expression("expires_at <= :now")
                .expression_attribute_values(":now", n(now));
        }
        let out = scan.send().await.map_err(unavailable)?;
        let artifacts = out
            .items
            .unwrap_or_default()
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExpiredPage {
            artifacts,
            next: out.last_evaluated_key,
        })
    }

    /// Deletes `artifact`'s object, then its metadata if it still exists. `Ok(true)`: this
    /// call removed the metadata (a concurrent run that lost the race gets `false`).
    pub async fn delete(&self, artifact: &Artifact) -> Result<bool, ArtifactError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(&artifact.key)
            .send()
            .await
            .map_err(unavailable)?;
        let deleted = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&artifact.id))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn item(a: &Artifact) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(&a.id));
    item.insert("workspace".into(), s(&a.workspace));
    item.insert("provider".into(), s(&a.provider));
    item.insert("mime_type".into(), s(&a.mime_type));
    item.insert("key".into(), s(&a.key));
    item.insert("size_bytes".into(), n(a.size_bytes));
    item.insert("sha256".into(), s(&a.sha256));
    item.insert("created_at".into(), n(a.created_at));
    item.insert("expires_at".into(), n(a.expires_at));
    for (k, v) in [
        ("job_id", &a.job_id),
        ("receipt_id", &a.receipt_id),
        ("model", &a.model),
    ] {
        if let Some(v) = v {
            item.insert(k.into(), s(v));
        }
    }
    if let Some(d) = a.duration_ms {
        item.insert("duration_ms".into(), n(d));
    }
    if let Some((w, h)) = a.dimensions {
        item.insert("width".into(), n(u64::from(w)));
        item.insert("height".into(), n(u64::from(h)));
    }
    item
}

fn from_item(item: &Item) -> Result<Artifact, ArtifactError> {
    let get_s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let get_n = |k: &str| {
        item.get(k)
            .and_then(|v: &AttributeValue| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let id = get_s("pk").unwrap_or_default();
    let corrupt = |detail: &str| ArtifactError::Corrupt {
        id: id.clone(),
        detail: detail.to_owned(),
    };
    let dimensions = match (get_n("width"), get_n("height")) {
        (Some(w), Some(h)) => Some((
            u32::try_from(w).map_err(|_| corrupt("width"))?,
            u32::try_from(h).map_err(|_| corrupt("height"))?,
        )),
        _ => None,
    };
    Ok(Artifact {
        workspace: get_s("workspace").ok_or_else(|| corrupt("workspace"))?,
        job_id: get_s("job_id"),
        receipt_id: get_s("receipt_id"),
        provider: get_s("provider").ok_or_else(|| corrupt("provider"))?,
        model: get_s("model"),
        mime_type: get_s("mime_type").ok_or_else(|| corrupt("mime_type"))?,
        key: get_s("key").ok_or_else(|| corrupt("key"))?,
        size_bytes: get_n("size_bytes").ok_or_else(|| corrupt("size_bytes"))?,
        duration_ms: get_n("duration_ms"),
        dimensions,
        sha256: get_s("sha256").ok_or_else(|| corrupt("sha256"))?,
        created_at: get_n("created_at").unwrap_or(0),
        expires_at: get_n("expires_at").ok_or_else(|| corrupt("expires_at"))?,
        id: id.clone(),
    })
}
