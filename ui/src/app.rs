//! The root component: the frame (navigation, page, status bar) and its wiring to the backend.

use companion_model::{
    AppInfoRequest, ConnectionChanged, ConnectionState, IpcError, WatchConnection,
};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::components::{NavBar, StatusBar};
use crate::hooks::{use_event, use_page_shortcuts};
use crate::ipc;
use crate::pages::{ActivityPage, DevicePage, FleetPage, ProvisionPage, SettingsPage};
use crate::state::{Action, AppState, Page};
use crate::theme::{self, ThemePreference};

/// The whole app.
#[component]
pub fn App() -> Html {
    let state = use_reducer_eq(|| AppState::new(Page::Fleet, theme::stored()));
    let dispatch = state.dispatcher();

    use_effect_with(state.theme, |theme| theme::apply(*theme));
    use_app_info(dispatch.clone());
    use_connection_events(dispatch.clone());
    let on_navigate = dispatch.to_callback().reform(Action::Navigate);
    use_page_shortcuts(on_navigate.clone());

    html! {
        <div class="shell">
            <a class="skip-link" href="#main">{ "Skip to content" }</a>
            <NavBar current={state.page} on_navigate={on_navigate.clone()} />
            <main id="main" class="page" tabindex="-1" data-page={state.page.slug()} aria-labelledby="page-title">
                { heading(&state, &on_navigate) }
                { page_content(&state, &dispatch) }
            </main>
            <StatusBar
                connection={state.connection.clone()}
                bridge_error={state.bridge_error.clone()}
                app_info={state.app_info.clone()}
            />
        </div>
    }
}

/// The page's title; on a device page, the thing's name under a way back to the fleet.
fn heading(state: &AppState, on_navigate: &Callback<Page>) -> Html {
    match &state.device {
        Some(thing) => {
            let back = on_navigate.reform(|_: MouseEvent| Page::Fleet);
            html! {
                <>
                    <button type="button" class="back" id="device-back" onclick={back}>{ "‹ Fleet" }</button>
                    <h1 id="page-title" class="mono">{ thing }</h1>
                </>
            }
        }
        None => html! { <h1 id="page-title">{ state.page.title() }</h1> },
    }
}

fn page_content(state: &AppState, dispatch: &UseReducerDispatcher<AppState>) -> Html {
    let on_theme: Callback<ThemePreference> = dispatch.to_callback().reform(Action::SetTheme);
    match state.page {
        Page::Fleet => match &state.device {
            Some(thing) => {
                let connected = state
                    .connection
                    .as_ref()
                    .is_some_and(|c| c.state == ConnectionState::Connected);
                html! { <DevicePage key={thing.clone()} thing={thing.clone()} {connected} /> }
            }
            None => {
                html! { <FleetPage on_open={dispatch.to_callback().reform(Action::OpenDevice)} /> }
            }
        },
        Page::Provision => {
            html! { <ProvisionPage on_open_device={dispatch.to_callback().reform(Action::OpenDevice)} /> }
        }
        Page::Activity => html! { <ActivityPage /> },
        Page::Settings => html! {
            <SettingsPage theme={state.theme} {on_theme} app_info={state.app_info.clone()} connection={state.connection.clone()} />
        },
    }
}

/// Asks the backend for its facts once.
#[hook]
fn use_app_info(dispatch: UseReducerDispatcher<AppState>) {
    use_effect_with((), move |()| {
        spawn_local(async move {
            let reply = ipc::call(&AppInfoRequest {}).await;
            dispatch.dispatch(Action::AppInfoLoaded(reply));
        });
    });
}

/// Follows the connection state: listens, then asks for the current state.
#[hook]
fn use_connection_events(dispatch: UseReducerDispatcher<AppState>) {
    let on_event = {
        let dispatch = dispatch.clone();
        Callback::from(move |event: Result<ConnectionChanged, IpcError>| {
            dispatch.dispatch(match event {
                Ok(event) => Action::ConnectionChanged(event),
                Err(error) => Action::BridgeFailed(error),
            });
        })
    };
    let on_listening = Callback::from(move |listening: Result<(), IpcError>| {
        let dispatch = dispatch.clone();
        spawn_local(async move {
            let result = match listening {
                Ok(()) => ipc::call(&WatchConnection {}).await,
                Err(error) => Err(error),
            };
            if let Err(error) = result {
                dispatch.dispatch(Action::BridgeFailed(error));
            }
        });
    });
    use_event::<ConnectionChanged>(on_event, on_listening);
}
