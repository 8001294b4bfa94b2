//! Desired-state edits as the caller sees them: ids, states, conflicts, and a ticket to follow
//! one edit.

use companion_awsiot::ThingName;
use companion_awsiot::shadow::Object;
use companion_awsiot::topic::ShadowKind;
use tokio::sync::broadcast;

use super::db::EditRow;
use super::{ShadowView, Shadows, ShadowsError};

/// Identifies an edit in the outbox; also its place in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EditId(pub i64);

/// Where an edit stands.
#[derive(Debug, Clone, PartialEq)]
pub enum EditState {
    /// In the outbox: not sent yet, or sent without a known outcome (offline, dropped link).
    Queued,
    /// Confirmed by the service at `version`; the device has not reported the values yet.
    Pending {
        /// The version the edit produced.
        version: u64,
    },
    /// The device reports the edited values.
    Applied {
        /// The version the edit produced.
        version: u64,
    },
    /// The shadow changed since the edit's base version: nothing was written.
    Conflict(Box<Conflict>),
    /// The service refused the edit for another reason (e.g. 400, 413).
    Rejected {
        /// AWS's code.
        code: u16,
        /// AWS's message.
        message: String,
    },
    /// Confirmed at `version`, and a later confirmed edit rewrote every key it set.
    Superseded {
        /// The version the edit produced.
        version: u64,
    },
}

/// A surfaced conflict: what we wanted and what the shadow holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The version our edit was based on, when it got that far.
    pub base_version: Option<u64>,
    /// Our desired patch.
    pub ours: Object,
    /// The shadow fetched after the conflict (`None`: it does not exist).
    pub theirs: Option<ShadowView>,
    /// Why, in words: a 409, or an earlier edit this one was based on did not apply.
    pub reason: String,
}

impl EditState {
    /// The version the service gave the edit, once confirmed.
    pub fn version(&self) -> Option<u64> {
        match self {
            Self::Pending { version }
            | Self::Applied { version }
            | Self::Superseded { version } => Some(*version),
            Self::Queued | Self::Conflict(_) | Self::Rejected { .. } => None,
        }
    }

    /// Whether the edit's outcome is known (it left the outbox).
    pub fn is_settled(&self) -> bool {
        !matches!(self, Self::Queued)
    }
}

/// An edit in the outbox, as listed by [`Shadows::edits`].
#[derive(Debug, Clone, PartialEq)]
pub struct EditRecord {
    /// Its id (and place in the order).
    pub id: EditId,
    /// The thing.
    pub thing: ThingName,
    /// Classic or named.
    pub shadow: ShadowKind,
    /// The desired patch.
    pub desired: Object,
    /// The version it was based on (`None` while it waits for an earlier edit's version).
    pub base_version: Option<u64>,
    /// The client token every attempt carries.
    pub client_token: String,
    /// How many times it was published.
    pub attempts: u32,
    /// Where it stands.
    pub state: EditState,
}

impl From<EditRow> for EditRecord {
    fn from(row: EditRow) -> Self {
        Self {
            id: EditId(row.id),
            thing: row.key.0,
            shadow: row.key.1,
            desired: row.desired,
            base_version: row.base_version,
            client_token: row.client_token,
            attempts: row.attempts,
            state: row.state,
        }
    }
}

/// A change of an edit's state.
#[derive(Debug, Clone, PartialEq)]
pub struct EditEvent {
    /// Which edit.
    pub id: EditId,
    /// Its new state.
    pub state: EditState,
}

/// A ticket for one edit: follow its state.
#[derive(Debug)]
pub struct Edit {
    id: EditId,
    client_token: String,
    shadows: Shadows,
    events: broadcast::Receiver<EditEvent>,
}

impl Edit {
    pub(super) fn new(
        id: EditId,
        client_token: String,
        shadows: Shadows,
        events: broadcast::Receiver<EditEvent>,
    ) -> Self {
        Self {
            id,
            client_token,
            shadows,
            events,
        }
    }

    /// The edit's id.
    pub fn id(&self) -> EditId {
        self.id
    }

    /// The client token every attempt of this edit carries.
    pub fn client_token(&self) -> &str {
        &self.client_token
    }

    /// The edit's current state, from the outbox.
    pub async fn state(&self) -> Result<EditState, ShadowsError> {
        self.shadows.edit_state(self.id).await
    }

    /// Waits until the edit's state satisfies `done`, and returns it. Wrap it in a timeout:
    /// an edit made offline stays queued until the link returns.
    pub async fn wait_until(
        &mut self,
        done: impl Fn(&EditState) -> bool,
    ) -> Result<EditState, ShadowsError> {
        let mut state = self.state().await?;
        loop {
            if done(&state) {
                return Ok(state);
            }
            state = match self.events.recv().await {
                Ok(event) if event.id == self.id => event.state,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => self.state().await?,
                Err(broadcast::error::RecvError::Closed) => return Err(ShadowsError::Stopped),
            };
        }
    }

    /// Waits until the outcome is known: pending, applied, conflict, rejected or superseded.
    pub async fn settled(&mut self) -> Result<EditState, ShadowsError> {
        self.wait_until(EditState::is_settled).await
    }
}
