use companion_model::{
    DeviceDetail, DeviceGet, FleetChanged, IpcError, JobSummary, Presence, ShadowRef,
    TelemetryFollow,
};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::components::{RawLogPanel, ShadowWorkbench, TelemetryPanel};
use crate::hooks::use_event;
use crate::ipc;
use crate::state::Load;
use crate::workbench::ago;

/// Props of [`DevicePage`].
#[derive(Debug, Properties, PartialEq)]
pub struct DevicePageProps {
    /// The thing shown.
    pub thing: AttrValue,
    /// Whether the app is connected to the broker now; when not, presence is the last known.
    #[prop_or(true)]
    pub connected: bool,
}

/// One device: its state, its shadows (controls and the workbench), live charts, jobs and
/// raw messages.
#[component]
pub fn DevicePage(props: &DevicePageProps) -> Html {
    let detail = use_state(|| Load::<DeviceDetail>::Pending);
    let revision = use_state(|| 0_u64);
    let shadow = use_state(|| None::<String>);
    // Live telemetry of this device only, while the page is open.
    use_effect_with(props.thing.clone(), |thing| {
        let follow = TelemetryFollow {
            thing: Some(thing.to_string()),
        };
        spawn_local(async move {
            let _ = ipc::call(&follow).await;
        });
        || {
            spawn_local(async move {
                let _ = ipc::call(&TelemetryFollow { thing: None }).await;
            });
        }
    });
    {
        let detail = detail.clone();
        let deps = (props.thing.clone(), *revision);
        use_effect_with(deps, move |(thing, _)| {
            let request = DeviceGet {
                thing: thing.to_string(),
            };
            spawn_local(async move { detail.set(ipc::call(&request).await.into()) });
        });
    }
    let on_fleet = {
        let revision = revision.clone();
        Callback::from(move |event: Result<FleetChanged, IpcError>| {
            if let Ok(event) = event {
                revision.set(event.revision + 1);
            }
        })
    };
    use_event::<FleetChanged>(on_fleet, Callback::noop());

    let detail = match &*detail {
        Load::Pending => {
            return html! { <p class="muted" aria-busy="true">{ "Loading the device…" }</p> };
        }
        Load::Failed(error) => {
            return html! { <p class="error" role="alert">{ &error.message }</p> };
        }
        Load::Ready(detail) => detail,
    };
    let current = ShadowRef {
        thing: props.thing.to_string(),
        name: (*shadow).clone(),
    };
    html! {
        <div class="stack device" data-thing={props.thing.clone()}>
            { facts(detail, props.connected) }
            <section class="card" aria-labelledby="shadow-title">
                <h2 id="shadow-title">{ "Shadow" }</h2>
                { shadow_tabs(&detail.shadows, &shadow) }
                <ShadowWorkbench shadow={current} />
            </section>
            <TelemetryPanel thing={props.thing.clone()} series={detail.series.clone()} />
            { jobs(&detail.jobs) }
            <RawLogPanel thing={props.thing.clone()} />
        </div>
    }
}

fn facts(detail: &DeviceDetail, connected: bool) -> Html {
    let thing = &detail.summary;
    let now = js_sys::Date::now() as i64;
    let (presence, label) = match thing.presence {
        Presence::Online => ("online", "Online"),
        Presence::Offline => ("offline", "Offline"),
        Presence::Unknown => ("unknown", "Not seen yet"),
    };
    let dash = || "—".to_owned();
    html! {
        <section class="card" aria-label="Connection">
            <dl class="facts">
                <dt>{ "State" }</dt>
                <dd id="device-presence" data-presence={presence}>
                    <span class={classes!("presence", presence)} aria-hidden="true"></span>{ label }
                    if !connected {
                        <span class="muted small">{ " — last known: the app is not connected" }</span>
                    }
                </dd>
                <dt>{ "Last seen" }</dt>
                <dd>{ thing.last_seen_ms.map_or_else(dash, |ms| ago(ms, now)) }</dd>
                if let Some(reason) = &thing.disconnect_reason {
                    <dt>{ "Disconnect reason" }</dt>
                    <dd class="mono">{ reason }</dd>
                }
                <dt>{ "Model" }</dt>
                <dd>{ thing.model.clone().unwrap_or_else(dash) }</dd>
                <dt>{ "Firmware" }</dt>
                <dd class="mono">{ thing.firmware.clone().unwrap_or_else(dash) }</dd>
                if let Some(dbm) = detail.signal_dbm {
                    <dt>{ "Signal" }</dt>
                    <dd>{ format!("{dbm} dBm") }</dd>
                }
            </dl>
        </section>
    }
}

fn shadow_tabs(shadows: &[Option<String>], current: &UseStateHandle<Option<String>>) -> Html {
    if shadows.len() < 2 {
        return Html::default();
    }
    let tabs = shadows.iter().map(|name| {
        let selected = **current == *name;
        let onclick = {
            let current = current.clone();
            let name = name.clone();
            Callback::from(move |_: MouseEvent| current.set(name.clone()))
        };
        let label = name.clone().unwrap_or_else(|| "Classic".to_owned());
        html! {
            <button
                type="button"
                role="tab"
                class="chip"
                id={format!("shadow-tab-{}", name.as_deref().unwrap_or("classic"))}
                aria-selected={selected.to_string()}
                aria-pressed={selected.to_string()}
                {onclick}
            >
                { label }
            </button>
        }
    });
    html! { <div class="chips" role="tablist" aria-label="Shadows">{ for tabs }</div> }
}

fn jobs(jobs: &[JobSummary]) -> Html {
    let body = if jobs.is_empty() {
        html! { <p class="muted">{ "No jobs for this device. Jobs created for it appear here with their progress." }</p> }
    } else {
        html! {
            <div class="table-wrap">
                <table class="table" id="device-jobs">
                    <thead>
                        <tr>
                            <th scope="col">{ "Job" }</th>
                            <th scope="col">{ "Status" }</th>
                            <th scope="col">{ "Progress" }</th>
                        </tr>
                    </thead>
                    <tbody>
                        { for jobs.iter().map(|job| html! {
                            <tr data-job={job.job_id.clone()}>
                                <td class="mono">{ &job.job_id }</td>
                                <td><span class="badge">{ &job.status }</span></td>
                                <td>{ progress(job.progress) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            </div>
        }
    };
    html! {
        <section class="card" aria-labelledby="jobs-title">
            <h2 id="jobs-title">{ "Jobs" }</h2>
            { body }
        </section>
    }
}

fn progress(value: Option<f64>) -> Html {
    match value {
        Some(pct) => {
            let pct = pct.clamp(0.0, 100.0);
            html! {
                <span class="progress">
                    <progress max="100" value={format!("{pct:.0}")}></progress>
                    { format!(" {pct:.0} %") }
                </span>
            }
        }
        None => html! { <span class="muted">{ "—" }</span> },
    }
}
