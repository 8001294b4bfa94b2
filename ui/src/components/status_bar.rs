use companion_model::{AppInfo, ConnectionChanged, ConnectionState, IpcError};
use yew::prelude::*;

use crate::state::Load;

/// Props of [`StatusBar`].
#[derive(Debug, Properties, PartialEq)]
pub struct StatusBarProps {
    /// The last connection state the backend sent, if any yet.
    pub connection: Option<ConnectionChanged>,
    /// A failure of the event bridge, which outranks a stale connection state.
    pub bridge_error: Option<IpcError>,
    /// The backend's facts, for the version shown at the right.
    pub app_info: Load<AppInfo>,
}

/// The always-visible strip at the bottom: connection state with its reason, and the version.
#[component]
pub fn StatusBar(props: &StatusBarProps) -> Html {
    let (state, label, detail) = match (&props.bridge_error, &props.connection) {
        (Some(error), _) => (
            "bridge-error",
            "Backend unreachable".to_owned(),
            error.message.clone(),
        ),
        (None, None) => (
            "waiting",
            "Waiting for the backend".to_owned(),
            String::new(),
        ),
        (None, Some(event)) => (
            state_class(event.state),
            label_for(event),
            event.detail.clone(),
        ),
    };
    let version = match &props.app_info {
        Load::Ready(info) => format!("v{}", info.version),
        Load::Pending | Load::Failed(_) => String::new(),
    };
    html! {
        <footer class="status-bar" role="status" aria-live="polite">
            <span id="connection-state" class={classes!("connection", state)} data-state={state}>
                <span class="dot" aria-hidden="true"></span>
                <span class="connection-label">{ label }</span>
            </span>
            <span id="connection-detail" class="connection-detail" title={detail.clone()}>{ detail }</span>
            <span id="status-version" class="version">{ version }</span>
        </footer>
    }
}

fn state_class(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Disconnected => "disconnected",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Reconnecting => "reconnecting",
    }
}

fn label_for(event: &ConnectionChanged) -> String {
    format!("{} · {}", event.state.label(), event.broker.label())
}
