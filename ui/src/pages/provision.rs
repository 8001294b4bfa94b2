use std::collections::{BTreeMap, BTreeSet};

use companion_model::{
    AttemptAction, AttemptOutcome, AttemptView, IpcError, NetworkView, ProvisionAct,
    ProvisionChanged, ProvisionNetwork, ProvisionScan, ProvisionStart, Remedy, ScannedDevice,
    Secret, StepStatus, StepView, WifiInput,
};
use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::hooks::use_event;
use crate::ipc;
use crate::provisioning::{
    Attempts, AttemptsAction, ScanFilter, ScanList, bars, parse_qr, visible,
};

/// While an attempt is working, how often the continuous scan looks whether it may go on.
const PAUSED_CHECK_MS: i32 = 1_000;

/// Props of [`ProvisionPage`].
#[derive(Debug, Properties, PartialEq)]
pub struct ProvisionPageProps {
    /// Opens a provisioned thing's device page.
    pub on_open_device: Callback<String>,
}

/// Finding nearby devices and taking them from the box to online: one at a time through the
/// wizard, or a batch with one network and one proof.
#[component]
pub fn ProvisionPage(props: &ProvisionPageProps) -> Html {
    let scan_list = use_reducer(ScanList::default);
    let radio = use_state(String::new);
    let scanning = use_state(|| false);
    let failure = use_state(|| None::<IpcError>);
    // Kept apart: a scan that works must not wipe a start's error, nor the other way round.
    let scan_failure = use_state(|| None::<IpcError>);
    let selected = use_state(BTreeSet::<String>::new);
    let attempts = use_reducer(Attempts::default);
    let focus = use_state(|| None::<i64>);
    let filter = use_state(|| ScanFilter {
        hide_provisioned: true,
        ..ScanFilter::default()
    });
    let continuous = use_state(|| true);
    let pop = use_node_ref();
    let username = use_node_ref();
    let password = use_node_ref();
    let batch_ssid = use_node_ref();
    let batch_pass = use_node_ref();
    let batch_remember = use_node_ref();
    let qr_note = use_state(|| None::<Result<String, String>>);

    let scan_once = {
        let (scan_list, radio, scanning, failure) = (
            scan_list.dispatcher(),
            radio.clone(),
            scanning.clone(),
            scan_failure.clone(),
        );
        move || {
            let (scan_list, radio, scanning, failure) = (
                scan_list.clone(),
                radio.clone(),
                scanning.clone(),
                failure.clone(),
            );
            async move {
                scanning.set(true);
                let ok = match ipc::call(&ProvisionScan {}).await {
                    Ok(reply) => {
                        scan_list.dispatch(reply.devices);
                        radio.set(reply.radio);
                        failure.set(None);
                        true
                    }
                    Err(error) => {
                        failure.set(Some(error));
                        false
                    }
                };
                scanning.set(false);
                ok
            }
        }
    };
    let scan = {
        let scan_once = scan_once.clone();
        Callback::from(move |()| {
            let scanned = scan_once();
            spawn_local(async move {
                scanned.await;
            });
        })
    };
    // Continuous scanning while the page is open (and the box is ticked): each scan listens
    // for its window, then the next starts; it waits while an attempt works, and backs off
    // after a failure.
    let paused = use_mut_ref(|| false);
    *paused.borrow_mut() = attempts.any_running();
    {
        let (scan_once, continuous) = (scan_once.clone(), continuous.clone());
        let paused = paused.clone();
        use_effect_with(*continuous, move |on| {
            let alive = Rc::new(Cell::new(true));
            if *on {
                let alive = alive.clone();
                spawn_local(async move {
                    while alive.get() {
                        if *paused.borrow() {
                            sleep_ms(PAUSED_CHECK_MS).await;
                        } else if !scan_once().await {
                            // No radio or no permission: say so once and stop, rather than ask
                            // again and again; "Scan again" tries when the user wants.
                            if alive.get() {
                                continuous.set(false);
                            }
                            break;
                        }
                    }
                });
            }
            move || alive.set(false)
        });
    }
    {
        let attempts = attempts.dispatcher();
        let on_change = Callback::from(move |event: Result<ProvisionChanged, IpcError>| {
            if let Ok(event) = event {
                attempts.dispatch(AttemptsAction::Changed(event.attempt));
            }
        });
        use_event::<ProvisionChanged>(on_change, Callback::noop());
    }

    let text = |node: &NodeRef| {
        node.cast::<HtmlInputElement>()
            .map(|input| input.value())
            .unwrap_or_default()
    };
    let start = {
        let (selected, attempts, focus, failure) = (
            selected.clone(),
            attempts.dispatcher(),
            focus.clone(),
            failure.clone(),
        );
        let scan_list = scan_list.clone();
        let refs = (
            pop.clone(),
            username.clone(),
            password.clone(),
            batch_ssid.clone(),
            batch_pass.clone(),
            batch_remember.clone(),
        );
        Callback::from(move |batch: bool| {
            let chosen: Vec<ScannedDevice> = scan_list
                .devices
                .iter()
                .filter(|(d, _)| selected.contains(&d.id))
                .map(|(d, _)| d.clone())
                .collect();
            if chosen.is_empty() {
                failure.set(Some(IpcError::new(
                    companion_model::ErrorCode::InvalidInput,
                    "Select a device in the list first.",
                )));
                return;
            }
            let optional = |value: String| (!value.is_empty()).then_some(value);
            let wifi = batch.then(|| WifiInput {
                ssid: text(&refs.3),
                passphrase: Secret(text(&refs.4)),
                remember: refs
                    .5
                    .cast::<HtmlInputElement>()
                    .is_some_and(|i| i.checked()),
            });
            if wifi.as_ref().is_some_and(|w| w.ssid.trim().is_empty()) {
                failure.set(Some(IpcError::new(
                    companion_model::ErrorCode::InvalidInput,
                    "Batch mode needs the network every device joins: enter its name and password.",
                )));
                return;
            }
            for device in chosen {
                let request = ProvisionStart {
                    device,
                    pop: optional(text(&refs.0)).map(Secret),
                    username: optional(text(&refs.1)),
                    password: optional(text(&refs.2)).map(Secret),
                    wifi: wifi.clone(),
                };
                let (attempts, focus, failure) = (attempts.clone(), focus.clone(), failure.clone());
                spawn_local(async move {
                    match ipc::call(&request).await {
                        Ok(view) => {
                            let id = view.id;
                            attempts.dispatch(AttemptsAction::Started(view));
                            if focus.is_none() || !batch {
                                focus.set(Some(id));
                            }
                            failure.set(None);
                        }
                        Err(error) => failure.set(Some(error)),
                    }
                });
            }
        })
    };
    let on_qr = {
        let (qr_note, selected, scan_list, pop, username) = (
            qr_note.clone(),
            selected.clone(),
            scan_list.clone(),
            pop.clone(),
            username.clone(),
        );
        Callback::from(move |event: Event| {
            let value = event.target_unchecked_into::<HtmlInputElement>().value();
            if value.trim().is_empty() {
                qr_note.set(None);
                return;
            }
            match parse_qr(&value) {
                Ok(qr) => {
                    if let (Some(input), Some(secret)) = (pop.cast::<HtmlInputElement>(), &qr.pop) {
                        input.set_value(secret);
                    }
                    if let (Some(input), Some(name)) =
                        (username.cast::<HtmlInputElement>(), &qr.username)
                    {
                        input.set_value(name);
                    }
                    let found = scan_list.devices.iter().find(|(d, _)| d.name == qr.name);
                    match found {
                        Some((device, _)) => {
                            selected.set(BTreeSet::from([device.id.clone()]));
                            qr_note.set(Some(Ok(format!(
                                "Selected {} with its proof from the QR code.",
                                qr.name
                            ))));
                        }
                        None => qr_note.set(Some(Err(format!(
                            "{} is not in range yet: scan again near the device.",
                            qr.name
                        )))),
                    }
                }
                Err(why) => qr_note.set(Some(Err(why))),
            }
        })
    };

    let provisioned = attempts.provisioned();
    let shown = visible(&scan_list.devices, &filter, &provisioned);
    let hidden = scan_list.devices.len() - shown.len();
    let rows = shown
        .into_iter()
        .map(|(device, missed)| {
            let checked = selected.contains(&device.id);
            let toggle = {
                let (selected, id) = (selected.clone(), device.id.clone());
                Callback::from(move |_: Event| {
                    let mut next = (*selected).clone();
                    if !next.remove(&id) {
                        next.insert(id.clone());
                    }
                    selected.set(next);
                })
            };
            let level = bars(device.rssi.map(i32::from));
            html! {
                <li class={classes!("scan-row", (*missed > 0).then_some("fading"))} data-device={device.name.clone()}>
                    <label class="scan-pick">
                        <input type="checkbox" checked={checked} onchange={toggle} aria-label={format!("Select {}", device.name)} />
                        <span class="mono">{ &device.name }</span>
                    </label>
                    { signal(level, device.rssi.map(i32::from)) }
                </li>
            }
        });
    let on_filter = {
        let filter = filter.clone();
        Callback::from(move |event: InputEvent| {
            filter.set(ScanFilter {
                name: event.target_unchecked_into::<HtmlInputElement>().value(),
                ..(*filter).clone()
            });
        })
    };
    let on_min_rssi = {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            let value = event.target_unchecked_into::<HtmlSelectElement>().value();
            filter.set(ScanFilter {
                min_rssi: value.parse().ok(),
                ..(*filter).clone()
            });
        })
    };
    let on_hide = {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            filter.set(ScanFilter {
                hide_provisioned: event.target_unchecked_into::<HtmlInputElement>().checked(),
                ..(*filter).clone()
            });
        })
    };
    let on_continuous = {
        let continuous = continuous.clone();
        Callback::from(move |event: Event| {
            continuous.set(event.target_unchecked_into::<HtmlInputElement>().checked());
        })
    };
    let focused = focus.and_then(|id| attempts.by_id.get(&id).cloned());
    html! {
        <div class="stack provision">
            <section class="card" aria-labelledby="scan-title">
                <h2 id="scan-title">{ "Nearby devices" }</h2>
                <p class="muted small" id="scan-radio">{ if radio.is_empty() { "Scanning…".to_owned() } else { format!("{} · devices offering provisioning", *radio) } }</p>
                <div class="toolbar">
                    <label class={classes!("check", continuous.then_some("live"))}><input type="checkbox" id="scan-continuous" checked={*continuous} onchange={on_continuous} />{ "Keep scanning" }</label>
                    if !*continuous {
                        <button type="button" class="button" id="scan-again" disabled={*scanning} onclick={ let scan = scan.clone(); Callback::from(move |_: MouseEvent| scan.emit(())) }>
                            { if *scanning { "Scanning…" } else { "Scan again" } }
                        </button>
                    }
                    <input type="search" class="search" placeholder="Filter by name" aria-label="Filter devices by name" oninput={on_filter} />
                    <select class="input" id="scan-min-rssi" aria-label="Weakest signal shown" onchange={on_min_rssi}>
                        <option value="" selected={filter.min_rssi.is_none()}>{ "Any signal" }</option>
                        { for [-60, -70, -80].into_iter().map(|dbm| html! {
                            <option value={dbm.to_string()} selected={filter.min_rssi == Some(dbm)}>{ format!("{dbm} dBm or stronger") }</option>
                        }) }
                    </select>
                    <label class="check"><input type="checkbox" id="scan-hide-provisioned" checked={filter.hide_provisioned} onchange={on_hide} />{ "Hide provisioned" }</label>
                </div>
                if let Some(error) = &*scan_failure {
                    <p class="error" role="alert" id="scan-error">{ &error.message }</p>
                }
                if radio.starts_with("Simulated") {
                    <p class="notice small" id="sandbox-labels">
                        { "The local sandbox's new devices are labelled like real ones: plugs and thermostats take the PoP " }
                        <code>{ "abcd1234" }</code>{ ", lights the username " }<code>{ "wifiprov" }</code>{ " and password " }<code>{ "light-secret" }</code>
                        { ". They see the network " }<code>{ "Workshop" }</code>{ " (password " }<code>{ "provision-me" }</code>{ ")." }
                    </p>
                }
                if scan_list.devices.is_empty() && !*scanning {
                    <p class="muted">{ "No device offers provisioning nearby. Power the device on (it advertises as PROV_…) and scan again." }</p>
                }
                if hidden > 0 {
                    <p class="muted small" id="scan-hidden">{ format!("{hidden} more hidden by the filters.") }</p>
                }
                <ul class="plain-list scan-list" id="scan-list">{ for rows }</ul>
            </section>
            <section class="card" aria-labelledby="proof-title">
                <h2 id="proof-title">{ "Proof of possession" }</h2>
                <div class="form">
                    <label>{ "QR code payload (paste)" }<input class="input mono" id="qr-payload" placeholder="{\"ver\":\"v1\",\"name\":\"PROV_…\",\"pop\":\"…\"}" onchange={on_qr} /></label>
                    if let Some(note) = &*qr_note {
                        { match note { Ok(text) => html! { <p class="muted small">{ text }</p> }, Err(text) => html! { <p class="error small">{ text }</p> } } }
                    }
                    <label>{ "PoP (security 1)" }<input ref={pop} id="provision-pop" class="input" type="password" autocomplete="off" /></label>
                    <details>
                        <summary class="small">{ "Security 2 (username and password)" }</summary>
                        <label>{ "Username" }<input ref={username} id="provision-username" class="input" placeholder="wifiprov" /></label>
                        <label>{ "Password" }<input ref={password} id="provision-password" class="input" type="password" autocomplete="off" /></label>
                    </details>
                    if let Some(error) = &*failure {
                        <p class="error" role="alert" id="provision-error">{ &error.message }</p>
                    }
                    <div class="buttons">
                        <button type="button" class="button primary" id="provision-start" onclick={ let start = start.clone(); Callback::from(move |_: MouseEvent| start.emit(false)) }>
                            { format!("Provision {}", plural(selected.len())) }
                        </button>
                    </div>
                    <details class="batch">
                        <summary class="small">{ "Batch: the same network for every selected device" }</summary>
                        <label>{ "Network name" }<input ref={batch_ssid} id="batch-ssid" class="input" /></label>
                        <label>{ "Network password" }<input ref={batch_pass} id="batch-pass" class="input" type="password" autocomplete="off" placeholder="Leave empty for a remembered network" /></label>
                        <label class="check"><input ref={batch_remember} type="checkbox" id="batch-remember" />{ "Remember this network" }</label>
                        <button type="button" class="button" id="batch-start" onclick={ let start = start.clone(); Callback::from(move |_: MouseEvent| start.emit(true)) }>{ "Provision all selected" }</button>
                    </details>
                </div>
            </section>
            if let Some(attempt) = focused {
                <Wizard key={attempt.id} attempt={attempt.clone()} on_open_device={props.on_open_device.clone()} />
            }
            if attempts.by_id.len() > 1 {
                { batch_table(&attempts.by_id, &focus) }
            }
        </div>
    }
}

fn plural(count: usize) -> String {
    match count {
        0 => "the selected device".to_owned(),
        1 => "1 device".to_owned(),
        n => format!("{n} devices, one at a time"),
    }
}

fn signal(level: u8, rssi: Option<i32>) -> Html {
    let label = rssi.map_or_else(|| "signal unknown".to_owned(), |dbm| format!("{dbm} dBm"));
    html! {
        <span class="signal" title={label.clone()} aria-label={format!("Signal {level} of 4, {label}")} data-bars={level.to_string()}>
            { for (1..=4).map(|bar| html! { <span class={classes!("bar", (bar <= level).then_some("on"))}></span> }) }
        </span>
    }
}

fn batch_table(attempts: &BTreeMap<i64, AttemptView>, focus: &UseStateHandle<Option<i64>>) -> Html {
    html! {
        <section class="card" aria-labelledby="batch-title">
            <h2 id="batch-title">{ "Attempts" }</h2>
            <div class="table-wrap">
                <table class="table" id="attempts-table">
                    <thead><tr><th scope="col">{ "Device" }</th><th scope="col">{ "Step" }</th><th scope="col">{ "Result" }</th><th scope="col">{ "Thing" }</th></tr></thead>
                    <tbody>
                        { for attempts.values().rev().map(|attempt| {
                            let current = attempt.steps.iter().rev().find(|s| s.state != StepStatus::Waiting).map(|s| s.label.clone()).unwrap_or_default();
                            let show = { let (focus, id) = (focus.clone(), attempt.id); Callback::from(move |_: MouseEvent| focus.set(Some(id))) };
                            html! {
                                <tr data-attempt={attempt.id.to_string()} data-outcome={outcome_word(&attempt.outcome)}>
                                    <td><button type="button" class="link mono" onclick={show}>{ &attempt.device.name }</button></td>
                                    <td>{ current }</td>
                                    <td>{ outcome_badge(&attempt.outcome) }</td>
                                    <td class="mono">{ attempt.thing_name.clone().unwrap_or_default() }</td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            </div>
        </section>
    }
}

fn outcome_word(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Running => "running",
        AttemptOutcome::Online { .. } => "online",
        AttemptOutcome::WifiOnly => "wifi_only",
        AttemptOutcome::Failed { .. } => "failed",
        AttemptOutcome::Cancelled => "cancelled",
    }
}

fn outcome_badge(outcome: &AttemptOutcome) -> Html {
    let (class, text) = match outcome {
        AttemptOutcome::Running => ("badge pending", "in progress"),
        AttemptOutcome::Online { .. } => ("badge ok", "online"),
        AttemptOutcome::WifiOnly => ("badge", "Wi-Fi only"),
        AttemptOutcome::Failed { .. } => ("badge warn", "needs attention"),
        AttemptOutcome::Cancelled => ("badge", "cancelled"),
    };
    html! { <span class={class}>{ text }</span> }
}

/// Props of [`Wizard`].
#[derive(Debug, Properties, PartialEq)]
pub struct WizardProps {
    /// The attempt.
    pub attempt: AttemptView,
    /// Opens the provisioned thing's device page.
    pub on_open_device: Callback<String>,
}

/// One attempt, step by step: what passed, what runs, what needs the user, and on failure its
/// cause and the way forward.
#[component]
pub fn Wizard(props: &WizardProps) -> Html {
    let attempt = &props.attempt;
    let failure = use_state(|| None::<IpcError>);
    let act = {
        let (id, failure) = (attempt.id, failure.clone());
        Callback::from(move |action: AttemptAction| {
            let failure = failure.clone();
            spawn_local(async move {
                failure.set(
                    ipc::call(&ProvisionAct {
                        attempt: id,
                        action,
                    })
                    .await
                    .err(),
                );
            });
        })
    };
    let send_network = {
        let (id, failure) = (attempt.id, failure.clone());
        Callback::from(move |wifi: WifiInput| {
            let failure = failure.clone();
            spawn_local(async move {
                failure.set(
                    ipc::call(&ProvisionNetwork { attempt: id, wifi })
                        .await
                        .err(),
                );
            });
        })
    };
    // Asking for a network, or stopped at a step whose way forward is new Wi-Fi details (an
    // older Wi-Fi failure does not count once a later step failed: the attempt would not take
    // a network then).
    let needs_network = attempt
        .steps
        .iter()
        .any(|s| s.step == "wifi_config" && s.state == StepStatus::NeedsInput)
        || match &attempt.outcome {
            AttemptOutcome::Failed { step } => attempt.steps.iter().any(|s| {
                &s.step == step
                    && s.state == StepStatus::Failed
                    && s.remedy == Some(Remedy::ReenterWifi)
            }),
            _ => false,
        };
    let running = matches!(attempt.outcome, AttemptOutcome::Running);
    let failed = matches!(attempt.outcome, AttemptOutcome::Failed { .. });
    html! {
        <section class="card wizard" aria-labelledby="wizard-title" id="wizard" data-outcome={outcome_word(&attempt.outcome)}>
            <h2 id="wizard-title">{ format!("Provisioning {}", attempt.device.name) }</h2>
            <ol class="steps" id="wizard-steps">
                { for attempt.steps.iter().map(step_row) }
            </ol>
            if needs_network {
                <NetworkChooser networks={attempt.networks.clone()} on_send={send_network} />
            }
            if let Some(error) = &*failure {
                <p class="error" role="alert">{ &error.message }</p>
            }
            { finale(attempt, &props.on_open_device) }
            <div class="buttons">
                if failed && attempt.steps.iter().any(|s| s.state == StepStatus::Failed && s.remedy == Some(Remedy::Retry)) {
                    <button type="button" class="button primary" id="wizard-retry" onclick={act.reform(|_: MouseEvent| AttemptAction::Retry)}>{ "Retry this step" }</button>
                }
                if running || failed {
                    <button type="button" class="button" id="wizard-cancel" onclick={act.reform(|_: MouseEvent| AttemptAction::Cancel)}>{ if failed { "Give up and start over" } else { "Cancel" } }</button>
                }
            </div>
        </section>
    }
}

fn step_row(step: &StepView) -> Html {
    let (class, mark) = match step.state {
        StepStatus::Waiting => ("waiting", "○"),
        StepStatus::Running => ("running", "◔"),
        StepStatus::NeedsInput => ("input", "✎"),
        StepStatus::Passed => ("passed", "✓"),
        StepStatus::Skipped => ("skipped", "–"),
        StepStatus::Failed => ("failed", "✕"),
    };
    html! {
        <li class={classes!("step", class)} data-step={step.step.clone()} data-state={class} aria-current={(step.state == StepStatus::Running).then_some("step")}>
            <span class="step-mark" aria-hidden="true">{ mark }</span>
            <div class="step-text">
                <strong>{ &step.label }</strong>
                if let Some(detail) = &step.detail {
                    <span class="small">{ detail }</span>
                }
                if let Some(fix) = &step.fix {
                    <span class="small fix">{ fix }</span>
                }
            </div>
        </li>
    }
}

fn finale(attempt: &AttemptView, on_open_device: &Callback<String>) -> Html {
    match &attempt.outcome {
        AttemptOutcome::Online { thing } => {
            let open = {
                let thing = thing.clone();
                on_open_device.reform(move |_: MouseEvent| thing.clone())
            };
            html! {
                <div class="notice done" role="status" id="wizard-done">
                    <p><strong>{ format!("{thing} is online.") }</strong>{ format!(" Certificate {}.", attempt.certificate_id.as_deref().map_or("—", |c| &c[..c.len().min(12)])) }</p>
                    <button type="button" class="button primary" id="wizard-open-device" onclick={open}>{ "Open its live shadow" }</button>
                </div>
            }
        }
        AttemptOutcome::WifiOnly => html! {
            <div class="notice" role="status" id="wizard-done">
                <p>{ "The device is on Wi-Fi. It does not take an AWS IoT identity over provisioning, so it needs its certificate some other way (its firmware, or the vendor's cloud)." }</p>
            </div>
        },
        _ => Html::default(),
    }
}

/// Props of [`NetworkChooser`].
#[derive(Debug, Properties, PartialEq)]
pub struct NetworkChooserProps {
    /// The device's networks.
    pub networks: Vec<NetworkView>,
    /// Sends the choice.
    pub on_send: Callback<WifiInput>,
}

/// The device's Wi-Fi networks with signal and security, and the password.
#[component]
pub fn NetworkChooser(props: &NetworkChooserProps) -> Html {
    let ssid = use_state(|| {
        props
            .networks
            .first()
            .map(|n| n.ssid.clone())
            .unwrap_or_default()
    });
    let passphrase = use_node_ref();
    let manual = use_node_ref();
    let remember = use_node_ref();
    let onsubmit = {
        let (ssid, passphrase, manual, remember, on_send) = (
            ssid.clone(),
            passphrase.clone(),
            manual.clone(),
            remember.clone(),
            props.on_send.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let typed = manual
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let chosen = if typed.trim().is_empty() {
                (*ssid).clone()
            } else {
                typed
            };
            let secret = passphrase
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            on_send.emit(WifiInput {
                ssid: chosen,
                passphrase: Secret(secret),
                remember: remember
                    .cast::<HtmlInputElement>()
                    .is_some_and(|i| i.checked()),
            });
        })
    };
    let chosen_is_remembered = props
        .networks
        .iter()
        .any(|n| n.ssid == *ssid && n.remembered);
    html! {
        <form class="form networks" id="network-form" {onsubmit}>
            <fieldset class="choices">
                <legend>{ "Network the device joins" }</legend>
                { for props.networks.iter().map(|network| {
                    let pick = { let (ssid, name) = (ssid.clone(), network.ssid.clone()); Callback::from(move |_: Event| ssid.set(name.clone())) };
                    html! {
                        <label class="choice network" data-ssid={network.ssid.clone()}>
                            <input type="radio" name="ssid" checked={*ssid == network.ssid} onchange={pick} />
                            <span>{ &network.ssid }</span>
                            { signal(bars(Some(network.rssi)), Some(network.rssi)) }
                            <span class="small muted">{ if network.secured { format!("secured · {}", network.security) } else { "open".to_owned() } }</span>
                            if network.remembered {
                                <span class="badge small" title="Its password is remembered">{ "remembered" }</span>
                            }
                        </label>
                    }
                }) }
            </fieldset>
            <label>{ "Or type a network name" }<input ref={manual} class="input" id="network-manual" /></label>
            <label>{ "Password" }<input ref={passphrase} class="input" id="network-password" type="password" autocomplete="off" placeholder={ if chosen_is_remembered { "Remembered: leave empty to use it" } else { "" } } /></label>
            <label class="check"><input ref={remember} type="checkbox" id="network-remember" />{ "Remember this network (its password goes to the OS keyring once a device has joined)" }</label>
            <div class="buttons"><button type="submit" class="button primary" id="network-join">{ "Join this network" }</button></div>
        </form>
    }
}

/// Waits `ms` milliseconds (a browser timer).
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
