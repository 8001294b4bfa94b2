//! Device shadows over the MQTT session: requests correlated by client token, a live local
//! copy of each watched shadow, desired-state edits with optimistic versions, a durable
//! outbox for edits made offline, and a bounded local history for diffs.
//!
//! * **Requests** ([`Shadows::get`], [`Shadows::update`], [`Shadows::delete`]) carry a fresh
//!   `clientToken` and wait for the response echoing it, so responses to other clients on the
//!   same topics are ignored; no answer within [`ShadowOptions::timeout`] is
//!   [`ShadowsError::Timeout`]. The shadow's response and event filters are subscribed before
//!   the first request is published (AWS's rule); the session restores them after reconnects.
//! * **Watching** ([`Shadows::watch`], [`Shadows::changes`]): `/update/documents` events keep
//!   the local copy current; a newer `/update/delta` or a reconnect makes the engine GET the
//!   shadow again, since events missed while disconnected are gone.
//! * **Edits** ([`Shadows::edit`]) all go through the outbox table, online or not, and are
//!   sent one at a time in the order they were made, each with the version it was based on.
//!   A 409 is surfaced as [`EditState::Conflict`] with the shadow fetched again — nothing is
//!   overwritten. An accepted edit is [`EditState::Pending`] until the device reports the
//!   values ([`EditState::Applied`]).
//! * **At most once**: an edit keeps its client token on every attempt and the attempt is
//!   counted durably before it is published. After a crash or a dropped link between publish
//!   and accepted, the replay carries the same version, so the service cannot apply it twice;
//!   its 409 is then recognised as our own earlier attempt from the history (the
//!   `/update/documents` event of `base + 1` carries our token) or, when that event was
//!   missed, from the shadow holding our values past the base version.
//! * **History** keeps previous/current of each `/update/documents` event, the newest
//!   [`ShadowOptions::history_limit`] per shadow; [`diff`] lists what changed.
//!
//! The engine is a cloneable [`Shadows`] handle plus a [`ShadowsLoop`] the owner runs with the
//! session's messages (`tokio::spawn(shadows_loop.run(session.messages()))`, or a channel fed
//! by a router when other consumers share the session); it spawns nothing itself. Storage is
//! the app's SQLite write pool (`Store::write`) with `migrations/0010_shadows.sql` applied;
//! reads go through the same pool so that the outbox reads its own writes.
//!
//! ```no_run
//! # async fn example(
//! #     session: companion_core::session::SessionHandle,
//! #     pool: sqlx::SqlitePool,
//! # ) -> Result<(), companion_core::shadows::ShadowsError> {
//! use std::sync::Arc;
//!
//! use companion_awsiot::ThingName;
//! use companion_awsiot::topic::ShadowKind;
//! use companion_core::shadows::{EditState, ShadowOptions, Shadows};
//!
//! let (shadows, shadows_loop) =
//!     Shadows::open(Arc::new(session.clone()), pool, ShadowOptions::default()).await?;
//! tokio::spawn(shadows_loop.run(session.messages()));
//! let plug = ThingName::new("plug-0002").expect("a valid thing name");
//! let mut view = shadows.watch(&plug, &ShadowKind::Classic).await?;
//! let mut desired = serde_json::Map::new();
//! desired.insert("on".into(), true.into());
//! let mut edit = shadows.edit(&plug, &ShadowKind::Classic, desired, None).await?;
//! match edit.settled().await? {
//!     EditState::Conflict(conflict) => println!("changed meanwhile: {:?}", conflict.theirs),
//!     other => println!("{other:?}; the device follows: {:?}", view.changed().await),
//! }
//! # Ok(())
//! # }
//! ```

mod db;
mod diff;
mod edit;
mod error;
mod link;
mod replay;
mod view;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use companion_awsiot::shadow::{
    DeleteShadowResponse, Object, ShadowConfig, ShadowDeltaEvent, ShadowDocumentsEvent,
    ShadowResponse, ShadowState, UpdateShadowRequest, UpdateShadowResponse, client,
};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{Outgoing, ThingName, Topic};
use sqlx::SqlitePool;
use tokio::sync::{Notify, broadcast, oneshot, watch};

use crate::session::Message;

pub use companion_awsiot::shadow::ShadowKey;
pub use db::HistoryEntry;
pub use diff::{Change, diff};
pub use edit::{Conflict, Edit, EditEvent, EditId, EditRecord, EditState};
pub use error::ShadowsError;
pub use link::{LinkFuture, MessageSource, ShadowLink};
pub use view::{ShadowChanged, ShadowView, check_edit, reported_matches};

use db::{Basis, EditRow};
use error::corrupt;
use link::is_connected;

/// How the engine waits and what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowOptions {
    /// How long a request waits for its response.
    pub timeout: Duration,
    /// History entries kept per shadow.
    pub history_limit: usize,
}

impl Default for ShadowOptions {
    /// 10 s per request, the last 100 versions of each shadow.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            history_limit: 100,
        }
    }
}

/// What the handle and the loop share.
#[derive(Debug)]
struct Inner {
    link: Arc<dyn ShadowLink>,
    pool: SqlitePool,
    options: ShadowOptions,
    waiters: Mutex<HashMap<String, oneshot::Sender<ShadowResponse>>>,
    subscribed: tokio::sync::Mutex<HashSet<ShadowKey>>,
    views: Mutex<HashMap<ShadowKey, watch::Sender<Option<ShadowView>>>>,
    stale: Mutex<HashMap<ShadowKey, u64>>,
    changes: broadcast::Sender<ShadowChanged>,
    edits: broadcast::Sender<EditEvent>,
    wake: Notify,
    /// Serialises [`Shadows::edit`], so that two edits never chain onto the same predecessor.
    edit_order: tokio::sync::Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A fresh client token: 32 hex digits (AWS allows 64 bytes).
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Events broadcast capacity; a slower listener re-reads state instead (`Lagged`).
const EVENT_CAPACITY: usize = 1024;

/// The cloneable handle to the shadow engine.
#[derive(Debug, Clone)]
pub struct Shadows {
    inner: Arc<Inner>,
}

/// The engine's loop: routes incoming messages and replays the outbox whenever the session
/// is connected. Run it with [`ShadowsLoop::run`].
#[derive(Debug)]
pub struct ShadowsLoop {
    shadows: Shadows,
}

impl ShadowsLoop {
    /// Routes `messages` and replays the outbox until the messages end (the session ended).
    pub async fn run<S: MessageSource>(self, mut messages: S) {
        let intake = async {
            while let Some(message) = messages.next_message().await {
                self.shadows.handle_message(&message).await;
            }
        };
        tokio::select! {
            () = intake => {}
            () = self.shadows.work() => {}
        }
    }
}

impl Shadows {
    /// Opens the engine over `link` with the tables of `migrations/0010_shadows.sql` in
    /// `pool`, loading the last known views (offline first). Nothing happens on the network
    /// until the returned loop runs.
    pub async fn open(
        link: Arc<dyn ShadowLink>,
        pool: SqlitePool,
        options: ShadowOptions,
    ) -> Result<(Self, ShadowsLoop), ShadowsError> {
        let inner = Inner {
            link,
            pool,
            options,
            waiters: Mutex::new(HashMap::new()),
            subscribed: tokio::sync::Mutex::new(HashSet::new()),
            views: Mutex::new(HashMap::new()),
            stale: Mutex::new(HashMap::new()),
            changes: broadcast::channel(EVENT_CAPACITY).0,
            edits: broadcast::channel(EVENT_CAPACITY).0,
            wake: Notify::new(),
            edit_order: tokio::sync::Mutex::new(()),
        };
        let shadows = Self {
            inner: Arc::new(inner),
        };
        shadows.load().await?;
        let shadows_loop = ShadowsLoop {
            shadows: shadows.clone(),
        };
        Ok((shadows, shadows_loop))
    }

    /// Loads cached views and makes sure shadows with pending edits are followed.
    async fn load(&self) -> Result<(), ShadowsError> {
        for (key, view) in db::load_views(&self.inner.pool).await? {
            self.view_sender(&key).send_replace(view);
        }
        for row in db::all_edits(&self.inner.pool).await? {
            if matches!(row.state, EditState::Queued | EditState::Pending { .. }) {
                self.view_sender(&row.key);
            }
        }
        Ok(())
    }

    // ---- requests ---------------------------------------------------------------------------

    /// Reads a shadow (and refreshes the local copy). A missing shadow is
    /// [`ShadowsError::Rejected`] with code 404 ([`ShadowsError::is_not_found`]).
    pub async fn get(
        &self,
        thing: &ThingName,
        shadow: &ShadowKind,
    ) -> Result<ShadowView, ShadowsError> {
        let key = (thing.clone(), shadow.clone());
        let token = new_token();
        let request = client::get(thing, shadow, Some(token.clone()));
        match self.request(&key, request, &token).await? {
            ShadowResponse::GetAccepted(response) => {
                let view = ShadowView::from_get(&response);
                self.observe(&key, Some(view.clone()), None).await;
                Ok(view)
            }
            ShadowResponse::Rejected(_, error) => {
                if error.code == 404 {
                    self.observe(&key, None, None).await;
                }
                Err(rejected(error.code, error.message))
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Sends an update as given, with `version` for optimistic locking when `Some`. For
    /// desired-state edits that must survive being offline, use [`Shadows::edit`].
    pub async fn update(
        &self,
        thing: &ThingName,
        shadow: &ShadowKind,
        state: Option<ShadowState>,
        version: Option<u64>,
    ) -> Result<UpdateShadowResponse, ShadowsError> {
        let key = (thing.clone(), shadow.clone());
        let token = new_token();
        let request = UpdateShadowRequest {
            state,
            client_token: Some(token.clone()),
            version,
        };
        match self
            .request(&key, client::update(thing, shadow, &request), &token)
            .await?
        {
            ShadowResponse::UpdateAccepted(response) => Ok(response),
            ShadowResponse::Rejected(_, error) => Err(rejected(error.code, error.message)),
            other => Err(unexpected(&other)),
        }
    }

    /// Deletes a shadow (its version is kept by the service).
    pub async fn delete(
        &self,
        thing: &ThingName,
        shadow: &ShadowKind,
    ) -> Result<DeleteShadowResponse, ShadowsError> {
        let key = (thing.clone(), shadow.clone());
        let token = new_token();
        let request = client::delete(thing, shadow, Some(token.clone()));
        match self.request(&key, request, &token).await? {
            ShadowResponse::DeleteAccepted(response) => {
                self.observe(&key, None, None).await;
                Ok(response)
            }
            ShadowResponse::Rejected(_, error) => Err(rejected(error.code, error.message)),
            other => Err(unexpected(&other)),
        }
    }

    /// Subscribes, publishes and waits for the response carrying `token`.
    async fn request(
        &self,
        key: &ShadowKey,
        request: Outgoing,
        token: &str,
    ) -> Result<ShadowResponse, ShadowsError> {
        let mut state = self.inner.link.state();
        if !is_connected(&state.borrow_and_update()) {
            return Err(ShadowsError::Offline);
        }
        self.ensure_subscribed(key).await?;
        let (tx, rx) = oneshot::channel();
        let _waiter = Waiter::register(&self.inner, token, tx);
        self.inner
            .link
            .publish(request.topic, request.payload)
            .await?;
        let timeout = self.inner.options.timeout;
        tokio::select! {
            response = rx => response.map_err(|_| ShadowsError::Stopped),
            () = tokio::time::sleep(timeout) => Err(ShadowsError::Timeout(timeout)),
            () = link_drops(&mut state) => Err(ShadowsError::Offline),
        }
    }

    /// Subscribes once to the shadow's response and event filters (six filters, within
    /// AWS's eight per SUBSCRIBE); the session queues the SUBSCRIBE before any later
    /// publish, so the broker has it before the request.
    async fn ensure_subscribed(&self, key: &ShadowKey) -> Result<(), ShadowsError> {
        let mut subscribed = self.inner.subscribed.lock().await;
        if subscribed.contains(key) {
            return Ok(());
        }
        let mut filters = client::response_filters(&key.0, &key.1);
        filters.extend(client::event_filters(&key.0, &key.1));
        self.inner.link.subscribe(filters).await?;
        subscribed.insert(key.clone());
        Ok(())
    }

    // ---- watching -----------------------------------------------------------------------------

    /// The local copy of a shadow, kept current: the last known document at once (from the
    /// cache when offline; `None` when unknown or deleted), then every newer one. Fetches the
    /// shadow when connected.
    pub async fn watch(
        &self,
        thing: &ThingName,
        shadow: &ShadowKind,
    ) -> Result<watch::Receiver<Option<ShadowView>>, ShadowsError> {
        let key = (thing.clone(), shadow.clone());
        let receiver = self.view_sender(&key).subscribe();
        self.ensure_subscribed(&key).await?;
        match self.get(thing, shadow).await {
            Ok(_) | Err(ShadowsError::Offline | ShadowsError::Timeout(_)) => Ok(receiver),
            Err(error) if error.is_not_found() => Ok(receiver),
            Err(error) => Err(error),
        }
    }

    /// The last known document of a shadow, without any I/O.
    pub fn cached(&self, thing: &ThingName, shadow: &ShadowKind) -> Option<ShadowView> {
        let key = (thing.clone(), shadow.clone());
        lock(&self.inner.views)
            .get(&key)
            .and_then(|s| s.borrow().clone())
    }

    /// The shadows of `thing` the engine knows (followed, cached or with edits): the classic
    /// one first, then named ones by name.
    pub fn known(&self, thing: &ThingName) -> Vec<ShadowKind> {
        let mut kinds: Vec<ShadowKind> = lock(&self.inner.views)
            .keys()
            .filter(|(t, _)| t == thing)
            .map(|(_, kind)| kind.clone())
            .collect();
        kinds.sort_by(|a, b| shadow_order(a).cmp(&shadow_order(b)));
        kinds
    }

    /// Every change of every followed shadow.
    pub fn changes(&self) -> broadcast::Receiver<ShadowChanged> {
        self.inner.changes.subscribe()
    }

    /// The newest `limit` history entries of a shadow, newest first.
    pub async fn history(
        &self,
        thing: &ThingName,
        shadow: &ShadowKind,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ShadowsError> {
        db::history(&self.inner.pool, &(thing.clone(), shadow.clone()), limit).await
    }

    fn view_sender(&self, key: &ShadowKey) -> watch::Sender<Option<ShadowView>> {
        lock(&self.inner.views)
            .entry(key.clone())
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }

    /// Takes a newer document (or a deletion) into the local copy; saves it, announces it and
    /// checks pending edits against it.
    async fn observe(
        &self,
        key: &ShadowKey,
        current: Option<ShadowView>,
        previous: Option<ShadowView>,
    ) {
        let sender = self.view_sender(key);
        let mut old = None;
        let changed = sender.send_if_modified(|view| {
            let newer = match (&*view, &current) {
                (Some(have), Some(new)) => new.version > have.version,
                (None, None) => false,
                _ => true,
            };
            if newer {
                old = std::mem::replace(view, current.clone());
            }
            newer
        });
        if changed {
            self.announce(key, old, previous, current.as_ref()).await;
        }
        if let Some(view) = &current {
            self.log_error(self.check_applied(key, view).await);
        }
    }

    async fn announce(
        &self,
        key: &ShadowKey,
        old: Option<ShadowView>,
        previous: Option<ShadowView>,
        current: Option<&ShadowView>,
    ) {
        let saved = db::save_view(&self.inner.pool, key, current, now_ms()).await;
        self.log_error(saved);
        if let Some(current) = current {
            let _ = self.inner.changes.send(ShadowChanged {
                thing: key.0.clone(),
                shadow: key.1.clone(),
                previous: previous.or(old),
                current: current.clone(),
                version: current.version,
            });
        }
    }

    fn log_error(&self, result: Result<(), ShadowsError>) {
        if let Err(error) = result {
            tracing::warn!(%error, "shadow bookkeeping failed");
        }
    }

    // ---- incoming -----------------------------------------------------------------------------

    /// Takes one incoming message: a response for a waiting request, an `/update/documents`
    /// or `/update/delta` event. Returns whether it was a shadow topic. [`ShadowsLoop::run`]
    /// calls this; call it yourself only when routing a shared session's messages.
    pub async fn handle_message(&self, message: &Message) -> bool {
        let Ok(Topic::Shadow(topic)) = Topic::parse(&message.topic) else {
            return false;
        };
        let response = match ShadowResponse::parse(&topic, &message.payload) {
            Ok(Some(response)) => response,
            Ok(None) => return true,
            Err(error) => {
                tracing::warn!(%error, topic = %message.topic, "unreadable shadow message");
                return true;
            }
        };
        let key = (topic.thing, topic.shadow);
        match response {
            ShadowResponse::Documents(event) => self.on_documents(&key, &event).await,
            ShadowResponse::Delta(event) => self.on_delta(&key, &event),
            other => self.on_response(other),
        }
        true
    }

    /// Hands a response to the request waiting for its token; others' responses are ignored.
    fn on_response(&self, response: ShadowResponse) {
        let Some(token) = response.client_token() else {
            return;
        };
        let waiter = lock(&self.inner.waiters).remove(token);
        if let Some(waiter) = waiter {
            let _ = waiter.send(response);
        }
    }

    async fn on_documents(&self, key: &ShadowKey, event: &ShadowDocumentsEvent) {
        let current = ShadowView::from_snapshot(&event.current);
        let previous = event.previous.as_ref().map(ShadowView::from_snapshot);
        let entry = HistoryEntry {
            version: current.version,
            previous: previous.clone(),
            current: current.clone(),
            client_token: event.client_token.clone(),
            timestamp: event.timestamp,
        };
        let limit = self.inner.options.history_limit;
        self.log_error(db::record_history(&self.inner.pool, key, &entry, limit).await);
        self.observe(key, Some(current), previous).await;
    }

    /// A delta newer than the local copy means a documents event was missed: refresh.
    fn on_delta(&self, key: &ShadowKey, event: &ShadowDeltaEvent) {
        let known = self.cached(&key.0, &key.1).map_or(0, |v| v.version);
        if event.version > known {
            lock(&self.inner.stale).insert(key.clone(), event.version);
            self.inner.wake.notify_one();
        }
    }

    // ---- edits --------------------------------------------------------------------------------

    /// Queues a desired-state edit (`desired` is merged into the shadow's desired section;
    /// `null` deletes a key) durably and returns its ticket. The edit is based on `base`, or
    /// when `None` on the version the previous still-queued edit of this shadow produces, or
    /// on the last known version of the shadow ([`ShadowsError::NoBaseVersion`] if none).
    pub async fn edit(
        &self,
        thing: &ThingName,
        shadow: &ShadowKind,
        desired: Object,
        base: Option<u64>,
    ) -> Result<Edit, ShadowsError> {
        let key = (thing.clone(), shadow.clone());
        let current = self.cached(thing, shadow);
        check_edit(
            &serde_json::Value::Object(desired.clone()),
            current.as_ref(),
            &ShadowConfig::default(),
        )
        .map_err(|error| ShadowsError::InvalidEdit {
            code: error.code,
            message: error.message,
        })?;
        let _order = self.inner.edit_order.lock().await;
        let basis = self.basis(&key, base).await?;
        let events = self.inner.edits.subscribe();
        let token = new_token();
        let id = db::insert_edit(&self.inner.pool, &key, &desired, basis, &token, now_ms()).await?;
        self.view_sender(&key);
        self.inner.wake.notify_one();
        Ok(Edit::new(EditId(id), token, self.clone(), events))
    }

    async fn basis(&self, key: &ShadowKey, base: Option<u64>) -> Result<Basis, ShadowsError> {
        if let Some(version) = base {
            return Ok(Basis::Version(version));
        }
        if let Some(id) = db::last_open_edit(&self.inner.pool, key).await? {
            return Ok(Basis::AfterEdit(id));
        }
        self.cached(&key.0, &key.1)
            .map(|view| Basis::Version(view.version))
            .ok_or(ShadowsError::NoBaseVersion)
    }

    /// Every edit in the outbox, oldest first, with its state.
    pub async fn edits(&self) -> Result<Vec<EditRecord>, ShadowsError> {
        let rows = db::all_edits(&self.inner.pool).await?;
        Ok(rows.into_iter().map(EditRecord::from).collect())
    }

    /// One edit, by id.
    pub async fn edit_record(&self, id: EditId) -> Result<Option<EditRecord>, ShadowsError> {
        Ok(db::edit(&self.inner.pool, id.0)
            .await?
            .map(EditRecord::from))
    }

    /// The edits of one shadow, oldest first.
    pub async fn edits_of(
        &self,
        thing: &ThingName,
        kind: &ShadowKind,
    ) -> Result<Vec<EditRecord>, ShadowsError> {
        let key = (thing.clone(), kind.clone());
        let rows = db::edits_of(&self.inner.pool, &key).await?;
        Ok(rows.into_iter().map(EditRecord::from).collect())
    }

    /// How many edits of each thing are still on their way (queued or pending): what a fleet
    /// list shows as badges, without reading the whole outbox.
    pub async fn open_edit_counts(&self) -> Result<HashMap<String, u32>, ShadowsError> {
        Ok(db::open_edit_counts(&self.inner.pool)
            .await?
            .into_iter()
            .map(|(thing, count)| (thing, u32::try_from(count).unwrap_or(u32::MAX)))
            .collect())
    }

    /// One edit's state.
    pub async fn edit_state(&self, id: EditId) -> Result<EditState, ShadowsError> {
        db::edit(&self.inner.pool, id.0)
            .await?
            .map(|row| row.state)
            .ok_or_else(|| corrupt(format!("edit {} is not in the outbox", id.0)))
    }

    /// Every edit state change.
    pub fn edit_events(&self) -> broadcast::Receiver<EditEvent> {
        self.inner.edits.subscribe()
    }

    async fn set_state(&self, id: i64, state: EditState) -> Result<(), ShadowsError> {
        db::set_state(&self.inner.pool, id, &state, now_ms()).await?;
        let _ = self.inner.edits.send(EditEvent {
            id: EditId(id),
            state,
        });
        Ok(())
    }

    /// Marks pending edits of `key` applied once `view` reports their values.
    async fn check_applied(&self, key: &ShadowKey, view: &ShadowView) -> Result<(), ShadowsError> {
        for edit in db::edits_in(&self.inner.pool, key, "pending").await? {
            let Some(version) = edit.state.version() else {
                continue;
            };
            if view.version >= version && reported_matches(&edit.desired, &view.reported) {
                self.set_state(edit.id, EditState::Applied { version })
                    .await?;
            }
        }
        Ok(())
    }

    /// Records a confirmed edit, supersedes earlier pending edits it rewrites, and checks it
    /// against the local copy.
    async fn confirm(&self, edit: &EditRow, version: u64) -> Result<(), ShadowsError> {
        for earlier in db::edits_in(&self.inner.pool, &edit.key, "pending").await? {
            if earlier.id < edit.id && view::superseded_by(&earlier.desired, &edit.desired) {
                let version = earlier.state.version().unwrap_or_default();
                self.set_state(earlier.id, EditState::Superseded { version })
                    .await?;
            }
        }
        self.set_state(edit.id, EditState::Pending { version })
            .await?;
        if let Some(view) = self.cached(&edit.key.0, &edit.key.1) {
            self.check_applied(&edit.key, &view).await?;
        }
        Ok(())
    }
}

/// A registered response waiter, removed when the request ends however it ends.
struct Waiter<'a> {
    inner: &'a Inner,
    token: String,
}

impl<'a> Waiter<'a> {
    fn register(inner: &'a Inner, token: &str, tx: oneshot::Sender<ShadowResponse>) -> Self {
        lock(&inner.waiters).insert(token.to_owned(), tx);
        Self {
            inner,
            token: token.to_owned(),
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        lock(&self.inner.waiters).remove(&self.token);
    }
}

/// Resolves when the link is no longer connected; never if the state stops changing.
async fn link_drops(state: &mut watch::Receiver<crate::session::ConnectionState>) {
    if state.wait_for(|s| !is_connected(s)).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn rejected(code: u16, message: String) -> ShadowsError {
    ShadowsError::Rejected { code, message }
}

fn unexpected(response: &ShadowResponse) -> ShadowsError {
    ShadowsError::Unexpected(format!("{response:?}"))
}

/// Classic first, then named shadows by name.
fn shadow_order(kind: &ShadowKind) -> (bool, Option<&str>) {
    match kind {
        ShadowKind::Classic => (false, None),
        ShadowKind::Named(name) => (true, Some(name.as_str())),
    }
}

#[cfg(test)]
mod tests;
