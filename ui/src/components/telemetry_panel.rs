use std::collections::BTreeMap;

use companion_model::{Chart, ChartSpan, IpcError, TelemetryChart, TelemetryFrame};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::hooks::use_event;
use crate::ipc;
use crate::state::Load;
use crate::workbench::chart_shape;

/// Props of [`TelemetryPanel`].
#[derive(Debug, Properties, PartialEq)]
pub struct TelemetryPanelProps {
    /// The device.
    pub thing: AttrValue,
    /// Its series, sorted.
    pub series: Vec<String>,
}

/// The drawing's size in SVG units (scaled to the card's width).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// The live chart is read again at most this often, however fast frames arrive.
const REFRESH_MS: f64 = 1000.0;
/// Up to this many points are also drawn as dots.
const FEW_POINTS: usize = 30;

/// Live values of a device's series, and a chart of one over 5 min, 1 h, 24 h or 7 d.
#[component]
pub fn TelemetryPanel(props: &TelemetryPanelProps) -> Html {
    let selected = use_state(|| props.series.first().cloned());
    let span = use_state(ChartSpan::default);
    let chart = use_state(|| Load::<Chart>::Pending);
    let latest = use_state(BTreeMap::<String, f64>::new);
    let tick = use_state(|| 0_u32);
    let last_refresh = use_mut_ref(|| 0.0_f64);
    {
        let chart = chart.clone();
        let deps = (props.thing.clone(), (*selected).clone(), *span, *tick);
        use_effect_with(deps, move |(thing, series, span, _)| {
            if let Some(series) = series.clone() {
                let request = TelemetryChart {
                    thing: thing.to_string(),
                    series,
                    span: *span,
                };
                spawn_local(async move { chart.set(ipc::call(&request).await.into()) });
            }
        });
    }
    {
        let thing = props.thing.clone();
        let latest = latest.clone();
        let tick = tick.clone();
        let span = *span;
        let on_frame = Callback::from(move |frame: Result<TelemetryFrame, IpcError>| {
            let Ok(frame) = frame else { return };
            let mine: Vec<_> = frame.updates.iter().filter(|u| u.thing == *thing).collect();
            if mine.is_empty() {
                return;
            }
            let mut next = (*latest).clone();
            for update in mine {
                next.insert(update.series.clone(), update.value);
            }
            latest.set(next);
            let now = js_sys::Date::now();
            if span == ChartSpan::FiveMinutes && now - *last_refresh.borrow() >= REFRESH_MS {
                *last_refresh.borrow_mut() = now;
                tick.set(tick.wrapping_add(1));
            }
        });
        use_event::<TelemetryFrame>(on_frame, Callback::noop());
    }
    if props.series.is_empty() {
        return html! {
            <section class="card" aria-labelledby="telemetry-title">
                <h2 id="telemetry-title">{ "Telemetry" }</h2>
                <p class="muted">{ "No telemetry from this device yet. Numeric values it publishes on its telemetry topic are charted here." }</p>
            </section>
        };
    }
    let series_chips = props.series.iter().map(|name| {
        let pressed = selected.as_deref() == Some(name.as_str());
        let onclick = {
            let selected = selected.clone();
            let name = name.clone();
            Callback::from(move |_: MouseEvent| selected.set(Some(name.clone())))
        };
        let value = latest.get(name).map(|v| format!("{}", round(*v))).unwrap_or_default();
        html! {
            <button type="button" class="chip series" aria-pressed={pressed.to_string()} data-series={name.clone()} {onclick}>
                <span>{ short(name) }</span>
                <span class="series-value mono">{ value }</span>
            </button>
        }
    });
    let span_chips = ChartSpan::ALL.into_iter().map(|choice| {
        let setter = span.clone();
        let onclick = Callback::from(move |_: MouseEvent| setter.set(choice));
        html! {
            <button type="button" class="chip" aria-pressed={(choice == *span).to_string()} {onclick}>{ choice.label() }</button>
        }
    });
    html! {
        <section class="card" aria-labelledby="telemetry-title">
            <h2 id="telemetry-title">{ "Telemetry" }</h2>
            <div class="chips" role="group" aria-label="Series">{ for series_chips }</div>
            <div class="chips" role="group" aria-label="Time span">{ for span_chips }</div>
            { chart_view(&chart, selected.as_deref().unwrap_or_default()) }
        </section>
    }
}

fn chart_view(chart: &Load<Chart>, series: &str) -> Html {
    match chart {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Reading the series…" }</p> },
        Load::Failed(error) => html! { <p class="error" role="alert">{ &error.message }</p> },
        Load::Ready(chart) => {
            match chart_shape(&chart.points, chart.from_ms, chart.to_ms, WIDTH, HEIGHT) {
                None => html! { <p class="muted">{ "No samples in this time span." }</p> },
                Some(shape) => html! {
                    <figure class="chart" id="telemetry-chart" data-points={chart.points.len().to_string()}>
                        <svg viewBox={format!("0 0 {WIDTH} {HEIGHT}")} preserveAspectRatio="none" role="img" aria-label={format!("{series}: {} points", chart.points.len())}>
                            <path class="chart-band" d={shape.band} />
                            <path class="chart-line" d={shape.line} vector-effect="non-scaling-stroke" />
                            // Few points make no line: mark each one.
                            if shape.dots.len() <= FEW_POINTS {
                                { for shape.dots.iter().map(|(x, y)| html! {
                                    <circle class="chart-dot" cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="3" vector-effect="non-scaling-stroke" />
                                }) }
                            }
                        </svg>
                        <figcaption class="small muted">
                            <span>{ format!("{} – {}", round(shape.low), round(shape.high)) }</span>
                            <span>{ format!("{} points (min–max band, average line)", chart.points.len()) }</span>
                        </figcaption>
                    </figure>
                },
            }
        }
    }
}

/// The series name without the envelope prefix (`sample.temperature_c` → `temperature_c`).
fn short(name: &str) -> &str {
    name.strip_prefix("sample.").unwrap_or(name)
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
