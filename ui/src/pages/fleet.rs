use std::collections::BTreeSet;

use companion_model::{
    BulkResult, FleetBulkEdit, FleetChanged, FleetFilter, FleetList, FleetSort, FleetWindow,
    IpcError, Presence, ThingSummary,
};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::hooks::use_event;
use crate::ipc;
use crate::state::Load;
use crate::workbench::{ago, parse_desired};

/// Height of one row in pixels (fixed, so the list can be virtualized).
pub const ROW_HEIGHT: u32 = 48;
/// Rows fetched around what is on screen.
const WINDOW_ROWS: u32 = 120;
/// The window moves in steps of this many rows.
const WINDOW_STEP: u32 = 40;

/// Props of [`FleetPage`].
#[derive(Debug, Properties, PartialEq)]
pub struct FleetPageProps {
    /// Opens a thing's device page.
    pub on_open: Callback<String>,
}

/// The first row of the window to fetch for a list scrolled to `scroll_top` pixels.
pub fn window_offset(scroll_top: u32) -> u32 {
    let first = scroll_top / ROW_HEIGHT;
    first.saturating_sub(WINDOW_STEP) / WINDOW_STEP * WINDOW_STEP
}

/// Every thing of the active connection profile: online state, last seen, firmware, sync,
/// pending edits, jobs — filtered, searched and sorted by the engine, rendered as a
/// virtualized list (only the rows near the screen exist), refreshed whenever the backend
/// says the fleet changed. Selected things can get the same desired values at once.
#[component]
pub fn FleetPage(props: &FleetPageProps) -> Html {
    let filter = use_state(FleetFilter::default);
    let search = use_state(String::new);
    let sort = use_state(FleetSort::default);
    let descending = use_state(|| false);
    let offset = use_state(|| 0_u32);
    // An unchanged answer (the fleet changed elsewhere) does not re-render the list.
    let window = use_state_eq(|| Load::<FleetWindow>::Pending);
    let selected = use_state(BTreeSet::<String>::new);
    let revision = use_state(|| 0_u64);
    {
        let window = window.clone();
        let deps = (
            *filter,
            (*search).clone(),
            *sort,
            *descending,
            *offset,
            *revision,
        );
        use_effect_with(
            deps,
            move |(filter, search, sort, descending, offset, _)| {
                let request = FleetList {
                    filter: *filter,
                    search: Some(search.clone()),
                    sort: *sort,
                    descending: *descending,
                    offset: *offset,
                    limit: WINDOW_ROWS,
                };
                spawn_local(async move { window.set(ipc::call(&request).await.into()) });
            },
        );
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
        let (search, offset) = (search.clone(), offset.clone());
        Callback::from(move |event: InputEvent| {
            search.set(event.target_unchecked_into::<HtmlInputElement>().value());
            offset.set(0);
        })
    };
    let on_sort = {
        let (sort, offset) = (sort.clone(), offset.clone());
        Callback::from(move |event: Event| {
            let value = event.target_unchecked_into::<HtmlSelectElement>().value();
            sort.set(
                FleetSort::ALL
                    .into_iter()
                    .find(|s| sort_slug(*s) == value)
                    .unwrap_or_default(),
            );
            offset.set(0);
        })
    };
    let on_direction = {
        let descending = descending.clone();
        Callback::from(move |_: MouseEvent| descending.set(!*descending))
    };
    let on_scroll = {
        let offset = offset.clone();
        Callback::from(move |event: Event| {
            let top = event
                .target_unchecked_into::<HtmlElement>()
                .scroll_top()
                .max(0);
            let next = window_offset(u32::try_from(top).unwrap_or(0));
            if next != *offset {
                offset.set(next);
            }
        })
    };
    let set_filter = {
        let (filter, offset) = (filter.clone(), offset.clone());
        Callback::from(move |choice: FleetFilter| {
            filter.set(choice);
            offset.set(0);
        })
    };
    html! {
        <div class="stack fleet">
            <div class="toolbar">
                { filter_chips(*filter, &set_filter) }
                <div class="toolbar-end">
                    <label class="sort">
                        <span class="muted small">{ "Sort" }</span>
                        <select id="fleet-sort" class="input" onchange={on_sort}>
                            { for FleetSort::ALL.into_iter().map(|s| html! {
                                <option value={sort_slug(s)} selected={s == *sort}>{ s.label() }</option>
                            }) }
                        </select>
                    </label>
                    <button type="button" class="button" id="fleet-direction" aria-label={if *descending { "Descending" } else { "Ascending" }} onclick={on_direction}>
                        { if *descending { "↓" } else { "↑" } }
                    </button>
                    <input
                        type="search"
                        id="fleet-search"
                        class="search"
                        placeholder="Search things"
                        aria-label="Search things by name"
                        oninput={on_search}
                    />
                </div>
            </div>
            if !selected.is_empty() {
                <BulkEdit things={selected.iter().cloned().collect::<Vec<_>>()} on_clear={ let selected = selected.clone(); Callback::from(move |()| selected.set(BTreeSet::new())) } />
            }
            { fleet_body(&window, &props.on_open, &selected, on_scroll) }
        </div>
    }
}

fn sort_slug(sort: FleetSort) -> &'static str {
    match sort {
        FleetSort::Name => "name",
        FleetSort::LastSeen => "last_seen",
        FleetSort::Model => "model",
        FleetSort::Firmware => "firmware",
    }
}

fn filter_chips(current: FleetFilter, on_choose: &Callback<FleetFilter>) -> Html {
    let chips = FleetFilter::ALL.into_iter().map(|choice| {
        let onclick = on_choose.reform(move |_: MouseEvent| choice);
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

fn fleet_body(
    window: &Load<FleetWindow>,
    on_open: &Callback<String>,
    selected: &UseStateHandle<BTreeSet<String>>,
    on_scroll: Callback<Event>,
) -> Html {
    match window {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Loading the fleet…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(window) if window.total == 0 => html! {
            <section class="notice" role="status">
                <h2 class="notice-title">{ "No things here" }</h2>
                <p>{ "Things appear as they connect or report their shadow. Try another filter or clear the search." }</p>
            </section>
        },
        Load::Ready(window) => {
            let total = u32::try_from(window.total).unwrap_or(u32::MAX);
            let shown = u32::try_from(window.things.len()).unwrap_or(0);
            let above = window.offset.min(total) * ROW_HEIGHT;
            let below = total.saturating_sub(window.offset + shown) * ROW_HEIGHT;
            let now = js_sys::Date::now() as i64;
            html! {
                <>
                    <div class="table-wrap fleet-scroll" id="fleet-scroll" onscroll={on_scroll}>
                        <table id="fleet-table" class="table" aria-rowcount={window.total.to_string()}>
                            <thead>
                                <tr>
                                    <th scope="col" class="pick"><span class="visually-hidden">{ "Select" }</span></th>
                                    <th scope="col">{ "Thing" }</th>
                                    <th scope="col">{ "Status" }</th>
                                    <th scope="col" class="wide">{ "Model" }</th>
                                    <th scope="col" class="wide">{ "Firmware" }</th>
                                    <th scope="col">{ "Shadow" }</th>
                                    <th scope="col" class="wide">{ "Jobs" }</th>
                                </tr>
                            </thead>
                            <tbody>
                                if above > 0 {
                                    <Spacer height={above} />
                                }
                                { for window.things.iter().enumerate().map(|(i, thing)| {
                                    let index = window.offset + u32::try_from(i).unwrap_or(0);
                                    thing_row(thing, index, on_open, selected, now)
                                }) }
                                if below > 0 {
                                    <Spacer height={below} />
                                }
                            </tbody>
                        </table>
                    </div>
                    <p class="muted" id="fleet-count">{ count_label(window.total) }</p>
                </>
            }
        }
    }
}

/// Props of [`Spacer`].
#[derive(Debug, Properties, PartialEq)]
pub struct SpacerProps {
    /// Its height in pixels.
    pub height: u32,
}

/// A table row standing in for the rows that are not rendered. Its height is set through the
/// CSS object model: the window's CSP refuses inline `style` attributes.
#[component]
pub fn Spacer(props: &SpacerProps) -> Html {
    let cell = use_node_ref();
    {
        let cell = cell.clone();
        use_effect_with(props.height, move |height| {
            if let Some(cell) = cell.cast::<HtmlElement>() {
                let _ = cell.style().set_property("height", &format!("{height}px"));
            }
        });
    }
    html! {
        <tr class="spacer" aria-hidden="true"><td colspan="7" ref={cell}></td></tr>
    }
}

fn thing_row(
    thing: &ThingSummary,
    index: u32,
    on_open: &Callback<String>,
    selected: &UseStateHandle<BTreeSet<String>>,
    now_ms: i64,
) -> Html {
    let open = {
        let name = thing.name.clone();
        on_open.reform(move |_: MouseEvent| name.clone())
    };
    let toggle = {
        let (selected, name) = (selected.clone(), thing.name.clone());
        Callback::from(move |_: Event| {
            let mut next = (*selected).clone();
            if !next.remove(&name) {
                next.insert(name.clone());
            }
            selected.set(next);
        })
    };
    let (presence, label) = match thing.presence {
        Presence::Online => ("online", "Online"),
        Presence::Offline => ("offline", "Offline"),
        Presence::Unknown => ("unknown", "Not seen"),
    };
    let seen = thing
        .last_seen_ms
        .map(|ms| ago(ms, now_ms))
        .unwrap_or_default();
    let title = thing
        .disconnect_reason
        .clone()
        .unwrap_or_else(|| seen.clone());
    let dash = || "—".to_owned();
    html! {
        <tr data-thing={thing.name.clone()} data-presence={presence} aria-rowindex={(index + 1).to_string()}>
            <td class="pick"><input type="checkbox" checked={selected.contains(&thing.name)} onchange={toggle} aria-label={format!("Select {}", thing.name)} /></td>
            <td class="mono"><button type="button" class="link" onclick={open}>{ &thing.name }</button></td>
            <td {title}><span class={classes!("presence", presence)} aria-hidden="true"></span>{ label }<span class="muted small seen">{ seen }</span></td>
            <td class="wide">{ thing.model.clone().unwrap_or_else(dash) }</td>
            <td class="wide mono">{ thing.firmware.clone().unwrap_or_else(dash) }</td>
            <td>
                if thing.out_of_sync { <span class="badge warn">{ "Out of sync" }</span> } else { <span class="badge">{ "In sync" }</span> }
                if thing.pending_edits > 0 { <span class="badge pending" title="Desired-state edits not applied yet">{ format!("{} pending", thing.pending_edits) }</span> }
            </td>
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

fn count_label(count: u64) -> String {
    if count == 1 {
        "1 thing.".to_owned()
    } else {
        format!("{count} things.")
    }
}

/// Props of [`BulkEdit`].
#[derive(Debug, Properties, PartialEq)]
pub struct BulkEditProps {
    /// The selected things.
    pub things: Vec<String>,
    /// Clears the selection.
    pub on_clear: Callback<()>,
}

/// Sets the same desired values on the selected things, with a result per device.
#[component]
pub fn BulkEdit(props: &BulkEditProps) -> Html {
    let text = use_state(|| "{\"on\": true}".to_owned());
    let results = use_state(|| None::<Result<Vec<BulkResult>, IpcError>>);
    let checked = parse_desired(&text);
    let oninput = {
        let text = text.clone();
        Callback::from(move |event: InputEvent| {
            text.set(event.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    let apply = {
        let (things, results, checked) = (props.things.clone(), results.clone(), checked.clone());
        Callback::from(move |_: MouseEvent| {
            let Ok(desired) = checked.clone() else { return };
            let request = FleetBulkEdit {
                things: things.clone(),
                desired,
            };
            let results = results.clone();
            spawn_local(async move { results.set(Some(ipc::call(&request).await)) });
        })
    };
    html! {
        <section class="card bulk" aria-labelledby="bulk-title" id="bulk-edit">
            <h2 id="bulk-title">{ format!("Set desired state on {} selected", props.things.len()) }</h2>
            <div class="form inline">
                <label>{ "Desired (JSON object)" }<input class="input mono" id="bulk-desired" value={(*text).clone()} {oninput} aria-invalid={checked.is_err().to_string()} /></label>
                <div class="buttons">
                    <button type="button" class="button primary" id="bulk-apply" disabled={checked.is_err()} onclick={apply}>{ "Apply to each" }</button>
                    <button type="button" class="button" onclick={ let clear = props.on_clear.clone(); Callback::from(move |_: MouseEvent| clear.emit(())) }>{ "Clear selection" }</button>
                </div>
            </div>
            if let Err(why) = &checked {
                <p class="error small">{ why }</p>
            }
            { match &*results {
                None => Html::default(),
                Some(Err(error)) => html! { <p class="error" role="alert">{ &error.message }</p> },
                Some(Ok(list)) => html! {
                    <ul class="plain-list" id="bulk-results">
                        { for list.iter().map(|r| html! {
                            <li data-thing={r.thing.clone()} data-ok={r.ok.to_string()}>
                                <span class="mono">{ &r.thing }</span>{ " " }
                                <span class={if r.ok { "badge pending" } else { "badge warn" }}>{ &r.message }</span>
                            </li>
                        }) }
                    </ul>
                },
            } }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_scroll_in_steps() {
        assert_eq!(window_offset(0), 0);
        assert_eq!(window_offset(ROW_HEIGHT * 39), 0);
        assert_eq!(
            window_offset(ROW_HEIGHT * 80),
            40,
            "keeps rows above the screen"
        );
        assert_eq!(window_offset(ROW_HEIGHT * 5_000), 4_960);
    }
}
