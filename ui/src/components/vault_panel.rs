use companion_model::{
    Expiry, IdentitySummary, IpcError, Secret, VaultImport, VaultList, VaultRemove, VaultView,
};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::ipc;
use crate::state::Load;

/// The certificate vault: identities in the OS keyring with their expiry, import and removal.
#[component]
pub fn VaultPanel() -> Html {
    let view = use_state(|| Load::<VaultView>::Pending);
    let revision = use_state(|| 0_u32);
    let failure = use_state(|| None::<IpcError>);
    let name = use_node_ref();
    let passphrase = use_node_ref();
    {
        let view = view.clone();
        use_effect_with(*revision, move |_| {
            spawn_local(async move { view.set(ipc::call(&VaultList {}).await.into()) });
        });
    }
    let import = {
        let (failure, revision) = (failure.clone(), revision.clone());
        let (name, passphrase) = (name.clone(), passphrase.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let text = |node: &NodeRef| {
                node.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let request = VaultImport {
                name: text(&name),
                paths: None,
                passphrase: Some(text(&passphrase))
                    .filter(|p| !p.is_empty())
                    .map(Secret),
            };
            let (failure, revision) = (failure.clone(), revision.clone());
            spawn_local(async move {
                failure.set(ipc::call(&request).await.err());
                revision.set(revision.wrapping_add(1));
            });
        })
    };
    let remove = {
        let (failure, revision) = (failure.clone(), revision.clone());
        Callback::from(move |name: String| {
            let (failure, revision) = (failure.clone(), revision.clone());
            spawn_local(async move {
                failure.set(ipc::call(&VaultRemove { name }).await.err());
                revision.set(revision.wrapping_add(1));
            });
        })
    };
    let body = match &*view {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading the vault…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(VaultView {
            problem: Some(problem),
            ..
        }) => html! {
            <p class="error" role="alert" id="vault-problem">{ problem }</p>
        },
        Load::Ready(view) => html! {
            <>
                <p class="muted small">{ format!("Private keys stay in the {}; this app keeps only their names and certificate facts.", view.backend.clone().unwrap_or_else(|| "OS keyring".to_owned())) }</p>
                if view.identities.is_empty() {
                    <p class="muted">{ "No identities yet. Import the certificate and private key AWS IoT gave you (PEM files, or one PKCS#12 file)." }</p>
                } else {
                    <ul class="plain-list" id="vault-identities">
                        { for view.identities.iter().map(|identity| identity_row(identity, &remove)) }
                    </ul>
                }
            </>
        },
    };
    html! {
        <section class="card" aria-labelledby="vault-title">
            <h2 id="vault-title">{ "Certificate vault" }</h2>
            { body }
            if let Some(error) = &*failure {
                <p class="error" role="alert" id="vault-error">{ &error.message }</p>
            }
            <form class="form inline" id="vault-import" onsubmit={import}>
                <label>{ "Name" }<input ref={name} id="vault-name" class="input" required=true placeholder="e.g. lab-sensor" /></label>
                <label>{ "PKCS#12 passphrase (if any)" }<input ref={passphrase} id="vault-passphrase" type="password" class="input" autocomplete="off" /></label>
                <div class="buttons"><button type="submit" class="button primary" id="vault-import-button">{ "Import files…" }</button></div>
            </form>
        </section>
    }
}

fn identity_row(identity: &IdentitySummary, remove: &Callback<String>) -> Html {
    let (class, text) = match identity.expiry {
        Expiry::Pending => ("badge", "waiting for its certificate".to_owned()),
        Expiry::NotYetValid { days } => ("badge warn", format!("valid in {days} d")),
        Expiry::Valid { days } => ("badge ok", format!("valid, {days} d left")),
        Expiry::ExpiresSoon { days } => ("badge warn", format!("expires in {days} d: renew it")),
        Expiry::Expired { days } => ("badge warn", format!("expired {days} d ago")),
    };
    let onclick = {
        let name = identity.name.clone();
        remove.reform(move |_: MouseEvent| name.clone())
    };
    html! {
        <li class="identity" data-identity={identity.name.clone()}>
            <div class="profile-text">
                <strong>{ &identity.name }</strong>
                <span class="small muted">{ identity.subject.clone().unwrap_or_default() }{ " · " }{ &identity.key_algorithm }</span>
                if let Some(fingerprint) = &identity.fingerprint {
                    <span class="small muted mono" title="SHA-256 fingerprint: AWS IoT's certificate id">{ &fingerprint[..fingerprint.len().min(16)] }{ "…" }</span>
                }
                if !identity.used_by.is_empty() {
                    <span class="small muted">{ format!("Used by {}", identity.used_by.join(", ")) }</span>
                }
            </div>
            <div class="buttons">
                <span class={class} data-expiry={format!("{:?}", identity.expiry)}>{ text }</span>
                <button type="button" class="button" id={format!("vault-remove-{}", identity.name)} {onclick}>{ "Remove" }</button>
            </div>
        </li>
    }
}
