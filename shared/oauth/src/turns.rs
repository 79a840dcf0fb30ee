//! One refresh at a time per connection within a warm process.
//!
//! Across processes the refresh lease (a conditional write) elects the refresher. Inside one
//! process, callers that find the same token expiring take turns here first, so a burst of
//! concurrent calls makes one lease attempt instead of one each; the others then find the
//! refreshed token on their next read and write nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

/// Per-connection turns of one process.
#[derive(Debug, Default)]
pub struct Turns {
    waiting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a caller refreshes (or waits for a refresh); the entry goes when nobody needs it.
#[derive(Debug)]
pub struct Turn<'a> {
    turns: &'a Turns,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for `key`'s turn. Cancel-safe: dropping the future gives up the place.
    pub async fn take(&self, key: &str) -> Turn<'_> {
        let slot = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.entry(key.to_owned()).or_default().clone()
        };
        let guard = slot.lock_owned().await;
        Turn {
            turns: self,
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut waiting = self.turns.waiting.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map holds the slot: nobody waits for it any more.
        if waiting
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            waiting.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn callers_of_one_key_take_turns_and_the_entry_is_dropped_after() {
        let turns = Arc::new(Turns::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (turns, inside, most) = (turns.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = turns.take("conn").await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("join");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
        assert_eq!(turns.len(), 0, "no entry outlives its callers");
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let turns = Turns::default();
        let _a = turns.take("a").await;
        let b = tokio::time::timeout(Duration::from_millis(100), turns.take("b")).await;
        assert!(b.is_ok());
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_nothing_behind() {
        let turns = Turns::default();
        let held = turns.take("a").await;
        let waited = tokio::time::timeout(Duration::from_millis(20), turns.take("a")).await;
        assert!(waited.is_err(), "the key is held");
        drop(held);
        assert_eq!(turns.len(), 0);
        let _again = turns.take("a").await;
    }
}
