//! A loopback fake of the Google Workspace APIs the Switchyard Google tools and sync worker call:
//! Gmail v1, Drive v3, Calendar v3 and Docs v1, answering as the discovery documents
//! (`shared/specs/providers/google-*.json`) describe: the same paths, parameters, field names,
//! page tokens and error bodies (`{"error":{"code","message","errors":[{"message","domain",
//! "reason"}],"status"}}`).
//!
//! One server serves every API under one base URL (`GoogleFake::base_url`), with Google's paths:
//! `/gmail/v1/users/me/...`, `/calendar/v3/...`, `/drive/v3/...`, `/upload/drive/v3/files`,
//! `/v1/documents/...`. Configure a client with the base where it would use
//! `https://gmail.googleapis.com`, `https://www.googleapis.com` or `https://docs.googleapis.com`.
//!
//! - Access: `Authorization: Bearer <token>` with a token registered by [`GoogleFake::grant`]
//!   (401 `authError` otherwise). A method called without any of the scopes its discovery
//!   document lists answers 403 `insufficientPermissions`.
//! - Every request is recorded ([`GoogleFake::requests`]); canned answers can be queued under a
//!   path prefix ([`GoogleFake::script`]), e.g. a 429 or a 403 `rateLimitExceeded` before normal
//!   behaviour resumes.
//! - One model per product, which the helpers mutate (a mail arriving, a file changing, an
//!   event moving) exactly as API calls do: Gmail's history, Drive's change log and Calendar's
//!   sync tokens see both.
//! - Drive answers its v3 default partial response (files: `kind,id,name,mimeType`) unless the
//!   request says `fields` (`*` for everything), as Drive does; ask for `modifiedTime`, `size`,
//!   `trashed`, ... explicitly.
//! - Calendar lists show cancelled events with their identity only (`id`, `status`, `etag`,
//!   `updated`); `events.get` returns the whole event.
//! - Push channels (Drive `changes.watch`/`files.watch`, Calendar `events.watch`) and Gmail's
//!   `users.watch` are recorded ([`GoogleFake::channels`], [`GoogleFake::gmail_watch`]); the fake
//!   does not deliver notifications: tests build them from the recorded channel.

mod calendar;
mod channels;
mod docs;
mod drive;
mod error;
mod gmail;
mod page;
mod server;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

pub use calendar::CalendarEvent;
pub use channels::{Channel, GmailWatch};
pub use drive::DriveFile;
pub use error::ApiError;
pub use gmail::GmailMessage;
pub use server::{Recorded, Scripted};

use server::State;

/// The scope URL prefix every Google scope here shares.
const SCOPE: &str = "https://www.googleapis.com/auth/";

/// A running Google API fake on `127.0.0.1:<ephemeral>`, served from a task of the runtime that
/// started it.
#[derive(Debug, Clone)]
pub struct GoogleFake {
    /// `http://127.0.0.1:PORT`: the base of every API here.
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl GoogleFake {
    /// The mailbox owner's address (Gmail profile, Calendar `primary`, Drive owner).
    pub const EMAIL: &'static str = "owner@example.com";

    /// Starts the fake on a loopback port.
    pub async fn start() -> GoogleFake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Google fake");
        let addr = listener.local_addr().expect("the fake's local address");
        let state = Arc::new(Mutex::new(State::new(Self::EMAIL)));
        let router = server::router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("Google fake stopped: {error}");
            }
        });
        GoogleFake {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Accepts `token` as a bearer token granted `scopes` (full URLs, e.g.
    /// `https://www.googleapis.com/auth/gmail.readonly`). Granting again replaces the scopes.
    pub fn grant(&self, token: &str, scopes: &[&str]) {
        self.lock().tokens.insert(
            token.to_owned(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    /// Accepts `token` with every scope ([`GoogleFake::all_scopes`]).
    pub fn grant_all(&self, token: &str) {
        let all = Self::all_scopes();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.grant(token, &all);
    }

    /// The full-access scope of each product: `https://mail.google.com/`, `…/auth/drive`,
    /// `…/auth/calendar`, `…/auth/documents`.
    pub fn all_scopes() -> Vec<String> {
        vec![
            gmail::FULL_SCOPE.to_owned(),
            format!("{SCOPE}drive"),
            format!("{SCOPE}calendar"),
            format!("{SCOPE}documents"),
        ]
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// How many requests had `method` (any case) and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.lock()
            .recorded
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    /// Answers the next `responses.len()` requests whose path starts with `path_prefix` (any
    /// method) with `responses`, in order, before normal behaviour resumes. Queues for the same
    /// prefix append. Scripted answers skip authentication; requests are still recorded.
    pub fn script(&self, path_prefix: &str, responses: Vec<Scripted>) {
        let mut state = self.lock();
        match state.scripts.iter_mut().find(|(p, _)| p == path_prefix) {
            Some((_, queue)) => queue.extend(responses),
            None => state
                .scripts
                .push((path_prefix.to_owned(), responses.into())),
        }
    }

    /// Moves the fake's clock (timestamps, channel and watch expirations) `secs` ahead.
    pub fn advance_clock(&self, secs: i64) {
        self.lock().clock_offset += secs;
    }

    /// The fake's current time in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.lock().now().timestamp_millis()
    }

    // --- Gmail ---------------------------------------------------------------------------

    /// Delivers a plain-text mail into the mailbox with `labels` (e.g. `["INBOX", "UNREAD"]`);
    /// appends a `messagesAdded` history record. Returns the message id.
    pub fn gmail_receive(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        body: &str,
        labels: &[&str],
    ) -> String {
        let mut state = self.lock();
        let raw = gmail::plain_message(from, to, subject, body, state.now());
        let labels = labels.iter().map(|l| (*l).to_owned()).collect();
        state
            .gmail_insert(raw.into_bytes(), labels, None)
            .expect("a generated message parses")
    }

    /// Adds and removes labels of message `id` as `messages.modify` would, appending
    /// `labelsAdded`/`labelsRemoved` records for the labels that changed. `false`: no such message.
    pub fn gmail_set_labels(&self, id: &str, add: &[&str], remove: &[&str]) -> bool {
        self.lock().gmail_modify(id, add, remove)
    }

    /// Deletes message `id` for good, appending a `messagesDeleted` record.
    pub fn gmail_delete(&self, id: &str) -> bool {
        self.lock().gmail_delete(id)
    }

    /// The mailbox's current history id.
    pub fn gmail_history_id(&self) -> u64 {
        self.lock().gmail.history_id
    }

    /// Drops history records with ids below `id`: `history.list` from an older
    /// `startHistoryId` answers 404, as Google does once history has expired.
    pub fn expire_history_before(&self, id: u64) {
        self.lock().gmail.expire_before(id);
    }

    /// Message `id` as stored (raw RFC 5322 bytes, labels, parsed headers), also after deletion.
    pub fn gmail_message(&self, id: &str) -> Option<GmailMessage> {
        self.lock()
            .gmail
            .messages
            .iter()
            .find(|m| m.id == id)
            .cloned()
    }

    /// Every message that has the label `label` (e.g. `SENT`, `DRAFT`), oldest first.
    pub fn gmail_labeled(&self, label: &str) -> Vec<GmailMessage> {
        self.lock()
            .gmail
            .messages
            .iter()
            .filter(|m| !m.deleted && m.label_ids.iter().any(|l| l == label))
            .cloned()
            .collect()
    }

    /// The mailbox's `users.watch` registration, if any (also after `users.stop`).
    pub fn gmail_watch(&self) -> Option<GmailWatch> {
        self.lock().gmail_watch.clone()
    }

    // --- Drive ---------------------------------------------------------------------------

    /// Creates or replaces file `id` (a new id when `None`) with `name`, `mime_type` and
    /// `content` (for Google Docs/Sheets/Slides, what export returns as text/CSV), and appends a
    /// change record. Returns the file id.
    pub fn drive_put_file(
        &self,
        id: Option<&str>,
        name: &str,
        mime_type: &str,
        content: &[u8],
    ) -> String {
        self.lock()
            .drive_put(id, name, mime_type, content.to_vec(), None)
    }

    /// Records a change of file `id` (its `modifiedTime` moves, a change record is appended),
    /// as an edit would. `false`: no such file.
    pub fn drive_change(&self, id: &str) -> bool {
        self.lock().drive_touch(id)
    }

    /// Moves file `id` to the trash (`trashed: true`) with a change record.
    pub fn drive_trash(&self, id: &str) -> bool {
        self.lock().drive_trash(id)
    }

    /// Deletes file `id` for good: a `removed: true` change record.
    pub fn drive_remove(&self, id: &str) -> bool {
        self.lock().drive_remove(id)
    }

    /// File `id` as stored, with its content.
    pub fn drive_file(&self, id: &str) -> Option<DriveFile> {
        self.lock().drive.files.get(id).cloned()
    }

    /// Caps `files.export` at `bytes` (Google's cap is 10 MB; tests lower it).
    pub fn set_export_limit(&self, bytes: usize) {
        self.lock().drive.export_limit = bytes;
    }

    // --- Calendar ------------------------------------------------------------------------

    /// Creates calendar `id` (empty) if it does not exist. `primary` and
    /// [`GoogleFake::EMAIL`] always exist.
    pub fn calendar_add(&self, id: &str) {
        self.lock().calendar_mut(id);
    }

    /// Inserts or updates event `event["id"]` (a new id when absent) of calendar `calendar`
    /// with the fields of `event` (merged over an existing one), as an edit in the Calendar UI
    /// would: `updated`, `etag` and `sequence` move and the next incremental sync returns it.
    /// Returns the event id.
    pub fn calendar_upsert(&self, calendar: &str, event: &Value) -> String {
        self.lock().calendar_upsert(calendar, event)
    }

    /// Cancels event `id` of `calendar` (status `cancelled`), as a deletion would.
    pub fn calendar_cancel(&self, calendar: &str, id: &str) -> bool {
        self.lock().calendar_cancel(calendar, id)
    }

    /// Event `id` of `calendar` as stored.
    pub fn calendar_event(&self, calendar: &str, id: &str) -> Option<CalendarEvent> {
        let mut state = self.lock();
        state.calendar_mut(calendar).event(id).cloned()
    }

    /// Makes every sync token issued so far stale: `events.list?syncToken=` answers 410
    /// `fullSyncRequired`, as Google does after token expiry or an ACL change.
    pub fn invalidate_sync_tokens(&self) {
        self.lock().calendar_epoch += 1;
    }

    // --- Docs ----------------------------------------------------------------------------

    /// Creates a Google Doc titled `title` with `paragraphs` of (`namedStyleType`, text), e.g.
    /// `("HEADING_1", "Plan")`, `("NORMAL_TEXT", "…")`; it is also a Drive file with a change
    /// record. Returns the document id.
    pub fn docs_put(&self, title: &str, paragraphs: &[(&str, &str)]) -> String {
        self.lock().docs_create(title, paragraphs)
    }

    /// The document's text as export to text/plain returns it (paragraphs joined by newlines).
    pub fn docs_text(&self, id: &str) -> Option<String> {
        self.lock().docs.get(id).map(docs::Document::text)
    }

    // --- Channels ------------------------------------------------------------------------

    /// Every push channel opened (Drive changes/files, Calendar events), in opening order,
    /// with whether it was stopped.
    pub fn channels(&self) -> Vec<Channel> {
        self.lock().channels.clone()
    }

    /// The channel with `id`, if one was opened.
    pub fn channel(&self, id: &str) -> Option<Channel> {
        self.lock().channels.iter().find(|c| c.id == id).cloned()
    }
}

#[cfg(test)]
mod tests;
