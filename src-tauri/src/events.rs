use companion_model::{ErrorCode, Event, IpcError};
use tauri::{AppHandle, Emitter};

/// Sends event `E` to every window.
pub fn emit<E: Event>(app: &AppHandle, payload: &E) -> Result<(), IpcError> {
    app.emit(E::NAME, payload).map_err(|error| {
        IpcError::new(
            ErrorCode::Internal,
            format!(
                "The app could not send `{}` to its window: {error}.",
                E::NAME
            ),
        )
    })
}
