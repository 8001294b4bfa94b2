use companion_model::{
    ActivityEvent, ActivityExport, ActivityList, AuditEntry, ExportFormat, ExportRecords, IpcError,
    ProvisionHistory,
};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::ipc;
use crate::state::Load;

/// Rows shown per list; exports hold more.
const SHOWN: u32 = 200;

/// What happened: provisioning attempts step by step, connection changes and errors, with
/// exports as CSV and JSON.
#[component]
pub fn ActivityPage() -> Html {
    let attempts = use_state(|| Load::<Vec<AuditEntry>>::Pending);
    let events = use_state(|| Load::<Vec<ActivityEvent>>::Pending);
    let exported = use_state(|| None::<Result<String, IpcError>>);
    {
        let (attempts, events) = (attempts.clone(), events.clone());
        use_effect_with((), move |()| {
            spawn_local(async move {
                attempts.set(ipc::call(&ProvisionHistory { limit: SHOWN }).await.into());
                events.set(ipc::call(&ActivityList { limit: SHOWN }).await.into());
            });
        });
    }
    let export = {
        let exported = exported.clone();
        Callback::from(move |(records, format): (ExportRecords, ExportFormat)| {
            let exported = exported.clone();
            spawn_local(async move {
                let reply = ipc::call(&ActivityExport { records, format }).await;
                exported.set(Some(reply.map(|file| {
                    format!("Saved {} records to {}", file.records, file.path)
                })));
            });
        })
    };
    let buttons = |records: ExportRecords, slug: &str| {
        html! {
            <div class="buttons">
                <button type="button" class="button" id={format!("export-{slug}-csv")} onclick={export.reform(move |_: MouseEvent| (records, ExportFormat::Csv))}>{ "Export CSV" }</button>
                <button type="button" class="button" id={format!("export-{slug}-json")} onclick={export.reform(move |_: MouseEvent| (records, ExportFormat::Json))}>{ "Export JSON" }</button>
            </div>
        }
    };
    html! {
        <div class="stack activity">
            { match &*exported {
                None => Html::default(),
                Some(Ok(text)) => html! { <p class="muted small" role="status" id="activity-exported">{ text }</p> },
                Some(Err(error)) => html! { <p class="error" role="alert">{ &error.message }</p> },
            } }
            <section class="card" aria-labelledby="attempts-title">
                <h2 id="attempts-title">{ "Provisioning" }</h2>
                { attempts_body(&attempts) }
                { buttons(ExportRecords::Provisioning, "provisioning") }
            </section>
            <section class="card" aria-labelledby="events-title">
                <h2 id="events-title">{ "Connection and errors" }</h2>
                { events_body(&events) }
                { buttons(ExportRecords::Events, "events") }
            </section>
        </div>
    }
}

fn attempts_body(attempts: &Load<Vec<AuditEntry>>) -> Html {
    match attempts {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading the audit…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(list) if list.is_empty() => html! {
            <p class="muted">{ "No provisioning yet. Each attempt is recorded here with its steps, result and certificate." }</p>
        },
        Load::Ready(list) => html! {
            <div class="table-wrap">
                <table class="table" id="audit-table">
                    <thead><tr>
                        <th scope="col">{ "When" }</th><th scope="col">{ "Device" }</th><th scope="col">{ "Result" }</th>
                        <th scope="col" class="wide">{ "Thing" }</th><th scope="col" class="wide">{ "Certificate" }</th>
                    </tr></thead>
                    <tbody>
                        { for list.iter().map(|a| html! {
                            <tr data-attempt={a.id.to_string()} data-result={a.result.clone()} title={a.error.clone().unwrap_or_default()}>
                                <td>{ when(a.started_ms) }</td>
                                <td class="mono">{ &a.device }</td>
                                <td><span class={result_class(&a.result)}>{ a.result.replace('_', " ") }</span></td>
                                <td class="wide mono">{ a.thing_name.clone().unwrap_or_default() }</td>
                                <td class="wide mono">{ certificate(a) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
        },
    }
}

fn certificate(attempt: &AuditEntry) -> String {
    match &attempt.certificate_id {
        None => String::new(),
        Some(id) if attempt.certificate_delivered => id.chars().take(12).collect(),
        Some(id) => format!(
            "{} (issued, not delivered)",
            id.chars().take(12).collect::<String>()
        ),
    }
}

fn result_class(result: &str) -> &'static str {
    match result {
        "succeeded" => "badge ok",
        "failed" => "badge warn",
        "running" => "badge pending",
        _ => "badge",
    }
}

fn events_body(events: &Load<Vec<ActivityEvent>>) -> Html {
    match events {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading events…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(list) if list.is_empty() => html! { <p class="muted">{ "Nothing yet." }</p> },
        Load::Ready(list) => html! {
            <ol class="plain-list events" id="activity-events">
                { for list.iter().map(|e| html! {
                    <li data-kind={e.kind.clone()}>
                        <span class="small muted">{ when(e.at_ms) }</span>
                        <span class={if e.kind == "error" { "error" } else { "" }}>{ &e.summary }</span>
                    </li>
                }) }
            </ol>
        },
    }
}

/// Local date and time, `YYYY-MM-DD HH:MM:SS`.
fn when(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}
