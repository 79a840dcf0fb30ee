//! The per-shop query-cost budget, a token bucket shared by every warm function.
//!
//! Shopify's Admin GraphQL API meters calculated query cost with a leaky bucket per app and
//! shop: `maximumAvailable` points, restored at `restoreRate` points a second; a query whose
//! `requestedQueryCost` is over `currentlyAvailable` is answered `THROTTLED`. Every answer
//! reports the bucket in `extensions.cost.throttleStatus`. Keeping a copy of that bucket in
//! DynamoDB lets concurrent callers (many Lambdas) take their cost *before* calling, and wait
//! or fail fast instead of spending a round trip on a throttled answer.
//!
//! The math ([`Bucket`]) is pure; the store is a port ([`BudgetStore`]) with a DynamoDB
//! implementation (row `shopify_budget#<shop>` in the tool state table, written only under a
//! `version` condition) and an in-memory one for unit tests and benches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchyard_aws::dynamodb::types::AttributeValue;

use crate::aws_error::{chain, is_conditional_check_failed};
use crate::dynamo::{n, s};

/// Shopify's standard plan bucket, assumed until the first answer reports the real one.
pub const DEFAULT_MAXIMUM: f64 = 1000.0;
/// Points restored per second on the standard plan.
pub const DEFAULT_RESTORE_RATE: f64 = 50.0;
/// How long an idle budget row lives (it is rebuilt from the next answer).
const ROW_TTL_SECS: u64 = 86_400;

/// One shop's bucket as last written: points available at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub maximum: f64,
    pub available: f64,
    pub restore_rate: f64,
    /// When `available` was measured, in epoch milliseconds.
    pub at_ms: u64,
}

/// What taking a cost from a bucket gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    /// The cost is taken: the bucket to store.
    Granted(Bucket),
    /// Not enough points: they will be there in `wait_ms`.
    Wait { wait_ms: u64 },
}

/// The reported `throttleStatus` of an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub maximum: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

impl Bucket {
    /// A full bucket of the default size.
    pub fn full(at_ms: u64) -> Self {
        Self {
            maximum: DEFAULT_MAXIMUM,
            available: DEFAULT_MAXIMUM,
            restore_rate: DEFAULT_RESTORE_RATE,
            at_ms,
        }
    }

    /// The bucket at `now_ms`: restored by `restore_rate` for the time elapsed, never above the
    /// maximum (a clock that went back restores nothing).
    pub fn at(&self, now_ms: u64) -> Self {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        Self {
            available: (self.available + self.restore_rate * elapsed).min(self.maximum),
            at_ms: now_ms.max(self.at_ms),
            ..*self
        }
    }

    /// Takes `cost` at `now_ms`, or says how long until it is available. A cost over the
    /// maximum can never be granted: it is capped at the maximum (Shopify refuses such a query
    /// outright with `MAX_COST_EXCEEDED`, which the call then reports).
    pub fn take(&self, cost: f64, now_ms: u64) -> Take {
        let now = self.at(now_ms);
        let cost = cost.min(now.maximum);
        if now.available >= cost {
            return Take::Granted(Self {
                available: now.available - cost,
                ..now
            });
        }
        Take::Wait {
            wait_ms: restore_ms(cost, now.available, now.restore_rate),
        }
    }

    /// The bucket after an answer: what the provider reports, unless this copy already knows of
    /// less (costs other callers took and have not yet spent), plus the difference between what
    /// this call took and what it actually cost.
    pub fn synced(&self, reported: ThrottleStatus, refund: f64, now_ms: u64) -> Self {
        let now = self.at(now_ms);
        let ours = (now.available + refund.max(0.0)).min(reported.maximum);
        Self {
            maximum: reported.maximum,
            restore_rate: reported.restore_rate,
            available: ours.min(reported.currently_available).max(0.0),
            at_ms: now.at_ms,
        }
    }
}

/// Milliseconds until `needed` points are available from `available` at `rate` points a second:
/// `(needed - available) / rate`, rounded up.
pub fn restore_ms(needed: f64, available: f64, rate: f64) -> u64 {
    if available >= needed {
        return 0;
    }
    if rate <= 0.0 {
        return u64::MAX;
    }
    ((needed - available) / rate * 1000.0).ceil() as u64
}

/// Why the budget could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("shopify budget unavailable: {0}")]
pub struct BudgetUnavailable(pub String);

/// A stored bucket and the version it was read at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Versioned {
    pub bucket: Bucket,
    pub version: u64,
}

/// Where the buckets live.
pub trait BudgetStore: Send + Sync {
    /// The shop's bucket, if one was written.
    fn load(
        &self,
        shop: &str,
    ) -> impl std::future::Future<Output = Result<Option<Versioned>, BudgetUnavailable>> + Send;

    /// Writes `bucket` if the row is still at `read` (`None`: absent); `false` when another
    /// caller wrote first.
    fn store(
        &self,
        shop: &str,
        bucket: Bucket,
        read: Option<u64>,
    ) -> impl std::future::Future<Output = Result<bool, BudgetUnavailable>> + Send;
}

/// Buckets in one process (unit tests, benches).
#[derive(Debug, Clone, Default)]
pub struct MemoryBudget {
    rows: Arc<Mutex<HashMap<String, Versioned>>>,
}

impl BudgetStore for MemoryBudget {
    async fn load(&self, shop: &str) -> Result<Option<Versioned>, BudgetUnavailable> {
        let rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(rows.get(shop).copied())
    }

    async fn store(
        &self,
        shop: &str,
        bucket: Bucket,
        read: Option<u64>,
    ) -> Result<bool, BudgetUnavailable> {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        let current = rows.get(shop).map(|v| v.version);
        if current != read {
            return Ok(false);
        }
        let version = read.map_or(1, |v| v + 1);
        rows.insert(shop.to_owned(), Versioned { bucket, version });
        Ok(true)
    }
}

/// Buckets in the tool state table: row `shopify_budget#<shop>`.
#[derive(Debug, Clone)]
pub struct DynamoBudget {
    client: switchyard_aws::dynamodb::Client,
    table: String,
}

impl DynamoBudget {
    pub fn new(client: switchyard_aws::dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(shop: &str) -> String {
        format!("shopify_budget#{shop}")
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<f64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn decimal(v: f64) -> AttributeValue {
    AttributeValue::N(format!("{v:.3}"))
}

impl BudgetStore for DynamoBudget {
    async fn load(&self, shop: &str) -> Result<Option<Versioned>, BudgetUnavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(Self::key(shop)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| BudgetUnavailable(chain(&e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let read = || -> Option<Versioned> {
            Some(Versioned {
                bucket: Bucket {
                    maximum: number(&item, "maximum")?,
                    available: number(&item, "available")?,
                    restore_rate: number(&item, "restore_rate")?,
                    at_ms: number(&item, "at_ms")? as u64,
                },
                version: number(&item, "version")? as u64,
            })
        };
        read()
            .map(Some)
            .ok_or_else(|| BudgetUnavailable(format!("unreadable budget row of {shop}")))
    }

    async fn store(
        &self,
        shop: &str,
        bucket: Bucket,
        read: Option<u64>,
    ) -> Result<bool, BudgetUnavailable> {
        let version = read.map_or(1, |v| v + 1);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::key(shop)))
            .item("maximum", decimal(bucket.maximum))
            .item("available", decimal(bucket.available))
            .item("restore_rate", decimal(bucket.restore_rate))
            .item("at_ms", n(bucket.at_ms))
            .item("version", n(version))
            .item("expires_at", n(bucket.at_ms / 1000 + ROW_TTL_SECS));
        let put = match read {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(BudgetUnavailable(chain(&e))),
        }
    }
}

/// What [`acquire`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Acquired {
    /// The cost is taken (after waiting `waited_ms`).
    Taken { waited_ms: u64 },
    /// The wait would end after the deadline: nothing was taken.
    TooLong { wait_ms: u64 },
}

/// How many conditional-write races one acquisition tolerates before giving up.
const MAX_RACES: usize = 64;

/// Takes `cost` from `shop`'s bucket, waiting while the points restore if that ends before
/// `deadline_ms`. `now_ms` reads the clock; `sleep` waits (both injected so tests run on a fake
/// clock).
pub async fn acquire<S, N, W, F>(
    store: &S,
    shop: &str,
    cost: f64,
    deadline_ms: u64,
    now_ms: N,
    sleep: W,
) -> Result<Acquired, BudgetUnavailable>
where
    S: BudgetStore,
    N: Fn() -> u64,
    W: Fn(u64) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut waited = 0;
    for _ in 0..MAX_RACES {
        let now = now_ms();
        let read = store.load(shop).await?;
        let bucket = read.map_or_else(|| Bucket::full(now), |v| v.bucket);
        match bucket.take(cost, now) {
            Take::Granted(next) => {
                if store.store(shop, next, read.map(|v| v.version)).await? {
                    return Ok(Acquired::Taken { waited_ms: waited });
                }
            }
            Take::Wait { wait_ms } => {
                if now.saturating_add(wait_ms) > deadline_ms {
                    return Ok(Acquired::TooLong { wait_ms });
                }
                sleep(wait_ms).await;
                waited += wait_ms;
            }
        }
    }
    Err(BudgetUnavailable(format!(
        "the budget of {shop} changed under {MAX_RACES} attempts"
    )))
}

/// Brings `shop`'s bucket in line with an answer's `throttleStatus` (see [`Bucket::synced`]);
/// `refund` is what the call took beyond its actual cost.
pub async fn sync<S: BudgetStore>(
    store: &S,
    shop: &str,
    reported: ThrottleStatus,
    refund: f64,
    now_ms: u64,
) -> Result<(), BudgetUnavailable> {
    for _ in 0..MAX_RACES {
        let read = store.load(shop).await?;
        let bucket = read.map_or_else(|| Bucket::full(now_ms), |v| v.bucket);
        let next = bucket.synced(reported, refund, now_ms);
        if store.store(shop, next, read.map(|v| v.version)).await? {
            return Ok(());
        }
    }
    Err(BudgetUnavailable(format!(
        "the budget of {shop} changed under {MAX_RACES} attempts"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn bucket(available: f64, at_ms: u64) -> Bucket {
        Bucket {
            available,
            at_ms,
            ..Bucket::full(at_ms)
        }
    }

    #[test]
    fn restores_by_rate_times_elapsed_up_to_the_maximum() {
        let b = bucket(100.0, 1_000);
        assert_eq!(b.at(3_000).available, 200.0);
        assert_eq!(b.at(1_000_000).available, 1000.0);
        // A clock that went back restores nothing.
        assert_eq!(b.at(0).available, 100.0);
    }

    #[test]
    fn takes_when_available_else_says_the_restore_time() {
        assert_eq!(
            bucket(100.0, 0).take(60.0, 0),
            Take::Granted(bucket(40.0, 0))
        );
        // (requested - available) / restoreRate = (300 - 100) / 50 s.
        assert_eq!(
            bucket(100.0, 0).take(300.0, 0),
            Take::Wait { wait_ms: 4_000 }
        );
        // One second later 50 more points are there.
        assert_eq!(
            bucket(100.0, 0).take(300.0, 1_000),
            Take::Wait { wait_ms: 3_000 }
        );
        // A cost over the maximum waits for a full bucket, not forever.
        assert_eq!(
            bucket(0.0, 0).take(5000.0, 0),
            Take::Wait { wait_ms: 20_000 }
        );
        assert_eq!(restore_ms(10.0, 20.0, 50.0), 0);
        assert_eq!(restore_ms(10.0, 0.0, 0.0), u64::MAX);
    }

    #[test]
    fn syncs_to_the_reported_level_unless_ours_is_lower_and_refunds_overestimates() {
        let reported = ThrottleStatus {
            maximum: 2000.0,
            currently_available: 900.0,
            restore_rate: 100.0,
        };
        // The provider knows of less (another client spent): take its figure and its rates.
        let b = bucket(950.0, 0).synced(reported, 0.0, 0);
        assert_eq!(
            (b.available, b.maximum, b.restore_rate),
            (900.0, 2000.0, 100.0)
        );
        // Ours is lower (costs taken, not yet spent): keep ours, plus the refund.
        let b = bucket(500.0, 0).synced(reported, 40.0, 0);
        assert_eq!(b.available, 540.0);
    }

    #[tokio::test]
    async fn concurrent_takes_never_grant_more_than_the_bucket_holds() {
        let store = MemoryBudget::default();
        let mut granted = 0;
        for _ in 0..30 {
            match acquire(&store, "s", 100.0, 0, || 0, |_| async {})
                .await
                .expect("test value")
            {
                Acquired::Taken { .. } => granted += 1,
                Acquired::TooLong { wait_ms } => assert_eq!(wait_ms, 2_000),
            }
        }
        assert_eq!(granted, 10);
        // A write based on a stale version loses.
        let read = store
            .load("s")
            .await
            .expect("test value")
            .expect("test value");
        assert!(store
            .store("s", Bucket::full(0), Some(read.version))
            .await
            .expect("test value"));
        assert!(!store
            .store("s", Bucket::full(0), Some(read.version))
            .await
            .expect("test value"));
    }

    #[tokio::test]
    async fn waits_for_the_restore_when_it_fits_the_deadline_else_fails_fast() {
        let store = MemoryBudget::default();
        let clock = Arc::new(AtomicU64::new(0));
        store
            .store("s", bucket(0.0, 0), None)
            .await
            .expect("test value");
        let now = || clock.load(Ordering::SeqCst);
        let sleep = |ms: u64| {
            clock.fetch_add(ms, Ordering::SeqCst);
            async {}
        };
        // 100 points at 50/s: 2 s, past a 1.5 s deadline: nothing taken, nothing slept.
        let got = acquire(&store, "s", 100.0, 1_500, now, sleep)
            .await
            .expect("test value");
        assert_eq!(got, Acquired::TooLong { wait_ms: 2_000 });
        assert_eq!(clock.load(Ordering::SeqCst), 0);
        // Within a 5 s deadline it waits the 2 s and takes the points.
        let got = acquire(&store, "s", 100.0, 5_000, now, sleep)
            .await
            .expect("test value");
        assert_eq!(got, Acquired::Taken { waited_ms: 2_000 });
        let left = store
            .load("s")
            .await
            .expect("test value")
            .expect("test value")
            .bucket;
        assert_eq!(left.available, 0.0);
    }
}
