use companion_model::{
    Control, ControlKind, EditStatus, EditSummary, HistoryItem, IpcError, ShadowChanged,
    ShadowClearDesired, ShadowDocument, ShadowEdit, ShadowOpen, ShadowPanel, ShadowRef,
};
use serde_json::{Map, Number, Value};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::hooks::use_event;
use crate::ipc;
use crate::state::Load;
use crate::workbench::{self, Row, is_open, latest_edit_of, parse_desired, show};

/// Props of [`ShadowWorkbench`].
#[derive(Debug, Properties, PartialEq)]
pub struct ShadowWorkbenchProps {
    /// The shadow shown.
    pub shadow: ShadowRef,
}

/// A shadow at work: controls that write desired state, desired/reported/delta side by side,
/// the outbox of edits, a JSON editor and the history of versions.
#[component]
pub fn ShadowWorkbench(props: &ShadowWorkbenchProps) -> Html {
    let panel = use_state(|| Load::<ShadowPanel>::Pending);
    let revision = use_state(|| 0_u32);
    // The last edit's failure; the controls' badges show how accepted edits fare.
    let failure = use_state(|| None::<IpcError>);
    {
        let failure = failure.clone();
        use_effect_with(props.shadow.clone(), move |_| failure.set(None));
    }
    {
        let panel = panel.clone();
        use_effect_with((props.shadow.clone(), *revision), move |(shadow, _)| {
            let request = ShadowOpen {
                shadow: shadow.clone(),
            };
            spawn_local(async move { panel.set(ipc::call(&request).await.into()) });
        });
    }
    {
        let revision = revision.clone();
        let shadow = props.shadow.clone();
        let on_change = Callback::from(move |event: Result<ShadowChanged, IpcError>| {
            if matches!(event, Ok(ref changed) if changed.shadow == shadow) {
                revision.set(revision.wrapping_add(1));
            }
        });
        use_event::<ShadowChanged>(on_change, Callback::noop());
    }
    let send = {
        let shadow = props.shadow.clone();
        let failure = failure.clone();
        let revision = revision.clone();
        Callback::from(move |desired: Value| {
            let request = ShadowEdit {
                shadow: shadow.clone(),
                desired,
            };
            let (failure, revision) = (failure.clone(), revision.clone());
            spawn_local(async move {
                failure.set(ipc::call(&request).await.err());
                revision.set(revision.wrapping_add(1));
            });
        })
    };
    let clear = {
        let shadow = props.shadow.clone();
        let failure = failure.clone();
        let revision = revision.clone();
        Callback::from(move |_: MouseEvent| {
            let request = ShadowClearDesired {
                shadow: shadow.clone(),
            };
            let (failure, revision) = (failure.clone(), revision.clone());
            spawn_local(async move {
                failure.set(ipc::call(&request).await.err());
                revision.set(revision.wrapping_add(1));
            });
        })
    };

    let panel = match &*panel {
        Load::Pending => {
            return html! { <p class="muted" aria-busy="true">{ "Reading the shadow…" }</p> };
        }
        Load::Failed(error) => {
            return html! { <p class="error" role="alert">{ &error.message }</p> };
        }
        Load::Ready(panel) => panel,
    };
    html! {
        <div class="workbench" id="shadow-workbench">
            { header(panel) }
            { failure_line(failure.as_ref()) }
            { controls(panel, &send) }
            { side_by_side(panel.document.as_ref()) }
            { outbox(&panel.edits) }
            <JsonEditor
                desired={panel.document.as_ref().map(|d| d.desired.clone()).unwrap_or_else(|| Value::Object(Map::new()))}
                on_send={send.clone()}
                on_clear={clear}
            />
            { history(&panel.history) }
        </div>
    }
}

fn header(panel: &ShadowPanel) -> Html {
    let version = panel.document.as_ref().map_or_else(
        || "no document".to_owned(),
        |d| format!("version {}", d.version),
    );
    html! {
        <p class="workbench-head">
            <span id="shadow-version" class="mono">{ version }</span>
            if panel.offline {
                <span class="badge warn" title="The broker is unreachable: this is the last known copy; edits are queued.">{ "Offline copy" }</span>
            }
        </p>
    }
}

fn failure_line(failure: Option<&IpcError>) -> Html {
    match failure {
        None => Html::default(),
        Some(error) => {
            html! { <p class="error" role="alert" id="shadow-error">{ &error.message }</p> }
        }
    }
}

fn controls(panel: &ShadowPanel, send: &Callback<Value>) -> Html {
    if panel.controls.is_empty() {
        return Html::default();
    }
    let document = panel.document.as_ref();
    let inferred = panel.controls.iter().any(|c| !c.known);
    html! {
        <section class="controls" aria-label="Controls">
            { for panel.controls.iter().map(|control| control_row(control, document, &panel.edits, send)) }
            if inferred {
                <p class="muted small">{ "Controls inferred from what the device reports: the device decides which values it accepts." }</p>
            }
        </section>
    }
}

/// The value a control shows: what an open edit asks for, else what the device reports.
fn shown_value(
    key: &str,
    document: Option<&ShadowDocument>,
    edit: Option<&EditSummary>,
) -> Option<Value> {
    if let Some(edit) = edit.filter(|e| is_open(&e.status)) {
        return edit.desired.get(key).cloned();
    }
    document.and_then(|d| d.reported.get(key).cloned())
}

fn control_row(
    control: &Control,
    document: Option<&ShadowDocument>,
    edits: &[EditSummary],
    send: &Callback<Value>,
) -> Html {
    let edit = latest_edit_of(edits, &control.key);
    let value = shown_value(&control.key, document, edit);
    let id = format!("control-{}", control.key);
    let set = {
        let send = send.clone();
        let key = control.key.clone();
        Callback::from(move |value: Value| {
            let mut patch = Map::new();
            patch.insert(key.clone(), value);
            send.emit(Value::Object(patch));
        })
    };
    let input = match &control.kind {
        ControlKind::Switch => {
            let on = value.as_ref().and_then(Value::as_bool).unwrap_or(false);
            let onclick = set.reform(move |_: MouseEvent| Value::Bool(!on));
            html! {
                <button type="button" role="switch" class="switch" id={id.clone()} aria-checked={on.to_string()} {onclick}>
                    <span class="switch-knob" aria-hidden="true"></span>
                    <span class="switch-label">{ if on { "On" } else { "Off" } }</span>
                </button>
            }
        }
        ControlKind::Range {
            min,
            max,
            step,
            unit,
        } => {
            let current = value.as_ref().and_then(Value::as_f64).unwrap_or(*min);
            let step_value = *step;
            let onchange = set.reform(move |event: Event| {
                let raw = event
                    .target_unchecked_into::<HtmlInputElement>()
                    .value_as_number();
                number(raw, step_value)
            });
            html! {
                <span class="range">
                    <input type="range" id={id.clone()} min={min.to_string()} max={max.to_string()} step={step.to_string()} value={current.to_string()} {onchange} />
                    <output for={id.clone()}>{ format!("{} {}", trim(current), unit.clone().unwrap_or_default()) }</output>
                </span>
            }
        }
        ControlKind::Number => {
            let current = value.as_ref().map(show).unwrap_or_default();
            let onchange = set.reform(|event: Event| {
                number(
                    event
                        .target_unchecked_into::<HtmlInputElement>()
                        .value_as_number(),
                    0.0,
                )
            });
            html! { <input type="number" id={id.clone()} class="input" value={current} {onchange} /> }
        }
        ControlKind::Choice { options } => {
            let current = value.as_ref().map(show).unwrap_or_default();
            let onchange = set.reform(|event: Event| {
                Value::String(event.target_unchecked_into::<HtmlSelectElement>().value())
            });
            html! {
                <select id={id.clone()} class="input" {onchange}>
                    { for options.iter().map(|option| html! {
                        <option value={option.clone()} selected={*option == current}>{ option }</option>
                    }) }
                </select>
            }
        }
        ControlKind::Text => {
            let current = value.as_ref().map(show).unwrap_or_default();
            let onchange = set.reform(|event: Event| {
                Value::String(event.target_unchecked_into::<HtmlInputElement>().value())
            });
            html! { <input type="text" id={id.clone()} class="input" value={current} {onchange} /> }
        }
    };
    html! {
        <div class="control" data-key={control.key.clone()}>
            <label for={id}>{ &control.label }</label>
            { input }
            { edit.map(|e| edit_badge(&e.status)).unwrap_or_default() }
        </div>
    }
}

/// A number for JSON: whole numbers stay integers when the step is whole.
fn number(raw: f64, step: f64) -> Value {
    if raw.fract() == 0.0 && step.fract() == 0.0 && raw.abs() < 9.0e15 {
        Value::Number(Number::from(raw as i64))
    } else {
        Number::from_f64(raw).map_or(Value::Null, Value::Number)
    }
}

fn trim(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

fn edit_badge(status: &EditStatus) -> Html {
    let class = match status {
        EditStatus::Queued | EditStatus::Pending { .. } => "badge pending",
        EditStatus::Applied { .. } | EditStatus::Superseded { .. } => "badge ok",
        EditStatus::Conflict { .. } | EditStatus::Rejected { .. } => "badge warn",
    };
    let title = match status {
        EditStatus::Queued => "Waiting to be sent or answered.".to_owned(),
        EditStatus::Pending { version } => {
            format!("Accepted at version {version}; waiting for the device to report it.")
        }
        EditStatus::Applied { version } => format!("The device reports it (version {version})."),
        EditStatus::Superseded { version } => {
            format!("Accepted at version {version}, then replaced by a later edit.")
        }
        EditStatus::Conflict { reason, .. } => format!("Not written: {reason}"),
        EditStatus::Rejected { code, message } => format!("Refused ({code}): {message}"),
    };
    html! { <span class={class} {title} data-status={status.label()}>{ status.label() }</span> }
}

fn side_by_side(document: Option<&ShadowDocument>) -> Html {
    let Some(document) = document else {
        return html! {
            <p class="muted">{ "This shadow does not exist yet. Send a desired state to create it, or wait for the device to report." }</p>
        };
    };
    let rows = workbench::rows(&document.desired, &document.reported, &document.delta);
    if rows.is_empty() {
        return html! { <p class="muted">{ "The shadow is empty." }</p> };
    }
    let cell = |value: &Option<Value>| match value {
        Some(value) => html! { <td class="mono">{ show(value) }</td> },
        None => html! { <td class="muted">{ "—" }</td> },
    };
    html! {
        <div class="table-wrap">
            <table class="table shadow-table" id="shadow-table">
                <thead>
                    <tr>
                        <th scope="col">{ "Key" }</th>
                        <th scope="col">{ "Desired" }</th>
                        <th scope="col">{ "Reported" }</th>
                        <th scope="col">{ "Delta" }</th>
                    </tr>
                </thead>
                <tbody>
                    { for rows.iter().map(|row: &Row| html! {
                        <tr data-key={row.key.clone()} class={classes!(row.out_of_sync().then_some("differs"))}>
                            <th scope="row" class="mono">{ &row.key }</th>
                            { cell(&row.desired) }
                            { cell(&row.reported) }
                            { cell(&row.delta) }
                        </tr>
                    }) }
                </tbody>
            </table>
        </div>
    }
}

fn outbox(edits: &[EditSummary]) -> Html {
    let shown: Vec<&EditSummary> = edits
        .iter()
        .filter(|e| {
            !matches!(
                e.status,
                EditStatus::Applied { .. } | EditStatus::Superseded { .. }
            )
        })
        .collect();
    if shown.is_empty() {
        return Html::default();
    }
    html! {
        <section aria-label="Edits not applied yet" class="outbox">
            <h3>{ "Edits not applied yet" }</h3>
            <ul class="plain-list" id="shadow-outbox">
                { for shown.iter().map(|edit| html! {
                    <li data-edit={edit.id.to_string()}>
                        { edit_badge(&edit.status) }
                        <code>{ edit.desired.to_string() }</code>
                        { outcome(&edit.status) }
                    </li>
                }) }
            </ul>
        </section>
    }
}

fn outcome(status: &EditStatus) -> Html {
    match status {
        EditStatus::Conflict {
            reason,
            current_version,
        } => html! {
            <p class="small">{ format!("{reason} The shadow is at version {}; review it and send the edit again if it still applies.", current_version.map_or_else(|| "unknown".to_owned(), |v| v.to_string())) }</p>
        },
        EditStatus::Rejected { code, message } => html! {
            <p class="small">{ format!("Refused by the Shadow service ({code}): {message}") }</p>
        },
        _ => Html::default(),
    }
}

fn history(items: &[HistoryItem]) -> Html {
    if items.is_empty() {
        return Html::default();
    }
    html! {
        <details class="history" id="shadow-history">
            <summary>{ format!("History ({} versions)", items.len()) }</summary>
            <ol class="plain-list">
                { for items.iter().map(|item| html! {
                    <li data-version={item.version.to_string()}>
                        <strong class="mono">{ format!("v{}", item.version) }</strong>
                        <ul class="changes">
                            { for item.changes.iter().map(|change| html! {
                                <li class="mono">
                                    { &change.path }{ ": " }
                                    <span class="before">{ change.before.as_ref().map_or_else(|| "(absent)".to_owned(), show) }</span>
                                    { " → " }
                                    <span class="after">{ change.after.as_ref().map_or_else(|| "(absent)".to_owned(), show) }</span>
                                </li>
                            }) }
                        </ul>
                    </li>
                }) }
            </ol>
        </details>
    }
}

/// Props of [`JsonEditor`].
#[derive(Debug, Properties, PartialEq)]
pub struct JsonEditorProps {
    /// The shadow's desired section now.
    pub desired: Value,
    /// Sends a checked patch.
    pub on_send: Callback<Value>,
    /// Clears every desired key.
    pub on_clear: Callback<MouseEvent>,
}

/// A JSON editor for the desired section, checked against AWS's rules as you type.
#[component]
pub fn JsonEditor(props: &JsonEditorProps) -> Html {
    let text = use_state(|| serde_json::to_string_pretty(&props.desired).unwrap_or_default());
    let checked = parse_desired(&text);
    let oninput = {
        let text = text.clone();
        Callback::from(move |event: InputEvent| {
            text.set(event.target_unchecked_into::<HtmlTextAreaElement>().value());
        })
    };
    let onclick = {
        let on_send = props.on_send.clone();
        let checked = checked.clone();
        Callback::from(move |_: MouseEvent| {
            if let Ok(patch) = &checked {
                on_send.emit(patch.clone());
            }
        })
    };
    let empty = props.desired.as_object().is_none_or(Map::is_empty);
    html! {
        <details class="json-editor">
            <summary>{ "Edit desired state as JSON" }</summary>
            <label for="desired-json" class="small muted">{ "Merged into desired; null removes a key." }</label>
            <textarea id="desired-json" class="input mono" rows="6" spellcheck="false" value={(*text).clone()} {oninput} aria-invalid={checked.is_err().to_string()} aria-describedby="desired-json-check" />
            <p id="desired-json-check" class={if checked.is_ok() { "small muted" } else { "small error" }}>
                { match &checked { Ok(_) => "Valid: a JSON object within AWS's limits.".to_owned(), Err(why) => why.clone() } }
            </p>
            <div class="buttons">
                <button type="button" class="button primary" id="desired-send" disabled={checked.is_err()} {onclick}>{ "Send desired" }</button>
                <button type="button" class="button" id="desired-clear" disabled={empty} onclick={props.on_clear.clone()}>{ "Clear desired" }</button>
            </div>
        </details>
    }
}
