//! The SQLite side of shadows: the outbox, the history and the last known views
//! (`migrations/0010_shadows.sql`). Queries use sqlx's runtime API, so building needs no
//! database.

use companion_awsiot::shadow::Object;
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{ShadowName, ThingName};
use sqlx::SqlitePool;

use serde::{Deserialize, Serialize};

use super::view::ShadowView;
use super::{Conflict, EditState, ShadowKey, ShadowsError};

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EditRow {
    pub id: i64,
    pub key: ShadowKey,
    pub desired: Object,
    pub base_version: Option<u64>,
    pub after_edit: Option<i64>,
    pub client_token: String,
    pub attempts: u32,
    pub state: EditState,
}

type RawEdit = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

/// A SELECT of every outbox column, followed by `$tail` (static SQL, no injection).
macro_rules! select_edits {
    ($tail:literal) => {
        concat!(
            "SELECT id, thing, shadow, desired, base_version, after_edit, client_token, status, \
             attempts, version, detail FROM shadow_outbox ",
            $tail
        )
    };
}

/// The `shadow` column for a shadow kind: '' for the classic shadow.
pub(crate) fn shadow_column(shadow: &ShadowKind) -> &str {
    match shadow {
        ShadowKind::Classic => "",
        ShadowKind::Named(name) => name.as_str(),
    }
}

fn key_from_columns(thing: &str, shadow: &str) -> Result<ShadowKey, ShadowsError> {
    let thing = ThingName::new(thing).map_err(corrupt)?;
    let shadow = if shadow.is_empty() {
        ShadowKind::Classic
    } else {
        ShadowKind::Named(ShadowName::new(shadow).map_err(corrupt)?)
    };
    Ok((thing, shadow))
}

fn corrupt(error: impl std::fmt::Display) -> ShadowsError {
    ShadowsError::Corrupt(error.to_string())
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ShadowsError> {
    serde_json::from_str(text).map_err(corrupt)
}

fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn edit_from_raw(raw: RawEdit) -> Result<EditRow, ShadowsError> {
    let (id, thing, shadow, desired, base, after, token, status, attempts, version, detail) = raw;
    Ok(EditRow {
        id,
        key: key_from_columns(&thing, &shadow)?,
        desired: from_json(&desired)?,
        base_version: base.map(from_sql),
        after_edit: after,
        client_token: token,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        state: state_from_columns(&status, version.map(from_sql), detail.as_deref())?,
    })
}

/// A view as stored in JSON columns (engine types are not `Serialize`).
#[derive(Serialize, Deserialize)]
struct StoredView {
    version: u64,
    desired: Object,
    reported: Object,
}

impl From<&ShadowView> for StoredView {
    fn from(view: &ShadowView) -> Self {
        Self {
            version: view.version,
            desired: view.desired.clone(),
            reported: view.reported.clone(),
        }
    }
}

impl From<StoredView> for ShadowView {
    fn from(stored: StoredView) -> Self {
        Self {
            version: stored.version,
            desired: stored.desired,
            reported: stored.reported,
        }
    }
}

fn view_json(view: &ShadowView) -> String {
    to_json(&StoredView::from(view))
}

fn view_from_json(text: &str) -> Result<ShadowView, ShadowsError> {
    from_json::<StoredView>(text).map(ShadowView::from)
}

/// The `detail` of a conflict or a rejection.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Detail {
    Conflict {
        base_version: Option<u64>,
        ours: Object,
        theirs: Option<StoredView>,
        reason: String,
    },
    Rejected {
        code: u16,
        message: String,
    },
}

/// The `status`, `version` and `detail` columns of an edit state.
fn state_columns(state: &EditState) -> (&'static str, Option<u64>, Option<String>) {
    match state {
        EditState::Queued => ("queued", None, None),
        EditState::Pending { version } => ("pending", Some(*version), None),
        EditState::Applied { version } => ("applied", Some(*version), None),
        EditState::Superseded { version } => ("superseded", Some(*version), None),
        EditState::Conflict(conflict) => {
            ("conflict", None, Some(to_json(&conflict_detail(conflict))))
        }
        EditState::Rejected { code, message } => {
            let detail = Detail::Rejected {
                code: *code,
                message: message.clone(),
            };
            ("rejected", None, Some(to_json(&detail)))
        }
    }
}

fn conflict_detail(conflict: &Conflict) -> Detail {
    Detail::Conflict {
        base_version: conflict.base_version,
        ours: conflict.ours.clone(),
        theirs: conflict.theirs.as_ref().map(StoredView::from),
        reason: conflict.reason.clone(),
    }
}

fn state_from_columns(
    status: &str,
    version: Option<u64>,
    detail: Option<&str>,
) -> Result<EditState, ShadowsError> {
    let version = || version.ok_or_else(|| corrupt(format!("{status} edit without version")));
    Ok(match status {
        "queued" => EditState::Queued,
        "pending" => EditState::Pending {
            version: version()?,
        },
        "applied" => EditState::Applied {
            version: version()?,
        },
        "superseded" => EditState::Superseded {
            version: version()?,
        },
        "conflict" | "rejected" => state_from_detail(detail)?,
        other => return Err(corrupt(format!("unknown edit status {other:?}"))),
    })
}

fn state_from_detail(detail: Option<&str>) -> Result<EditState, ShadowsError> {
    let detail = detail.ok_or_else(|| corrupt("a settled edit without its detail"))?;
    Ok(match from_json::<Detail>(detail)? {
        Detail::Conflict {
            base_version,
            ours,
            theirs,
            reason,
        } => EditState::Conflict(Box::new(Conflict {
            base_version,
            ours,
            theirs: theirs.map(ShadowView::from),
            reason,
        })),
        Detail::Rejected { code, message } => EditState::Rejected { code, message },
    })
}

/// What a new edit is based on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Basis {
    Version(u64),
    AfterEdit(i64),
}

/// Appends an edit to the outbox; returns its id.
pub(crate) async fn insert_edit(
    pool: &SqlitePool,
    key: &ShadowKey,
    desired: &Object,
    basis: Basis,
    token: &str,
    now_ms: u64,
) -> Result<i64, ShadowsError> {
    let (base, after) = match basis {
        Basis::Version(v) => (Some(sql_int(v)), None),
        Basis::AfterEdit(id) => (None, Some(id)),
    };
    let result = sqlx::query(
        "INSERT INTO shadow_outbox (thing, shadow, desired, base_version, after_edit, \
         client_token, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(to_json(desired))
    .bind(base)
    .bind(after)
    .bind(token)
    .bind(sql_int(now_ms))
    .bind(sql_int(now_ms))
    .execute(pool)
    .await?;
    Ok(result.last_insert_rowid())
}

/// The oldest edit still queued.
pub(crate) async fn next_queued(pool: &SqlitePool) -> Result<Option<EditRow>, ShadowsError> {
    let sql = select_edits!("WHERE status = 'queued' ORDER BY id LIMIT 1");
    let raw: Option<RawEdit> = sqlx::query_as(sql).fetch_optional(pool).await?;
    raw.map(edit_from_raw).transpose()
}

/// One edit by id.
pub(crate) async fn edit(pool: &SqlitePool, id: i64) -> Result<Option<EditRow>, ShadowsError> {
    let sql = select_edits!("WHERE id = ?");
    let raw: Option<RawEdit> = sqlx::query_as(sql).bind(id).fetch_optional(pool).await?;
    raw.map(edit_from_raw).transpose()
}

/// Every edit, oldest first.
pub(crate) async fn all_edits(pool: &SqlitePool) -> Result<Vec<EditRow>, ShadowsError> {
    let sql = select_edits!("ORDER BY id");
    let raw: Vec<RawEdit> = sqlx::query_as(sql).fetch_all(pool).await?;
    raw.into_iter().map(edit_from_raw).collect()
}

/// How many edits of each thing are still on their way (queued or pending), from the status
/// index: the fleet list asks on every page.
pub(crate) async fn open_edit_counts(
    pool: &SqlitePool,
) -> Result<Vec<(String, i64)>, ShadowsError> {
    Ok(sqlx::query_as(
        "SELECT thing, COUNT(*) FROM shadow_outbox WHERE status IN ('queued', 'pending') \
         GROUP BY thing",
    )
    .fetch_all(pool)
    .await?)
}

/// The edits of one shadow in `status`, oldest first.
pub(crate) async fn edits_in(
    pool: &SqlitePool,
    key: &ShadowKey,
    status: &str,
) -> Result<Vec<EditRow>, ShadowsError> {
    let sql = select_edits!("WHERE thing = ? AND shadow = ? AND status = ? ORDER BY id");
    let raw: Vec<RawEdit> = sqlx::query_as(sql)
        .bind(key.0.as_str())
        .bind(shadow_column(&key.1))
        .bind(status)
        .fetch_all(pool)
        .await?;
    raw.into_iter().map(edit_from_raw).collect()
}

/// Every edit of one shadow, oldest first (the shadow index).
pub(crate) async fn edits_of(
    pool: &SqlitePool,
    key: &ShadowKey,
) -> Result<Vec<EditRow>, ShadowsError> {
    let sql = select_edits!("WHERE thing = ? AND shadow = ? ORDER BY id");
    let raw: Vec<RawEdit> = sqlx::query_as(sql)
        .bind(key.0.as_str())
        .bind(shadow_column(&key.1))
        .fetch_all(pool)
        .await?;
    raw.into_iter().map(edit_from_raw).collect()
}

/// The newest edit of a shadow that has no outcome yet.
pub(crate) async fn last_open_edit(
    pool: &SqlitePool,
    key: &ShadowKey,
) -> Result<Option<i64>, ShadowsError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM shadow_outbox WHERE thing = ? AND shadow = ? AND status = 'queued' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Counts an attempt, durably, before the edit is published.
pub(crate) async fn count_attempt(
    pool: &SqlitePool,
    id: i64,
    now_ms: u64,
) -> Result<(), ShadowsError> {
    sqlx::query("UPDATE shadow_outbox SET attempts = attempts + 1, updated_at_ms = ? WHERE id = ?")
        .bind(sql_int(now_ms))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records an edit's new state.
pub(crate) async fn set_state(
    pool: &SqlitePool,
    id: i64,
    state: &EditState,
    now_ms: u64,
) -> Result<(), ShadowsError> {
    let (status, version, detail) = state_columns(state);
    sqlx::query(
        "UPDATE shadow_outbox SET status = ?, version = COALESCE(?, version), detail = ?, \
         updated_at_ms = ? WHERE id = ?",
    )
    .bind(status)
    .bind(version.map(sql_int))
    .bind(detail)
    .bind(sql_int(now_ms))
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// One `/update/documents` event, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The version the update produced.
    pub version: u64,
    /// The document before it, when the update did not create the shadow.
    pub previous: Option<ShadowView>,
    /// The document after it.
    pub current: ShadowView,
    /// The client token of the update, when it carried one.
    pub client_token: Option<String>,
    /// When the service applied it, epoch seconds.
    pub timestamp: u64,
}

/// Stores a history entry and keeps only the newest `limit` of the shadow.
pub(crate) async fn record_history(
    pool: &SqlitePool,
    key: &ShadowKey,
    entry: &HistoryEntry,
    limit: usize,
) -> Result<(), ShadowsError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT OR REPLACE INTO shadow_history \
         (thing, shadow, version, previous, current, client_token, timestamp) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(sql_int(entry.version))
    .bind(entry.previous.as_ref().map(view_json))
    .bind(view_json(&entry.current))
    .bind(entry.client_token.as_deref())
    .bind(sql_int(entry.timestamp))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM shadow_history WHERE thing = ? AND shadow = ? AND version NOT IN \
         (SELECT version FROM shadow_history WHERE thing = ? AND shadow = ? \
          ORDER BY version DESC LIMIT ?)",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

type RawHistory = (i64, Option<String>, String, Option<String>, i64);

/// The newest `limit` history entries of a shadow, newest first.
pub(crate) async fn history(
    pool: &SqlitePool,
    key: &ShadowKey,
    limit: usize,
) -> Result<Vec<HistoryEntry>, ShadowsError> {
    let rows: Vec<RawHistory> = sqlx::query_as(
        "SELECT version, previous, current, client_token, timestamp FROM shadow_history \
         WHERE thing = ? AND shadow = ? ORDER BY version DESC LIMIT ?",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(history_from_raw).collect()
}

fn history_from_raw(raw: RawHistory) -> Result<HistoryEntry, ShadowsError> {
    let (version, previous, current, client_token, timestamp) = raw;
    Ok(HistoryEntry {
        version: from_sql(version),
        previous: previous.as_deref().map(view_from_json).transpose()?,
        current: view_from_json(&current)?,
        client_token,
        timestamp: from_sql(timestamp),
    })
}

/// The client token of the update that produced `version`, if the history has it:
/// `Some(None)` when the entry exists without a token.
pub(crate) async fn token_of_version(
    pool: &SqlitePool,
    key: &ShadowKey,
    version: u64,
) -> Result<Option<Option<String>>, ShadowsError> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT client_token FROM shadow_history WHERE thing = ? AND shadow = ? AND version = ?",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(sql_int(version))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(token,)| token))
}

/// The document at `version`, when a history entry recorded it.
pub(crate) async fn view_at(
    pool: &SqlitePool,
    key: &ShadowKey,
    version: u64,
) -> Result<Option<ShadowView>, ShadowsError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT current FROM shadow_history WHERE thing = ? AND shadow = ? AND version = ?",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(sql_int(version))
    .fetch_optional(pool)
    .await?;
    row.map(|(current,)| view_from_json(&current)).transpose()
}

/// Moves a queued edit onto a newer base version (after a 409 that did not touch what it
/// edits).
pub(crate) async fn rebase(
    pool: &SqlitePool,
    id: i64,
    version: u64,
    now_ms: u64,
) -> Result<(), ShadowsError> {
    sqlx::query(
        "UPDATE shadow_outbox SET base_version = ?, after_edit = NULL, updated_at_ms = ? \
         WHERE id = ?",
    )
    .bind(sql_int(version))
    .bind(sql_int(now_ms))
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Saves the last known view of a shadow (`None`: deleted).
pub(crate) async fn save_view(
    pool: &SqlitePool,
    key: &ShadowKey,
    view: Option<&ShadowView>,
    now_ms: u64,
) -> Result<(), ShadowsError> {
    let (version, document) = view.map_or((0, "{}".to_owned()), |v| (v.version, view_json(v)));
    sqlx::query(
        "INSERT INTO shadow_view (thing, shadow, version, document, exists_now, updated_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thing, shadow) DO UPDATE SET \
         version = excluded.version, document = excluded.document, \
         exists_now = excluded.exists_now, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(key.0.as_str())
    .bind(shadow_column(&key.1))
    .bind(sql_int(version))
    .bind(document)
    .bind(view.is_some())
    .bind(sql_int(now_ms))
    .execute(pool)
    .await?;
    Ok(())
}

/// Every saved view (deleted shadows as `None`).
pub(crate) async fn load_views(
    pool: &SqlitePool,
) -> Result<Vec<(ShadowKey, Option<ShadowView>)>, ShadowsError> {
    let rows: Vec<(String, String, String, bool)> =
        sqlx::query_as("SELECT thing, shadow, document, exists_now FROM shadow_view")
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(thing, shadow, document, exists)| {
            let key = key_from_columns(&thing, &shadow)?;
            let view = exists.then(|| view_from_json(&document)).transpose()?;
            Ok((key, view))
        })
        .collect()
}
