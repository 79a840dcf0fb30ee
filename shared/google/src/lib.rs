//! Google Workspace sync, in one place: watches and their lifecycle, and the pull of changes
//! into agent events.
//!
//! - [`watch`]: create a watch (subscribe, record a baseline cursor), renew it (Gmail
//!   `users.watch` again; Drive/Calendar a new channel before the old one expires, then stop the
//!   old one), stop every watch of an instance (disconnect, instance deletion).
//! - [`sync`]: for one watch, pull from the stored cursor across pages (Gmail history, Drive
//!   changes, Calendar events), queue each change as a WorkItem claimed by its delivery key
//!   (exactly once, however many syncs run at once), then move the cursor from the value read.
//! - [`worker`]: the SyncQueue consumer (notifications that ask for a sync).
//! - [`renewer`]: the scheduled run: renewals, failure accounting (`failing`,
//!   `integration.watch_failed`) and the safety sweep (Google drops notifications).
//!
//! Every Google call is an internal tool method (`shared/integrations/google_sync.json`) run
//! through [`switchyard_tools::call_for_worker`]: the instance's OAuth connection, retries,
//! rate-limit backoff, deadlines and receipts are the tools'.

pub mod api;
mod context;
pub mod renewer;
pub mod resource;
pub mod sync;
pub mod watch;
pub mod worker;

pub use context::{GoogleSync, Settings};
pub use resource::Resource;
