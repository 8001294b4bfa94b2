use companion_model::{IpcError, RawEntry, RawLog, RawLogExport, TelemetryFrame};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::hooks::use_event;
use crate::ipc;
use crate::state::Load;

/// Props of [`RawLogPanel`].
#[derive(Debug, Properties, PartialEq)]
pub struct RawLogPanelProps {
    /// The device.
    pub thing: AttrValue,
}

/// Messages shown; older ones stay in the store and the export.
const SHOWN: u32 = 100;
/// The log is read again at most this often while new messages arrive.
const REFRESH_MS: f64 = 1000.0;

/// The device's newest raw MQTT messages, with pause, a topic/payload filter and export.
#[component]
pub fn RawLogPanel(props: &RawLogPanelProps) -> Html {
    let entries = use_state(|| Load::<Vec<RawEntry>>::Pending);
    let paused = use_state(|| false);
    let filter = use_state(String::new);
    let tick = use_state(|| 0_u32);
    let exported = use_state(|| None::<Result<String, IpcError>>);
    let last_refresh = use_mut_ref(|| 0.0_f64);
    {
        let entries = entries.clone();
        use_effect_with((props.thing.clone(), *tick), move |(thing, _)| {
            let request = RawLog {
                thing: thing.to_string(),
                limit: SHOWN,
            };
            spawn_local(async move { entries.set(ipc::call(&request).await.into()) });
        });
    }
    {
        let thing = props.thing.clone();
        let tick = tick.clone();
        let paused = *paused;
        let on_frame = Callback::from(move |frame: Result<TelemetryFrame, IpcError>| {
            let mine = matches!(frame, Ok(ref f) if f.updates.iter().any(|u| u.thing == *thing));
            let now = js_sys::Date::now();
            if mine && !paused && now - *last_refresh.borrow() >= REFRESH_MS {
                *last_refresh.borrow_mut() = now;
                tick.set(tick.wrapping_add(1));
            }
        });
        use_event::<TelemetryFrame>(on_frame, Callback::noop());
    }
    let toggle = {
        let paused = paused.clone();
        Callback::from(move |_: MouseEvent| paused.set(!*paused))
    };
    let on_filter = {
        let filter = filter.clone();
        Callback::from(move |event: InputEvent| {
            filter.set(event.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    let export = {
        let thing = props.thing.to_string();
        let exported = exported.clone();
        Callback::from(move |_: MouseEvent| {
            let request = RawLogExport {
                thing: thing.clone(),
            };
            let exported = exported.clone();
            spawn_local(async move {
                let reply = ipc::call(&request).await;
                exported.set(Some(reply.map(|file| {
                    format!("Saved {} messages to {}", file.records, file.path)
                })));
            });
        })
    };
    let needle = filter.to_lowercase();
    let body = match &*entries {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading messages…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(list) if list.is_empty() => {
            html! { <p class="muted">{ "No messages from this device yet." }</p> }
        }
        Load::Ready(list) => {
            let shown: Vec<&RawEntry> = list
                .iter()
                .filter(|e| {
                    needle.is_empty()
                        || e.topic.to_lowercase().contains(&needle)
                        || e.payload.to_lowercase().contains(&needle)
                })
                .collect();
            html! {
                <ol class="raw-log plain-list" id="raw-log" data-count={shown.len().to_string()}>
                    { for shown.iter().map(|entry| html! {
                        <li>
                            <span class="small muted mono">{ time_of_day(entry.received_ms) }{ " · " }{ &entry.topic }{ format!(" · {} B", entry.bytes) }</span>
                            <code class="payload">{ &entry.payload }</code>
                        </li>
                    }) }
                </ol>
            }
        }
    };
    html! {
        <section class="card" aria-labelledby="raw-title">
            <h2 id="raw-title">{ "Raw messages" }</h2>
            <div class="toolbar">
                <button type="button" class="button" id="raw-pause" aria-pressed={paused.to_string()} onclick={toggle}>
                    { if *paused { "Resume" } else { "Pause" } }
                </button>
                <input type="search" class="search" id="raw-filter" placeholder="Filter topic or payload" aria-label="Filter messages by topic or payload" oninput={on_filter} />
                <button type="button" class="button" id="raw-export" onclick={export}>{ "Export JSON" }</button>
            </div>
            { match &*exported {
                None => Html::default(),
                Some(Ok(text)) => html! { <p class="muted small" role="status" id="raw-exported">{ text }</p> },
                Some(Err(error)) => html! { <p class="error" role="alert">{ &error.message }</p> },
            } }
            { body }
        </section>
    }
}

/// `HH:MM:SS.mmm` in local time.
fn time_of_day(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}
