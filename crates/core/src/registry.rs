//! The fleet registry: the things of a connection profile, what they are and whether they are
//! online, fed by lifecycle events, classic shadow documents, Jobs messages and explicit adds
//! (provisioning, import), persisted in SQLite (`migrations/0002_registry.sql`).
//!
//! * [`Registry::apply`] takes any received message; [`observe::observe`] decides what it says
//!   without I/O, and stale or duplicated events are ignored ([`presence`], shadow and
//!   execution versions).
//! * [`Registry::list`] serves the fleet page: filters, search by name, sort, paging. The
//!   indexes keep a 10,000-thing list fast (see the telemetry benchmark's registry figures).
//! * [`Registry::jobs`] is a device's jobs view: executions with status and progress.

pub mod controls;
pub mod observe;
pub mod presence;

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, FromRow, Sqlite, Transaction};

pub use observe::{ExecutionUpdate, Observation, ReportedFields, observe};
pub use presence::PresenceMark;

use crate::store::{Store, StoreError};

/// The topic filters that feed the registry (seven, under AWS's eight per SUBSCRIBE).
pub const FILTERS: [&str; 7] = [
    "$aws/events/presence/connected/+",
    "$aws/events/presence/disconnected/+",
    "$aws/things/+/shadow/update/documents",
    "$aws/things/+/shadow/update/delta",
    "$aws/things/+/shadow/get/accepted",
    "$aws/things/+/jobs/notify",
    "$aws/things/+/jobs/notify-next",
];

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database failed.
    #[error("the fleet registry failed: {0}")]
    Store(#[from] StoreError),
    /// A thing's stored attributes are not a JSON object of strings.
    #[error("the stored attributes of {thing} are damaged: {detail}; add the thing again")]
    Attributes {
        /// The thing.
        thing: String,
        /// The decoder's message.
        detail: String,
    },
}

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}

/// How a thing came into the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Provisioned by this app.
    Provisioned,
    /// Imported (a list, or an existing thing entered by hand).
    Imported,
    /// Seen in a lifecycle event, shadow or jobs message.
    Discovered,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "provisioned",
            Self::Imported => "imported",
            Self::Discovered => "discovered",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "provisioned" => Self::Provisioned,
            "imported" => Self::Imported,
            _ => Self::Discovered,
        }
    }
}

/// Whether a thing is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// Its last lifecycle event was a connect.
    Online,
    /// Its last lifecycle event was a disconnect.
    Offline,
    /// No lifecycle event was seen.
    Unknown,
}

/// A thing as the fleet page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    /// The thing name.
    pub name: String,
    /// How it came into the registry.
    pub source: Source,
    /// Model or kind, when known.
    pub model: Option<String>,
    /// Firmware version from its classic shadow, when reported.
    pub firmware_version: Option<String>,
    /// Free-form attributes (from provisioning or import).
    pub attributes: BTreeMap<String, String>,
    /// Signal strength in dBm, when reported.
    pub signal_dbm: Option<i64>,
    /// Online, offline or unknown.
    pub presence: Presence,
    /// The newest connect or disconnect, epoch milliseconds.
    pub last_seen_ms: Option<i64>,
    /// Why it disconnected, while offline (`CONNECTION_LOST`, ...).
    pub disconnect_reason: Option<String>,
    /// True when the classic shadow's desired state differs from reported.
    pub out_of_sync: bool,
    /// Job executions queued or in progress.
    pub pending_jobs: i64,
}

/// A thing added explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThing {
    /// The thing name.
    pub name: String,
    /// Provisioned or imported.
    pub source: Source,
    /// Model, when known.
    pub model: Option<String>,
    /// Attributes to keep with it.
    pub attributes: BTreeMap<String, String>,
}

/// Which things a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ThingFilter {
    /// Every thing.
    #[default]
    All,
    /// Connected ones.
    Online,
    /// Not connected (offline or never seen).
    Offline,
    /// Classic shadow out of sync.
    OutOfSync,
    /// With queued or running job executions.
    HasJobs,
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortKey {
    /// By name.
    #[default]
    Name,
    /// By last seen (unknown last).
    LastSeen,
    /// By model (unknown last), then name.
    Model,
    /// By firmware version (unknown last), then name.
    Firmware,
    /// By signal strength (unknown last), then name.
    Signal,
}

/// A list request from the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingQuery {
    /// Which things.
    pub filter: ThingFilter,
    /// Only names containing this (case-insensitive for ASCII).
    pub search: Option<String>,
    /// The order.
    pub sort: SortKey,
    /// Reverse the order.
    pub descending: bool,
    /// At most this many.
    pub limit: u32,
    /// Skip this many (paging).
    pub offset: u32,
}

impl Default for ThingQuery {
    fn default() -> Self {
        Self {
            filter: ThingFilter::All,
            search: None,
            sort: SortKey::Name,
            descending: false,
            limit: 200,
            offset: 0,
        }
    }
}

/// A job execution in a device's jobs view.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct JobView {
    /// The job.
    pub job_id: String,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCEEDED`, ...
    pub status: String,
    /// statusDetails.progress as a number, when the device reports one.
    pub progress: Option<f64>,
    /// statusDetails as JSON.
    pub status_details: String,
    /// The execution's version.
    pub version_number: i64,
    /// Which execution.
    pub execution_number: Option<i64>,
    /// Epoch seconds.
    pub queued_at: Option<i64>,
    /// Epoch seconds.
    pub started_at: Option<i64>,
    /// Epoch seconds.
    pub last_updated_at: Option<i64>,
}

/// What [`Registry::apply`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The message is not for the registry (or not readable).
    Ignored,
    /// Older than what is stored, or a duplicate: nothing changed.
    Stale(String),
    /// The thing was updated (or discovered).
    Updated(String),
}

#[derive(FromRow)]
struct ThingRow {
    name: String,
    source: String,
    model: Option<String>,
    firmware_version: Option<String>,
    attributes: String,
    signal_dbm: Option<i64>,
    online: Option<bool>,
    last_seen_ms: Option<i64>,
    disconnect_reason: Option<String>,
    out_of_sync: bool,
    pending_jobs: i64,
}

impl ThingRow {
    fn into_thing(self) -> Result<Thing, RegistryError> {
        let attributes =
            serde_json::from_str(&self.attributes).map_err(|e| RegistryError::Attributes {
                thing: self.name.clone(),
                detail: e.to_string(),
            })?;
        Ok(Thing {
            source: Source::parse(&self.source),
            presence: match self.online {
                Some(true) => Presence::Online,
                Some(false) => Presence::Offline,
                None => Presence::Unknown,
            },
            name: self.name,
            model: self.model,
            firmware_version: self.firmware_version,
            attributes,
            signal_dbm: self.signal_dbm,
            last_seen_ms: self.last_seen_ms,
            disconnect_reason: self.disconnect_reason,
            out_of_sync: self.out_of_sync,
            pending_jobs: self.pending_jobs,
        })
    }
}

const SELECT_THINGS: &str = "SELECT t.name, t.source, t.model, t.firmware_version, t.attributes, \
       t.signal_dbm, t.online, t.last_seen_ms, t.disconnect_reason, t.out_of_sync, \
       (SELECT count(*) FROM job_executions AS j WHERE j.profile = t.profile AND j.thing = t.name \
          AND j.status IN ('QUEUED', 'IN_PROGRESS')) AS pending_jobs \
     FROM things AS t WHERE t.profile = ?1";

const PENDING: &str = "('QUEUED', 'IN_PROGRESS')";

/// The things of one profile.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
    profile: String,
}

impl Registry {
    /// The registry of `profile` in `store`.
    pub fn new(store: Store, profile: impl Into<String>) -> Self {
        Self {
            store,
            profile: profile.into(),
        }
    }

    /// Adds `thing` (or upgrades a discovered one to provisioned/imported, keeping what was
    /// learned about it).
    pub async fn add(&self, thing: &NewThing, now_ms: i64) -> Result<(), RegistryError> {
        let attributes = serde_json::to_string(&thing.attributes).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO things (profile, name, source, model, attributes, added_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (profile, name) DO UPDATE SET source = excluded.source, \
               model = coalesce(excluded.model, model), attributes = excluded.attributes",
        )
        .bind(&self.profile)
        .bind(&thing.name)
        .bind(thing.source.as_str())
        .bind(&thing.model)
        .bind(attributes)
        .bind(now_ms)
        .execute(self.store.write())
        .await?;
        Ok(())
    }

    /// Removes a thing and its job executions; false when it was not there.
    pub async fn remove(&self, name: &str) -> Result<bool, RegistryError> {
        let done = sqlx::query("DELETE FROM things WHERE profile = ?1 AND name = ?2")
            .bind(&self.profile)
            .bind(name)
            .execute(self.store.write())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Learns from a received message (see [`FILTERS`]); `received_ms` dates discoveries.
    pub async fn apply(
        &self,
        topic: &str,
        payload: &[u8],
        received_ms: i64,
    ) -> Result<Applied, RegistryError> {
        match observe(topic, payload) {
            Some(observation) => self.record(&observation, received_ms).await,
            None => Ok(Applied::Ignored),
        }
    }

    /// Records one observation in one transaction.
    pub async fn record(
        &self,
        observation: &Observation,
        received_ms: i64,
    ) -> Result<Applied, RegistryError> {
        let mut tx = self.store.write().begin().await?;
        let applied = match observation {
            Observation::Presence {
                thing,
                mark,
                reason,
            } => {
                self.discover(&mut tx, thing, received_ms).await?;
                self.presence(&mut tx, thing, *mark, reason.as_deref())
                    .await?
            }
            Observation::Shadow {
                thing,
                version,
                reported,
                out_of_sync,
            } => {
                self.discover(&mut tx, thing, received_ms).await?;
                self.shadow(&mut tx, thing, *version, reported, *out_of_sync)
                    .await?
            }
            Observation::Jobs {
                thing,
                executions,
                pending,
            } => {
                self.discover(&mut tx, thing, received_ms).await?;
                self.jobs_seen(&mut tx, thing, executions, pending.as_deref())
                    .await?
            }
        };
        tx.commit().await?;
        Ok(applied)
    }

    /// Notes that `thing` was heard from (e.g. its telemetry) at `at_ms`.
    pub async fn seen(&self, thing: &str, at_ms: i64) -> Result<(), RegistryError> {
        sqlx::query(
            "UPDATE things SET last_seen_ms = max(coalesce(last_seen_ms, 0), ?3) \
             WHERE profile = ?1 AND name = ?2",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(at_ms)
        .execute(self.store.write())
        .await?;
        Ok(())
    }

    async fn discover(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        thing: &str,
        now_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO things (profile, name, source, added_ms) VALUES (?1, ?2, 'discovered', ?3) \
             ON CONFLICT (profile, name) DO NOTHING",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn presence(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        thing: &str,
        mark: PresenceMark,
        reason: Option<&str>,
    ) -> Result<Applied, sqlx::Error> {
        let stored: (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT presence_version, presence_ms, presence_rank FROM things \
             WHERE profile = ?1 AND name = ?2",
        )
        .bind(&self.profile)
        .bind(thing)
        .fetch_one(&mut **tx)
        .await?;
        let applied = match stored {
            (Some(version), Some(at_ms), Some(rank)) => Some(PresenceMark {
                version,
                at_ms,
                connected: rank == 0,
            }),
            _ => None,
        };
        if !mark.supersedes(applied) {
            return Ok(Applied::Stale(thing.to_owned()));
        }
        sqlx::query(
            "UPDATE things SET online = ?3, last_seen_ms = max(coalesce(last_seen_ms, 0), ?4), \
               disconnect_reason = ?5, presence_version = ?6, presence_ms = ?4, presence_rank = ?7 \
             WHERE profile = ?1 AND name = ?2",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(mark.connected)
        .bind(mark.at_ms)
        .bind(reason)
        .bind(mark.version)
        .bind(mark.rank())
        .execute(&mut **tx)
        .await?;
        Ok(Applied::Updated(thing.to_owned()))
    }

    async fn shadow(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        thing: &str,
        version: i64,
        reported: &ReportedFields,
        out_of_sync: Option<bool>,
    ) -> Result<Applied, sqlx::Error> {
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT shadow_version FROM things WHERE profile = ?1 AND name = ?2",
        )
        .bind(&self.profile)
        .bind(thing)
        .fetch_one(&mut **tx)
        .await?;
        let only_delta = *reported == ReportedFields::default() && out_of_sync == Some(true);
        // A delta event shares its version with the documents event of the same update, so
        // it may mark the thing out of sync at that version but never claims the version.
        let stale = stored.is_some_and(|v| {
            if only_delta {
                version < v
            } else {
                version <= v
            }
        });
        if stale {
            return Ok(Applied::Stale(thing.to_owned()));
        }
        let new_version = if only_delta { stored } else { Some(version) };
        sqlx::query(
            "UPDATE things SET firmware_version = coalesce(?3, firmware_version), \
               model = coalesce(?4, model), signal_dbm = coalesce(?5, signal_dbm), \
               out_of_sync = coalesce(?6, out_of_sync), shadow_version = ?7 \
             WHERE profile = ?1 AND name = ?2",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(&reported.firmware_version)
        .bind(&reported.model)
        .bind(reported.signal_dbm)
        .bind(out_of_sync)
        .bind(new_version)
        .execute(&mut **tx)
        .await?;
        Ok(Applied::Updated(thing.to_owned()))
    }

    async fn jobs_seen(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        thing: &str,
        executions: &[ExecutionUpdate],
        pending: Option<&[String]>,
    ) -> Result<Applied, sqlx::Error> {
        for execution in executions {
            self.upsert_execution(tx, thing, execution).await?;
        }
        if let Some(pending) = pending {
            self.forget_finished(tx, thing, pending).await?;
        }
        Ok(Applied::Updated(thing.to_owned()))
    }

    async fn upsert_execution(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        thing: &str,
        e: &ExecutionUpdate,
    ) -> Result<(), sqlx::Error> {
        let details = e
            .status_details
            .as_ref()
            .map(|d| serde_json::to_string(d).unwrap_or_else(|_| "{}".into()));
        let progress = e.status_details.as_ref().and_then(observe::progress);
        sqlx::query(
            "INSERT INTO job_executions (profile, thing, job_id, status, status_details, progress, \
               version_number, execution_number, queued_at, started_at, last_updated_at) \
             VALUES (?1, ?2, ?3, ?4, coalesce(?5, '{}'), ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (profile, thing, job_id) DO UPDATE SET status = excluded.status, \
               status_details = coalesce(?5, status_details), progress = coalesce(?6, progress), \
               version_number = excluded.version_number, \
               execution_number = coalesce(excluded.execution_number, execution_number), \
               queued_at = coalesce(excluded.queued_at, queued_at), \
               started_at = coalesce(excluded.started_at, started_at), \
               last_updated_at = coalesce(excluded.last_updated_at, last_updated_at) \
             WHERE excluded.version_number >= job_executions.version_number",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(&e.job_id)
        .bind(&e.status)
        .bind(details)
        .bind(progress)
        .bind(e.version_number)
        .bind(e.execution_number)
        .bind(e.queued_at)
        .bind(e.started_at)
        .bind(e.last_updated_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Pending executions missing from a full pending list have left it (finished or
    /// removed); AWS lists at most 10 in `notify`, so a full list proves nothing.
    async fn forget_finished(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        thing: &str,
        pending: &[String],
    ) -> Result<(), sqlx::Error> {
        if pending.len() >= 10 {
            return Ok(());
        }
        let ids = serde_json::to_string(pending).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "DELETE FROM job_executions WHERE profile = ?1 AND thing = ?2 \
               AND status IN ('QUEUED', 'IN_PROGRESS') \
               AND job_id NOT IN (SELECT value FROM json_each(?3))",
        )
        .bind(&self.profile)
        .bind(thing)
        .bind(ids)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// One thing, if known.
    pub async fn get(&self, name: &str) -> Result<Option<Thing>, RegistryError> {
        let sql = format!("{SELECT_THINGS} AND t.name = ?2");
        let row: Option<ThingRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&self.profile)
            .bind(name)
            .fetch_optional(self.store.read())
            .await?;
        row.map(ThingRow::into_thing).transpose()
    }

    /// The things `query` asks for.
    pub async fn list(&self, query: &ThingQuery) -> Result<Vec<Thing>, RegistryError> {
        let sql = format!(
            "{SELECT_THINGS}{}{} ORDER BY {} LIMIT ?3 OFFSET ?4",
            filter_sql(query.filter),
            search_sql(query.search.as_deref()),
            order_sql(query.sort, query.descending),
        );
        let rows: Vec<ThingRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&self.profile)
            .bind(query.search.as_deref().map(like_pattern))
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(self.store.read())
            .await?;
        rows.into_iter().map(ThingRow::into_thing).collect()
    }

    /// How many things `filter` and `search` select (for counts beside the filters).
    pub async fn count(
        &self,
        filter: ThingFilter,
        search: Option<&str>,
    ) -> Result<i64, RegistryError> {
        let sql = format!(
            "SELECT count(*) FROM things AS t WHERE t.profile = ?1{}{}",
            filter_sql(filter),
            search_sql(search),
        );
        Ok(sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&self.profile)
            .bind(search.map(like_pattern))
            .fetch_one(self.store.read())
            .await?)
    }

    /// `thing`'s job executions: pending first, then the newest.
    pub async fn jobs(&self, thing: &str) -> Result<Vec<JobView>, RegistryError> {
        let sql = format!(
            "SELECT job_id, status, progress, status_details, version_number, execution_number, \
               queued_at, started_at, last_updated_at FROM job_executions \
             WHERE profile = ?1 AND thing = ?2 \
             ORDER BY status IN {PENDING} DESC, coalesce(last_updated_at, queued_at) DESC, job_id"
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .bind(&self.profile)
            .bind(thing)
            .fetch_all(self.store.read())
            .await?)
    }
}

/// The WHERE clause of a filter (fixed text; values are bound).
fn filter_sql(filter: ThingFilter) -> &'static str {
    match filter {
        ThingFilter::All => "",
        ThingFilter::Online => " AND t.online = 1",
        ThingFilter::Offline => " AND (t.online = 0 OR t.online IS NULL)",
        ThingFilter::OutOfSync => " AND t.out_of_sync = 1",
        ThingFilter::HasJobs => {
            " AND EXISTS (SELECT 1 FROM job_executions AS j WHERE j.profile = t.profile \
               AND j.thing = t.name AND j.status IN ('QUEUED', 'IN_PROGRESS'))"
        }
    }
}

fn search_sql(search: Option<&str>) -> &'static str {
    match search {
        Some(_) => " AND t.name LIKE ?2 ESCAPE '\\'",
        None => " AND ?2 IS NULL",
    }
}

fn order_sql(sort: SortKey, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    match sort {
        SortKey::Name => format!("t.name {dir}"),
        SortKey::LastSeen => format!("t.last_seen_ms {dir} NULLS LAST, t.name"),
        SortKey::Model => format!("t.model {dir} NULLS LAST, t.name"),
        SortKey::Firmware => format!("t.firmware_version {dir} NULLS LAST, t.name"),
        SortKey::Signal => format!("t.signal_dbm {dir} NULLS LAST, t.name"),
    }
}

/// `%text%` with LIKE's wildcards in `text` escaped.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests;
