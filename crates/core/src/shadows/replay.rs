//! The loop's work: whenever the session is connected, refresh the followed shadows and send
//! the outbox's edits one at a time, in order, each with its version check; settle 409s as a
//! conflict or as our own earlier attempt.

use companion_awsiot::shadow::{
    Nullable, ShadowResponse, ShadowState, UpdateShadowRequest, client,
};

use super::db::{self, EditRow};
use super::view::{self, ShadowView};
use super::{
    Conflict, EditState, ShadowKey, Shadows, ShadowsError, corrupt, is_connected, lock, now_ms,
};

/// Whether the replay may go on.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The edit's outcome is recorded; take the next.
    Done,
    /// No answer while connected: send the same edit again.
    Retry,
    /// The link is down: wait for the reconnect.
    LinkDown,
}

impl Shadows {
    /// Whenever connected: refresh the followed shadows, then send queued edits in order.
    pub(super) async fn work(&self) {
        let mut state = self.inner.link.state();
        let mut refresh_all = true;
        loop {
            if state.wait_for(is_connected).await.is_err() {
                return;
            }
            if std::mem::take(&mut refresh_all) {
                self.refresh(self.followed()).await;
            }
            self.refresh(self.take_stale()).await;
            self.drain_outbox().await;
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    refresh_all = true;
                }
                () = self.inner.wake.notified() => {}
            }
        }
    }

    /// Shadows whose delta announced a version the local copy still lacks (the documents
    /// event that normally follows a delta did not arrive).
    fn take_stale(&self) -> Vec<ShadowKey> {
        let stale: Vec<(ShadowKey, u64)> = lock(&self.inner.stale).drain().collect();
        stale
            .into_iter()
            .filter(|(key, version)| {
                self.cached(&key.0, &key.1).map_or(0, |v| v.version) < *version
            })
            .map(|(key, _)| key)
            .collect()
    }

    fn followed(&self) -> Vec<ShadowKey> {
        lock(&self.inner.views).keys().cloned().collect()
    }

    /// GETs each shadow again (events may have been missed); failures are logged.
    async fn refresh(&self, keys: Vec<ShadowKey>) {
        for (thing, shadow) in keys {
            match self.get(&thing, &shadow).await {
                Ok(_) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => tracing::info!(%error, %thing, "shadow refresh failed"),
            }
        }
    }

    /// Sends queued edits in order until none is left or the link drops.
    async fn drain_outbox(&self) {
        loop {
            let next = match db::next_queued(&self.inner.pool).await {
                Ok(Some(edit)) => edit,
                Ok(None) => return,
                Err(error) => return tracing::warn!(%error, "the outbox cannot be read"),
            };
            match self.send_edit(&next).await {
                Ok(Step::Done | Step::Retry) => {}
                Ok(Step::LinkDown) => return,
                Err(error) => return tracing::warn!(%error, edit = next.id, "edit not sent"),
            }
        }
    }

    async fn send_edit(&self, edit: &EditRow) -> Result<Step, ShadowsError> {
        let base = match self.base_of(edit).await? {
            Ok(base) => base,
            Err(reason) => return self.surface_conflict(edit, None, reason).await,
        };
        db::count_attempt(&self.inner.pool, edit.id, now_ms()).await?;
        let request = UpdateShadowRequest {
            state: Some(ShadowState {
                desired: Nullable::Value(edit.desired.clone()),
                reported: Nullable::Absent,
            }),
            client_token: Some(edit.client_token.clone()),
            version: Some(base),
        };
        let outgoing = client::update(&edit.key.0, &edit.key.1, &request);
        match self.request(&edit.key, outgoing, &edit.client_token).await {
            Ok(ShadowResponse::UpdateAccepted(accepted)) => {
                self.confirm(edit, accepted.version).await?;
                Ok(Step::Done)
            }
            Ok(ShadowResponse::Rejected(_, error)) if error.code == 409 => {
                self.on_conflict(edit, base, edit.attempts + 1).await
            }
            Ok(ShadowResponse::Rejected(_, error)) => {
                let state = EditState::Rejected {
                    code: error.code,
                    message: error.message,
                };
                self.set_state(edit.id, state).await?;
                Ok(Step::Done)
            }
            Ok(_) | Err(ShadowsError::Timeout(_)) => Ok(Step::Retry),
            Err(ShadowsError::Offline | ShadowsError::Session(_)) => Ok(Step::LinkDown),
            Err(error) => Err(error),
        }
    }

    /// The version an edit is checked against: its own base, or the version its predecessor
    /// produced; `Err(reason)` when the predecessor did not apply.
    async fn base_of(&self, edit: &EditRow) -> Result<Result<u64, String>, ShadowsError> {
        if let Some(base) = edit.base_version {
            return Ok(Ok(base));
        }
        let Some(after) = edit.after_edit else {
            return Err(corrupt(format!("edit {} has no base", edit.id)));
        };
        let predecessor = db::edit(&self.inner.pool, after)
            .await?
            .ok_or_else(|| corrupt(format!("edit {after} is missing")))?;
        Ok(predecessor
            .state
            .version()
            .ok_or_else(|| format!("edit {after}, which this edit was based on, was not applied")))
    }

    /// A 409: our own earlier attempt (crash or dropped link after publishing), or a real
    /// conflict to surface.
    async fn on_conflict(
        &self,
        edit: &EditRow,
        base: u64,
        attempts: u32,
    ) -> Result<Step, ShadowsError> {
        let next = base + 1;
        let recorded = db::token_of_version(&self.inner.pool, &edit.key, next).await?;
        if recorded
            .as_ref()
            .is_some_and(|t| t.as_deref() == Some(&edit.client_token))
        {
            self.confirm(edit, next).await?;
            return Ok(Step::Done);
        }
        let theirs = match self.fetch_theirs(&edit.key).await? {
            Ok(theirs) => theirs,
            Err(step) => return Ok(step),
        };
        let ours_earlier = recorded.is_none()
            && attempts > 1
            && theirs
                .as_ref()
                .is_some_and(|t| view::looks_applied(&edit.desired, base, t));
        if ours_earlier {
            self.confirm(edit, next).await?;
            return Ok(Step::Done);
        }
        // Only what others did to the keys this edit sets is a conflict: a device reporting,
        // or someone editing other keys, moves the version without touching our intent.
        if let Some(theirs) = &theirs
            && theirs.version > base
            && let Some(at_base) = db::view_at(&self.inner.pool, &edit.key, base).await?
            && view::desired_untouched(&edit.desired, &at_base.desired, &theirs.desired)
        {
            db::rebase(&self.inner.pool, edit.id, theirs.version, now_ms()).await?;
            return Ok(Step::Retry);
        }
        let reason = format!("version conflict: the shadow moved past version {base}");
        self.settle_conflict(edit, Some(base), theirs, reason).await
    }

    /// An edit whose predecessor failed: fetch the shadow and surface a conflict.
    async fn surface_conflict(
        &self,
        edit: &EditRow,
        base: Option<u64>,
        reason: String,
    ) -> Result<Step, ShadowsError> {
        let theirs = match self.fetch_theirs(&edit.key).await? {
            Ok(theirs) => theirs,
            Err(step) => return Ok(step),
        };
        self.settle_conflict(edit, base, theirs, reason).await
    }

    /// The shadow as it is now (`None`: it does not exist), or the step to take when it
    /// cannot be read now.
    async fn fetch_theirs(
        &self,
        key: &ShadowKey,
    ) -> Result<Result<Option<ShadowView>, Step>, ShadowsError> {
        match self.get(&key.0, &key.1).await {
            Ok(view) => Ok(Ok(Some(view))),
            Err(error) if error.is_not_found() => Ok(Ok(None)),
            Err(ShadowsError::Timeout(_)) => Ok(Err(Step::Retry)),
            Err(ShadowsError::Offline | ShadowsError::Session(_)) => Ok(Err(Step::LinkDown)),
            Err(error) => Err(error),
        }
    }

    async fn settle_conflict(
        &self,
        edit: &EditRow,
        base: Option<u64>,
        theirs: Option<ShadowView>,
        reason: String,
    ) -> Result<Step, ShadowsError> {
        let conflict = Conflict {
            base_version: base,
            ours: edit.desired.clone(),
            theirs,
            reason,
        };
        self.set_state(edit.id, EditState::Conflict(Box::new(conflict)))
            .await?;
        Ok(Step::Done)
    }
}
