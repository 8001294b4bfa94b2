use companion_model::{FleetChanged, FleetFilter, FleetList, IpcError, Presence, ThingSummary};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::hooks::use_event;
use crate::ipc;
use crate::state::Load;

/// Props of [`FleetPage`].
#[derive(Debug, Properties, PartialEq)]
pub struct FleetPageProps {
    /// Opens a thing's device page.
    pub on_open: Callback<String>,
}

/// Every thing of the active connection profile: online state, firmware, sync, jobs — listed
/// again whenever the backend says the fleet changed.
#[component]
pub fn FleetPage(props: &FleetPageProps) -> Html {
    let filter = use_state(FleetFilter::default);
    let search = use_state(String::new);
    let things = use_state(|| Load::<Vec<ThingSummary>>::Pending);
    // Moves on every fleet-changed event, which lists the fleet again.
    let revision = use_state(|| 0_u64);

    {
        let things = things.clone();
        let deps = (*filter, (*search).clone(), *revision);
        use_effect_with(deps, move |(filter, search, _)| {
            let request = FleetList {
                filter: *filter,
                search: Some(search.clone()),
            };
            spawn_local(async move { things.set(ipc::call(&request).await.into()) });
        });
    }
    let on_event = {
        let revision = revision.clone();
        Callback::from(move |event: Result<FleetChanged, IpcError>| {
            if let Ok(event) = event {
                revision.set(event.revision + 1);
            }
        })
    };
    use_event::<FleetChanged>(on_event, Callback::noop());

    let on_search = {
        let search = search.clone();
        Callback::from(move |event: InputEvent| {
            search.set(event.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    html! {
        <div class="stack fleet">
            <div class="toolbar">
                { filter_chips(*filter, &filter) }
                <input
                    type="search"
                    id="fleet-search"
                    class="search"
                    placeholder="Search things"
                    aria-label="Search things by name"
                    oninput={on_search}
                />
            </div>
            { fleet_body(&things, &props.on_open) }
        </div>
    }
}

fn filter_chips(current: FleetFilter, setter: &UseStateHandle<FleetFilter>) -> Html {
    let chips = FleetFilter::ALL.into_iter().map(|choice| {
        let setter = setter.clone();
        let onclick = Callback::from(move |_: MouseEvent| setter.set(choice));
        html! {
            <button
                type="button"
                class="chip"
                id={format!("fleet-filter-{}", filter_slug(choice))}
                aria-pressed={(choice == current).to_string()}
                {onclick}
            >
                { choice.label() }
            </button>
        }
    });
    html! { <div class="chips" role="group" aria-label="Show">{ for chips }</div> }
}

fn fleet_body(things: &Load<Vec<ThingSummary>>, on_open: &Callback<String>) -> Html {
    match things {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Loading the fleet…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(list) if list.is_empty() => html! {
            <section class="notice" role="status">
                <h2 class="notice-title">{ "No things here" }</h2>
                <p>{ "Things appear as they connect or report their shadow. Try another filter or clear the search." }</p>
            </section>
        },
        Load::Ready(list) => html! {
            <>
                <div class="table-wrap">
                    <table id="fleet-table" class="table">
                        <thead>
                            <tr>
                                <th scope="col">{ "Thing" }</th>
                                <th scope="col">{ "Status" }</th>
                                <th scope="col" class="wide">{ "Model" }</th>
                                <th scope="col" class="wide">{ "Firmware" }</th>
                                <th scope="col">{ "Shadow" }</th>
                                <th scope="col" class="wide">{ "Jobs" }</th>
                            </tr>
                        </thead>
                        <tbody>{ for list.iter().map(|thing| thing_row(thing, on_open)) }</tbody>
                    </table>
                </div>
                <p class="muted">{ count_label(list.len()) }</p>
            </>
        },
    }
}

fn thing_row(thing: &ThingSummary, on_open: &Callback<String>) -> Html {
    let open = {
        let name = thing.name.clone();
        on_open.reform(move |_: MouseEvent| name.clone())
    };
    let (presence, label) = match thing.presence {
        Presence::Online => ("online", "Online"),
        Presence::Offline => ("offline", "Offline"),
        Presence::Unknown => ("unknown", "Not seen"),
    };
    let reason = thing.disconnect_reason.clone().unwrap_or_default();
    let dash = || "—".to_owned();
    html! {
        <tr data-thing={thing.name.clone()} data-presence={presence}>
            <td class="mono"><button type="button" class="link" onclick={open}>{ &thing.name }</button></td>
            <td title={reason}><span class={classes!("presence", presence)} aria-hidden="true"></span>{ label }</td>
            <td class="wide">{ thing.model.clone().unwrap_or_else(dash) }</td>
            <td class="wide mono">{ thing.firmware.clone().unwrap_or_else(dash) }</td>
            <td>{ if thing.out_of_sync { html! { <span class="badge warn">{ "Out of sync" }</span> } } else { html! { <span class="badge">{ "In sync" }</span> } } }</td>
            <td class="wide">{ thing.pending_jobs }</td>
        </tr>
    }
}

fn filter_slug(filter: FleetFilter) -> &'static str {
    match filter {
        FleetFilter::All => "all",
        FleetFilter::Online => "online",
        FleetFilter::Offline => "offline",
        FleetFilter::OutOfSync => "out-of-sync",
        FleetFilter::HasJobs => "has-jobs",
    }
}

fn count_label(count: usize) -> String {
    if count == 1 {
        "1 thing.".to_owned()
    } else {
        format!("{count} things.")
    }
}
