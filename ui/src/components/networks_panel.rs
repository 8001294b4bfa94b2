use companion_model::{IpcError, NetworkForget, NetworksList, RememberedNetwork};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::ipc;
use crate::state::Load;

/// The Wi-Fi networks remembered for provisioning (names only; their passwords stay in the OS
/// keyring), each with a way to forget it.
#[component]
pub fn NetworksPanel() -> Html {
    let list = use_state(|| Load::<Vec<RememberedNetwork>>::Pending);
    let revision = use_state(|| 0_u32);
    let failure = use_state(|| None::<IpcError>);
    {
        let list = list.clone();
        use_effect_with(*revision, move |_| {
            spawn_local(async move { list.set(ipc::call(&NetworksList {}).await.into()) });
        });
    }
    let forget = {
        let (failure, revision) = (failure.clone(), revision.clone());
        Callback::from(move |ssid: String| {
            let (failure, revision) = (failure.clone(), revision.clone());
            spawn_local(async move {
                failure.set(ipc::call(&NetworkForget { ssid }).await.err());
                revision.set(revision.wrapping_add(1));
            });
        })
    };
    let body = match &*list {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading…" }</p> },
        Load::Failed(error) => {
            html! { <p class="muted" id="networks-problem">{ &error.message }</p> }
        }
        Load::Ready(networks) if networks.is_empty() => html! {
            <p class="muted" id="networks-empty">{ "None. Tick “Remember this network” when a device joins one, and the next devices can use it without typing its password." }</p>
        },
        Load::Ready(networks) => html! {
            <ul class="plain-list" id="networks-list">
                { for networks.iter().map(|network| {
                    let ssid = network.ssid.clone();
                    let onclick = forget.reform(move |_: MouseEvent| ssid.clone());
                    html! {
                        <li data-ssid={network.ssid.clone()}>
                            <div class="profile-text">
                                <strong>{ &network.ssid }</strong>
                                <span class="small muted">{ "Password in the OS keyring" }</span>
                            </div>
                            <div class="buttons">
                                <button type="button" class="button" aria-label={format!("Forget {}", network.ssid)} {onclick}>{ "Forget" }</button>
                            </div>
                        </li>
                    }
                }) }
            </ul>
        },
    };
    html! {
        <section class="card" aria-labelledby="networks-title">
            <h2 id="networks-title">{ "Remembered Wi-Fi networks" }</h2>
            <p class="muted small">{ "Their passwords stay in the OS keyring; the app keeps only the names." }</p>
            { body }
            if let Some(error) = &*failure {
                <p class="error" role="alert" id="networks-error">{ &error.message }</p>
            }
        </section>
    }
}
