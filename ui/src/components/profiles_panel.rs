use std::future::Future;
use std::pin::Pin;

use companion_model::{
    BrokerMode, ConnectionChanged, IpcError, ProfileForm, ProfileKind, ProfileList, ProfileRemove,
    ProfileSave, ProfileUse, ProfilesView, SandboxOutage, Secret, TransportChoice, VaultList,
    VaultView,
};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::ipc;
use crate::state::Load;

/// Props of [`ProfilesPanel`].
#[derive(Debug, Properties, PartialEq)]
pub struct ProfilesPanelProps {
    /// The connection as it stands, to show next to the profile in use (the connection
    /// doctor's findings arrive in its detail).
    pub connection: Option<ConnectionChanged>,
}

/// Saved connection profiles: which one is in use, switching, adding and removing.
#[component]
pub fn ProfilesPanel(props: &ProfilesPanelProps) -> Html {
    let view = use_state(|| Load::<ProfilesView>::Pending);
    let revision = use_state(|| 0_u32);
    let failure = use_state(|| None::<IpcError>);
    let adding = use_state(|| false);
    {
        let view = view.clone();
        use_effect_with(*revision, move |_| {
            spawn_local(async move { view.set(ipc::call(&ProfileList {}).await.into()) });
        });
    }
    let reload = {
        let revision = revision.clone();
        Callback::from(move |()| revision.set(revision.wrapping_add(1)))
    };
    let run = {
        let failure = failure.clone();
        let reload = reload.clone();
        move |future: Pin<Box<dyn Future<Output = Result<(), IpcError>>>>| {
            let (failure, reload) = (failure.clone(), reload.clone());
            spawn_local(async move {
                failure.set(future.await.err());
                reload.emit(());
            });
        }
    };
    let use_profile = {
        let run = run.clone();
        Callback::from(move |name: Option<String>| {
            run(Box::pin(
                async move { ipc::call(&ProfileUse { name }).await },
            ));
        })
    };
    let remove = {
        let run = run.clone();
        Callback::from(move |name: String| {
            run(Box::pin(
                async move { ipc::call(&ProfileRemove { name }).await },
            ));
        })
    };
    let on_saved = {
        let adding = adding.clone();
        let reload = reload.clone();
        Callback::from(move |()| {
            adding.set(false);
            reload.emit(());
        })
    };
    let body = match &*view {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading profiles…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(view) => profile_list(view, &use_profile, &remove),
    };
    let detail = props
        .connection
        .as_ref()
        .map(|c| c.detail.clone())
        .unwrap_or_default();
    let on_sandbox = props
        .connection
        .as_ref()
        .is_some_and(|c| c.broker == BrokerMode::Sandbox);
    html! {
        <section class="card" aria-labelledby="profiles-title">
            <h2 id="profiles-title">{ "Connection profiles" }</h2>
            <p class="muted small" id="profiles-connection">{ detail }</p>
            if let Some(error) = &*failure {
                <p class="error" role="alert">{ &error.message }</p>
            }
            { body }
            if on_sandbox {
                <OutageSwitch />
            }
            if *adding {
                <ProfileEditor {on_saved} on_cancel={ let adding = adding.clone(); Callback::from(move |()| adding.set(false)) } />
            } else {
                <div class="buttons">
                    <button type="button" class="button" id="profile-add" onclick={ let adding = adding.clone(); Callback::from(move |_: MouseEvent| adding.set(true)) }>{ "Add a profile" }</button>
                </div>
            }
        </section>
    }
}

fn profile_list(
    view: &ProfilesView,
    use_profile: &Callback<Option<String>>,
    remove: &Callback<String>,
) -> Html {
    let sandbox_active = view.active.is_none();
    let row = |name: Option<&str>, kind: &str, address: &str, auth: &str| {
        let active = view.active.as_deref() == name;
        let id = name.unwrap_or("sandbox").to_owned();
        let choose = {
            let name = name.map(str::to_owned);
            use_profile.reform(move |_: MouseEvent| name.clone())
        };
        html! {
            <li class="profile" data-profile={id.clone()} data-active={active.to_string()}>
                <div class="profile-text">
                    <strong>{ name.unwrap_or("Local sandbox") }</strong>
                    <span class="muted small">{ format!("{kind} · {address}") }</span>
                    <span class="muted small">{ auth }</span>
                </div>
                <div class="buttons">
                    if active {
                        <span class="badge ok">{ "In use" }</span>
                    } else {
                        <button type="button" class="button" id={format!("profile-use-{id}")} onclick={choose}>{ "Use" }</button>
                    }
                    if let Some(name) = name.filter(|_| !active) {
                        <button type="button" class="button" id={format!("profile-remove-{id}")} onclick={ let name = name.to_owned(); remove.reform(move |_: MouseEvent| name.clone()) }>{ "Remove" }</button>
                    }
                </div>
            </li>
        }
    };
    html! {
        <ul class="plain-list profiles" id="profiles">
            { row(None, BrokerMode::Sandbox.label(), "this machine", "Simulated devices, no account needed") }
            { for view.profiles.iter().map(|p| row(Some(&p.name), p.kind.label(), &p.address, &p.auth)) }
            if sandbox_active && view.profiles.is_empty() {
                <li class="muted small">{ "Add a profile to connect to AWS IoT Core or another MQTT broker." }</li>
            }
        </ul>
    }
}

/// Props of [`ProfileEditor`].
#[derive(Debug, Properties, PartialEq)]
pub struct ProfileEditorProps {
    /// The profile was saved.
    pub on_saved: Callback<()>,
    /// The user gave up.
    pub on_cancel: Callback<()>,
}

/// The form for a new profile: AWS IoT Core (8883 or 443 with ALPN, a vault identity) or an
/// MQTT broker (plain, TLS or mutual TLS; username and a password kept in the OS keyring).
#[component]
pub fn ProfileEditor(props: &ProfileEditorProps) -> Html {
    let kind = use_state(|| ProfileKind::AwsIot);
    let transport = use_state(|| TransportChoice::AwsMtls8883);
    let identities = use_state(|| Load::<VaultView>::Pending);
    let failure = use_state(|| None::<IpcError>);
    let name = use_node_ref();
    let host = use_node_ref();
    let port = use_node_ref();
    let identity = use_node_ref();
    let username = use_node_ref();
    let password = use_node_ref();
    {
        let identities = identities.clone();
        use_effect_with((), move |()| {
            spawn_local(async move { identities.set(ipc::call(&VaultList {}).await.into()) });
        });
    }
    let on_kind = {
        let (kind, transport) = (kind.clone(), transport.clone());
        Callback::from(move |event: Event| {
            let aws = event.target_unchecked_into::<HtmlSelectElement>().value() == "aws_iot";
            kind.set(if aws {
                ProfileKind::AwsIot
            } else {
                ProfileKind::Mqtt
            });
            transport.set(if aws {
                TransportChoice::AwsMtls8883
            } else {
                TransportChoice::Plain
            });
        })
    };
    let on_transport = {
        let transport = transport.clone();
        Callback::from(move |event: Event| {
            let value = event.target_unchecked_into::<HtmlSelectElement>().value();
            transport.set(match value.as_str() {
                "aws_mtls443" => TransportChoice::AwsMtls443,
                "tls" => TransportChoice::Tls,
                "mutual_tls" => TransportChoice::MutualTls,
                "plain" => TransportChoice::Plain,
                _ => TransportChoice::AwsMtls8883,
            });
        })
    };
    let needs_identity = matches!(
        *transport,
        TransportChoice::AwsMtls8883 | TransportChoice::AwsMtls443 | TransportChoice::MutualTls
    );
    let is_mqtt = *kind == ProfileKind::Mqtt;
    let onsubmit = {
        let (kind, transport, failure) = (*kind, *transport, failure.clone());
        let refs = (
            name.clone(),
            host.clone(),
            port.clone(),
            identity.clone(),
            username.clone(),
            password.clone(),
        );
        let on_saved = props.on_saved.clone();
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let text = |node: &NodeRef| {
                node.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let select = |node: &NodeRef| {
                node.cast::<HtmlSelectElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let optional = |value: String| (!value.trim().is_empty()).then_some(value);
            let port_text = text(&refs.2);
            let port = match port_text.trim() {
                "" => None,
                value => match value.parse::<u16>() {
                    Ok(port) if port > 0 => Some(port),
                    _ => {
                        failure.set(Some(IpcError::new(
                            companion_model::ErrorCode::InvalidInput,
                            "The port must be a number from 1 to 65535.",
                        )));
                        return;
                    }
                },
            };
            let form = ProfileForm {
                name: text(&refs.0),
                kind,
                host: text(&refs.1),
                port,
                transport,
                identity: optional(select(&refs.3)),
                username: optional(text(&refs.4)),
                password: optional(text(&refs.5)).map(Secret),
                client_id: None,
            };
            let (failure, on_saved) = (failure.clone(), on_saved.clone());
            spawn_local(async move {
                match ipc::call(&ProfileSave { form }).await {
                    Ok(_) => on_saved.emit(()),
                    Err(error) => failure.set(Some(error)),
                }
            });
        })
    };
    let identity_options = match &*identities {
        Load::Ready(view) if view.identities.is_empty() => {
            html! { <option value="">{ "No identities: import one below first" }</option> }
        }
        Load::Ready(view) => view
            .identities
            .iter()
            .map(|i| html! { <option value={i.name.clone()}>{ &i.name }</option> })
            .collect::<Html>(),
        Load::Failed(error) => html! { <option value="">{ &error.message }</option> },
        Load::Pending => html! { <option value="">{ "Reading the vault…" }</option> },
    };
    html! {
        <form class="form" id="profile-form" {onsubmit}>
            <label>{ "Name" }<input ref={name} id="profile-name" class="input" required=true placeholder="e.g. production" /></label>
            <label>{ "Connects to" }
                <select id="profile-kind" class="input" onchange={on_kind}>
                    <option value="aws_iot" selected={!is_mqtt}>{ "AWS IoT Core" }</option>
                    <option value="mqtt" selected={is_mqtt}>{ "Another MQTT broker" }</option>
                </select>
            </label>
            <label>{ if is_mqtt { "Host" } else { "Endpoint (…-ats.iot.<region>.amazonaws.com)" } }
                <input ref={host} id="profile-host" class="input" required=true />
            </label>
            if is_mqtt {
                <label>{ "Port (default 1883, or 8883 with TLS)" }<input ref={port} id="profile-port" class="input" inputmode="numeric" /></label>
            }
            <label>{ "Security" }
                <select id="profile-transport" class="input" onchange={on_transport}>
                    if is_mqtt {
                        <option value="plain">{ "None (plain MQTT)" }</option>
                        <option value="tls">{ "TLS" }</option>
                        <option value="mutual_tls">{ "TLS with a client certificate" }</option>
                    } else {
                        <option value="aws_mtls8883">{ "Client certificate, port 8883" }</option>
                        <option value="aws_mtls443">{ "Client certificate, port 443 (ALPN x-amzn-mqtt-ca)" }</option>
                    }
                </select>
            </label>
            if needs_identity {
                <label>{ "Client certificate" }<select ref={identity} id="profile-identity" class="input">{ identity_options }</select></label>
            }
            if is_mqtt {
                <label>{ "Username (optional)" }<input ref={username} id="profile-username" class="input" autocomplete="username" /></label>
                <label>{ "Password (optional, kept in the OS keyring)" }<input ref={password} id="profile-password" type="password" class="input" autocomplete="current-password" /></label>
            }
            if let Some(error) = &*failure {
                <p class="error" role="alert" id="profile-error">{ &error.message }</p>
            }
            <div class="buttons">
                <button type="submit" class="button primary" id="profile-save">{ "Save profile" }</button>
                <button type="button" class="button" onclick={ let cancel = props.on_cancel.clone(); Callback::from(move |_: MouseEvent| cancel.emit(())) }>{ "Cancel" }</button>
            </div>
        </form>
    }
}

/// Cuts the local sandbox off (a simulated network outage) and brings it back: to watch edits
/// queue offline and replay, and devices reconnect.
#[component]
pub fn OutageSwitch() -> Html {
    let on = use_state(|| false);
    let failure = use_state(|| None::<IpcError>);
    {
        let on = on.clone();
        use_effect_with((), move |()| {
            spawn_local(async move {
                if let Ok(current) = ipc::call(&SandboxOutage { on: None }).await {
                    on.set(current);
                }
            });
        });
    }
    let onclick = {
        let (on, failure) = (on.clone(), failure.clone());
        Callback::from(move |_: MouseEvent| {
            let next = !*on;
            let (on, failure) = (on.clone(), failure.clone());
            spawn_local(async move {
                match ipc::call(&SandboxOutage { on: Some(next) }).await {
                    Ok(now) => {
                        on.set(now);
                        failure.set(None);
                    }
                    Err(error) => failure.set(Some(error)),
                }
            });
        })
    };
    html! {
        <div class="control outage">
            <label for="sandbox-outage">{ "Simulate a network outage" }</label>
            <button type="button" role="switch" class="switch" id="sandbox-outage" aria-checked={on.to_string()} {onclick}>
                <span class="switch-knob" aria-hidden="true"></span>
                <span class="switch-label">{ if *on { "Cut off" } else { "Off" } }</span>
            </button>
            <span class="small muted">{ "Every connection to the local sandbox drops until you switch it off; edits made meanwhile are queued." }</span>
            if let Some(error) = &*failure {
                <span class="error small">{ &error.message }</span>
            }
        </div>
    }
}
