//! End-to-end: the real app window, driven through tauri-driver and WebKitWebDriver.
//!
//! Visits every page, checks that `app_info` (UI → backend) and the connection event
//! (backend → UI) cross the bridge, switches the theme and the window width, and saves a
//! screenshot of each state under `target/e2e/`.

use companion_tests::window::AppWindow;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::json;

const PAGES: [(&str, &str); 4] = [
    ("fleet", "Fleet"),
    ("provision", "Provision"),
    ("activity", "Activity"),
    ("settings", "Settings"),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_in_the_real_window_and_the_bridge_works_both_ways() {
    let window = AppWindow::launch()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let outcome = scenario(&window).await;
    finish(window, outcome).await;
}

/// Saves evidence when the scenario failed, closes the window, then fails the test.
async fn finish(window: AppWindow, outcome: Result<(), String>) {
    if outcome.is_err() {
        window.save_failure_evidence().await;
    }
    window.close().await;
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

async fn scenario(window: &AppWindow) -> Result<(), String> {
    window.find("#nav-fleet").await?;
    connection_event_arrives(window).await?;
    fleet_lists_the_simulated_devices(window).await?;
    device_page_controls_the_device(window).await?;
    a_device_is_provisioned_through_the_wizard(window).await?;
    an_edit_made_during_an_outage_is_applied_when_the_link_returns(window).await?;
    for (slug, title) in PAGES {
        visit(window, slug, title).await?;
        window.screenshot(slug).await?;
    }
    about_panel_shows_the_backends_facts(window).await?;
    vault_imports_and_removes_a_certificate(window).await?;
    the_remembered_network_is_listed_and_forgotten(window).await?;
    theme_switches_and_is_remembered(window).await?;
    keyboard_shortcuts_change_the_page(window).await?;
    narrow_window_moves_navigation_to_the_bottom(window).await?;
    every_page_fits_a_phone(window).await?;
    Ok(())
}

/// The status bar only leaves "waiting" when the backend's event has arrived; the engine starts
/// the local sandbox and its session connects to it.
async fn connection_event_arrives(window: &AppWindow) -> Result<(), String> {
    let state = "document.querySelector('#connection-state').dataset.state";
    window.wait_for_value(state, json!("connected")).await?;
    let detail = window
        .eval("document.querySelector('#connection-detail').textContent")
        .await?;
    let detail = detail.as_str().unwrap_or_default();
    let expected = [
        "Connected to the local sandbox at 127.0.0.1:",
        "thermostat-0001, plug-0002, light-0003",
    ];
    if !expected.iter().all(|part| detail.contains(part)) {
        return Err(format!(
            "the connection detail should come from the engine, got {detail:?}"
        ));
    }
    Ok(())
}

/// The fleet page lists the local sandbox's devices from the engine's registry, online, and
/// its filter and search narrow the list.
async fn fleet_lists_the_simulated_devices(window: &AppWindow) -> Result<(), String> {
    let rows = |selector: &str| {
        format!("document.querySelectorAll('#fleet-table tbody tr{selector}').length")
    };
    window
        .wait_for_value(&rows("[data-presence=\"online\"]"), json!(3))
        .await
        .map_err(|e| format!("three simulated devices online: {e}"))?;
    let names = "Array.from(document.querySelectorAll('#fleet-table tbody tr')).map(r => r.dataset.thing).join(',')";
    window
        .wait_for_value(names, json!("light-0003,plug-0002,thermostat-0001"))
        .await?;
    click(window, "#fleet-filter-offline").await?;
    window
        .wait_for_value(
            "document.querySelector('#fleet-table') === null",
            json!(true),
        )
        .await
        .map_err(|e| format!("no thing is offline: {e}"))?;
    click(window, "#fleet-filter-all").await?;
    window.wait_for_value(&rows(""), json!(3)).await?;
    window
        .find("#fleet-search")
        .await?
        .send_keys("plug")
        .await
        .map_err(|error| format!("type in the search: {error}"))?;
    window
        .wait_for_value(names, json!("plug-0002"))
        .await
        .map_err(|e| format!("the search narrows the list: {e}"))?;
    window.screenshot("fleet-search").await?;
    Ok(())
}

/// The plug's device page: its switch writes desired state and the simulated plug's reported
/// state follows; the telemetry chart, the raw log and its export, the history and the named
/// shadow `config` are there.
async fn device_page_controls_the_device(window: &AppWindow) -> Result<(), String> {
    click(
        window,
        "#fleet-table tr[data-thing=\"plug-0002\"] button.link",
    )
    .await?;
    window
        .wait_for_value(
            "document.querySelector('#page-title').textContent",
            json!("plug-0002"),
        )
        .await?;
    let switch = "document.querySelector('#control-on')";
    window
        .wait_for_value(&format!("{switch} !== null"), json!(true))
        .await
        .map_err(|e| format!("the plug's power switch: {e}"))?;
    let reported =
        "document.querySelector('#shadow-table tr[data-key=\"on\"] td:nth-child(3)').textContent";
    let before = window.eval(reported).await?;
    let wanted = if before == json!("true") {
        "false"
    } else {
        "true"
    };
    click(window, "#control-on").await?;
    window
        .wait_for_value(reported, json!(wanted))
        .await
        .map_err(|e| format!("the plug reports what the switch asked for: {e}"))?;
    window
        .wait_for_value(
            "document.querySelector('.control[data-key=\"on\"] .badge').dataset.status",
            json!("applied"),
        )
        .await
        .map_err(|e| format!("the edit is shown as applied: {e}"))?;
    window
        .wait_for_value(
            &format!("{switch}.getAttribute('aria-checked')"),
            json!(wanted),
        )
        .await?;
    window
        .wait_for_value(
            "document.querySelector('#telemetry-chart') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("a telemetry chart from the plug's samples: {e}"))?;
    window
        .wait_for_value(
            "document.querySelector('#raw-log li') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the raw log lists the plug's messages: {e}"))?;
    click(window, "#raw-export").await?;
    window
        .wait_for_value(
            "document.querySelector('#raw-exported') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the raw log is exported: {e}"))?;
    window
        .wait_for_value(
            "document.querySelector('#shadow-history') !== null",
            json!(true),
        )
        .await?;
    window
        .eval("document.querySelector('main').scrollTo(0, 0)")
        .await?;
    window.screenshot("device").await?;
    click(window, "#shadow-tab-config").await?;
    window
        .wait_for_value(
            "document.querySelector('#control-firmware_channel') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the named shadow `config` has its controls: {e}"))?;
    window
        .eval("document.querySelector('main').scrollTo(0, 0)")
        .await?;
    window.screenshot("device-config-shadow").await?;
    click(window, "#device-back").await?;
    window
        .wait_for_value(
            "document.querySelector('#fleet-table') !== null",
            json!(true),
        )
        .await
}

/// A new plug on the local sandbox's simulated radio goes from its box to online through the
/// wizard: proof of possession, the device's own Wi-Fi scan, a wrong password fixed without
/// starting over, its AWS IoT identity, and its live shadow; the attempt is in the audit.
async fn a_device_is_provisioned_through_the_wizard(window: &AppWindow) -> Result<(), String> {
    visit(window, "provision", "Provision").await?;
    window
        .wait_for_value(
            "document.querySelectorAll('#scan-list li').length",
            json!(3),
        )
        .await
        .map_err(|e| format!("three new devices in the scan list: {e}"))?;
    // Strongest first: the sandbox's plug is the nearest.
    click(window, "#scan-list li:first-child input[type=checkbox]").await?;
    type_into(window, "#provision-pop", "abcd1234").await?;
    click(window, "#provision-start").await?;
    let step = |name: &str| {
        format!("document.querySelector('#wizard li[data-step=\"{name}\"]')?.dataset.state ?? null")
    };
    window
        .wait_for_value(&step("wifi_config"), json!("input"))
        .await
        .map_err(|e| format!("the wizard asks for the network: {e}"))?;
    window
        .wait_for_value(
            "document.querySelector('#network-form .network')?.dataset.ssid ?? null",
            json!("Workshop"),
        )
        .await
        .map_err(|e| format!("the device's own scan lists the workshop network first: {e}"))?;
    window.screenshot("provision-wizard").await?;
    type_into(window, "#network-password", "wrong-password").await?;
    click(window, "#network-join").await?;
    window
        .wait_for_value(&step("wifi_status"), json!("failed"))
        .await
        .map_err(|e| format!("a wrong password fails the station step: {e}"))?;
    window.screenshot("provision-wrong-password").await?;
    window
        .eval("document.querySelector('#network-form').scrollIntoView({block: 'center'})")
        .await?;
    window.screenshot("provision-network-form").await?;
    window
        .find("#network-password")
        .await?
        .clear()
        .await
        .map_err(|e| format!("clear the password: {e}"))?;
    type_into(window, "#network-password", "provision-me").await?;
    click(window, "#network-remember").await?;
    click(window, "#network-join").await?;
    window
        .wait_for_value(
            "document.querySelector('#wizard-done') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the plug comes online: {e}"))?;
    window
        .wait_for_value(
            "document.querySelectorAll('#scan-list li').length",
            json!(2),
        )
        .await
        .map_err(|e| format!("the provisioned plug leaves the scan list: {e}"))?;
    window.screenshot("provision-done").await?;
    click(window, "#wizard-open-device").await?;
    window
        .wait_for_value(
            "document.querySelector('#page-title').textContent.startsWith('plug-')",
            json!(true),
        )
        .await
        .map_err(|e| format!("its device page opens: {e}"))?;
    window
        .wait_for_value(
            "document.querySelector('#device-presence')?.dataset.presence ?? null",
            json!("online"),
        )
        .await
        .map_err(|e| format!("the new plug is online: {e}"))?;
    visit(window, "activity", "Activity").await?;
    window
        .wait_for_value(
            "document.querySelector('#audit-table tr[data-result=\"succeeded\"]') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the attempt is in the audit: {e}"))
}

/// The local sandbox is cut off (a simulated network outage): the app reconnects in vain, an
/// edit of the plug's power is queued, and once the network is back the edit is sent with its
/// version check and the plug follows.
async fn an_edit_made_during_an_outage_is_applied_when_the_link_returns(
    window: &AppWindow,
) -> Result<(), String> {
    let state = "document.querySelector('#connection-state').dataset.state";
    visit(window, "settings", "Settings").await?;
    click(window, "#sandbox-outage").await?;
    window
        .wait_for_value(&format!("{state} !== 'connected'"), json!(true))
        .await
        .map_err(|e| format!("the outage cuts the app off: {e}"))?;
    open_thing(window, "plug-0002").await?;
    let reported = "document.querySelector('#shadow-table tr[data-key=\"on\"] td:nth-child(3)')?.textContent ?? null";
    window
        .wait_for_value(&format!("({reported}) !== null"), json!(true))
        .await
        .map_err(|e| format!("the last known shadow is shown offline: {e}"))?;
    let before = window.eval(reported).await?;
    let wanted = if before == json!("true") {
        "false"
    } else {
        "true"
    };
    click(window, "#control-on").await?;
    let badge =
        "document.querySelector('.control[data-key=\"on\"] .badge')?.dataset.status ?? null";
    window
        .wait_for_value(badge, json!("queued"))
        .await
        .map_err(|e| format!("the offline edit is queued: {e}"))?;
    window
        .eval("document.querySelector('main').scrollTo(0, 0)")
        .await?;
    window.screenshot("device-offline-edit").await?;
    visit(window, "settings", "Settings").await?;
    window
        .wait_for_value(
            "document.querySelector('#sandbox-outage').getAttribute('aria-checked')",
            json!("true"),
        )
        .await
        .map_err(|e| format!("the switch shows the outage is on: {e}"))?;
    click(window, "#sandbox-outage").await?;
    window
        .wait_for_value(
            "document.querySelector('#sandbox-outage').getAttribute('aria-checked')",
            json!("false"),
        )
        .await?;
    // The session's backoff grew during the outage (up to 30 s between attempts).
    let mut reconnected = Err(String::new());
    for _ in 0..3 {
        reconnected = window.wait_for_value(state, json!("connected")).await;
        if reconnected.is_ok() {
            break;
        }
    }
    reconnected.map_err(|e| format!("the app reconnects after the outage: {e}"))?;
    open_thing(window, "plug-0002").await?;
    window
        .wait_for_value(reported, json!(wanted))
        .await
        .map_err(|e| format!("the queued edit reaches the plug and it reports it: {e}"))?;
    window
        .wait_for_value(badge, json!("applied"))
        .await
        .map_err(|e| format!("the edit is shown as applied: {e}"))
}

/// Opens a thing's device page from the fleet list.
async fn open_thing(window: &AppWindow, thing: &str) -> Result<(), String> {
    visit(window, "fleet", "Fleet").await?;
    click(
        window,
        &format!("#fleet-table tr[data-thing=\"{thing}\"] button.link"),
    )
    .await?;
    window
        .wait_for_value(
            "document.querySelector('#page-title').textContent",
            json!(thing),
        )
        .await
}

async fn type_into(window: &AppWindow, selector: &str, text: &str) -> Result<(), String> {
    window
        .find(selector)
        .await?
        .send_keys(text)
        .await
        .map_err(|error| format!("type into {selector}: {error}"))
}

async fn visit(window: &AppWindow, slug: &str, title: &str) -> Result<(), String> {
    click(window, &format!("#nav-{slug}")).await?;
    window
        .wait_for_value("document.querySelector('main').dataset.page", json!(slug))
        .await?;
    let heading = window
        .eval("document.querySelector('#page-title').textContent")
        .await?;
    if heading != json!(title) {
        return Err(format!(
            "page {slug}: heading is {heading}, expected {title:?}"
        ));
    }
    let current = window
        .eval(&format!(
            "document.querySelector('#nav-{slug}').getAttribute('aria-current')"
        ))
        .await?;
    if current != json!("page") {
        return Err(format!(
            "page {slug}: its navigation entry is not marked current ({current})"
        ));
    }
    Ok(())
}

/// The vault imports a certificate and its key (the files a backend reads, as the file dialog
/// would hand them over), lists it with its expiry, and removes it from the OS keyring.
/// The wizard remembered the workshop network (its password in the keyring) once the plug had
/// joined it; Settings lists it by name and forgets it.
async fn the_remembered_network_is_listed_and_forgotten(window: &AppWindow) -> Result<(), String> {
    visit(window, "fleet", "Fleet").await?;
    visit(window, "settings", "Settings").await?;
    window
        .wait_for_value(
            "document.querySelector('#networks-list li[data-ssid=\"Workshop\"]') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the remembered network is listed: {e}"))?;
    let listed = window
        .eval("document.querySelector('#networks-list').textContent")
        .await?;
    if listed
        .as_str()
        .is_some_and(|text| text.contains("provision-me"))
    {
        return Err("the password is shown in the list".into());
    }
    window
        .eval("document.querySelector('#networks-title').scrollIntoView({block: 'start'})")
        .await?;
    window.screenshot("settings-networks").await?;
    click(window, "#networks-list li[data-ssid=\"Workshop\"] button").await?;
    window
        .wait_for_value(
            "document.querySelector('#networks-empty') !== null",
            json!(true),
        )
        .await
        .map_err(|e| format!("the network is forgotten: {e}"))
}

async fn vault_imports_and_removes_a_certificate(window: &AppWindow) -> Result<(), String> {
    let dir = window.expected_data_dir().join("e2e-identity");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let params =
        rcgen::CertificateParams::new(vec!["e2e-sensor".to_owned()]).map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&key_path, key.serialize_pem()).map_err(|e| e.to_string())?;
    let name = format!("e2e-{}", std::process::id());
    visit(window, "settings", "Settings").await?;
    let request = json!({
        "request": {"name": name, "paths": [cert_path, key_path], "passphrase": null}
    });
    window
        .eval(&format!(
            "(window.__imported = null, window.__TAURI__.core.invoke('vault_import', {request})\
             .then(() => window.__imported = 'ok', e => window.__imported = JSON.stringify(e)), true)"
        ))
        .await?;
    window
        .wait_for_value("window.__imported", json!("ok"))
        .await
        .map_err(|e| format!("the vault imports the identity: {e}"))?;
    // The panel lists the vault when it opens.
    visit(window, "fleet", "Fleet").await?;
    visit(window, "settings", "Settings").await?;
    let badge = format!(
        "document.querySelector('#vault-identities li[data-identity=\"{name}\"] .badge')?.textContent ?? null"
    );
    window
        .wait_for_value(&format!("({badge} ?? '').startsWith('valid')"), json!(true))
        .await
        .map_err(|e| format!("the identity is listed as valid: {e}"))?;
    window.screenshot("settings-vault").await?;
    click(window, &format!("#vault-remove-{name}")).await?;
    window
        .wait_for_value(&badge, serde_json::Value::Null)
        .await
        .map_err(|e| format!("the identity is removed: {e}"))
}

/// `app_info` is answered by the backend: the data directory is the one this test chose.
async fn about_panel_shows_the_backends_facts(window: &AppWindow) -> Result<(), String> {
    visit(window, "settings", "Settings").await?;
    window.find("#about-facts").await?;
    let expected = [
        (
            "#about-data-dir",
            window.expected_data_dir().display().to_string(),
        ),
        ("#about-version", env!("CARGO_PKG_VERSION").to_owned()),
        ("#about-build", "debug".to_owned()),
        ("#about-broker", "local sandbox".to_owned()),
    ];
    for (selector, value) in expected {
        let shown = window
            .eval(&format!("document.querySelector('{selector}').textContent"))
            .await?;
        if shown != json!(value) {
            return Err(format!(
                "About panel {selector} shows {shown}, expected {value:?}"
            ));
        }
    }
    Ok(())
}

async fn theme_switches_and_is_remembered(window: &AppWindow) -> Result<(), String> {
    let theme = "document.documentElement.dataset.theme";
    let background = "getComputedStyle(document.body).backgroundColor";
    click(window, "#theme-dark").await?;
    window.wait_for_value(theme, json!("dark")).await?;
    window
        .wait_for_value(background, json!("rgb(15, 20, 25)"))
        .await?;
    window.screenshot("settings-dark").await?;

    window
        .client
        .refresh()
        .await
        .map_err(|error| format!("reload: {error}"))?;
    window.find("#nav-fleet").await?;
    window
        .wait_for_value(theme, json!("dark"))
        .await
        .map_err(|error| format!("after a reload the theme should still be dark: {error}"))?;
    window.screenshot("fleet-dark").await?;

    visit(window, "settings", "Settings").await?;
    click(window, "#theme-light").await?;
    window.wait_for_value(theme, json!("light")).await?;
    window
        .wait_for_value(background, json!("rgb(244, 246, 248)"))
        .await?;
    click(window, "#theme-system").await?;
    window.wait_for_value(theme, json!("system")).await
}

async fn keyboard_shortcuts_change_the_page(window: &AppWindow) -> Result<(), String> {
    for (index, (slug, _)) in PAGES.iter().enumerate() {
        let digit = char::from_digit(u32::try_from(index + 1).unwrap_or(1), 10).unwrap_or('1');
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down {
                value: Key::Alt.into(),
            })
            .then(KeyAction::Down { value: digit })
            .then(KeyAction::Up { value: digit })
            .then(KeyAction::Up {
                value: Key::Alt.into(),
            });
        window
            .client
            .perform_actions(keys)
            .await
            .map_err(|error| format!("Alt+{digit}: {error}"))?;
        window
            .wait_for_value("document.querySelector('main').dataset.page", json!(slug))
            .await
            .map_err(|error| format!("Alt+{digit} should open {slug}: {error}"))?;
    }
    Ok(())
}

async fn narrow_window_moves_navigation_to_the_bottom(window: &AppWindow) -> Result<(), String> {
    visit(window, "fleet", "Fleet").await?;
    window
        .client
        .set_window_size(360, 760)
        .await
        .map_err(|error| format!("resize: {error}"))?;
    window
        .wait_for_value("window.innerWidth <= 400", json!(true))
        .await?;
    let nav_below_page = "document.querySelector('nav').getBoundingClientRect().top > document.querySelector('main').getBoundingClientRect().top";
    window.wait_for_value(nav_below_page, json!(true)).await?;
    let overflow = "document.documentElement.scrollWidth > window.innerWidth";
    window
        .wait_for_value(overflow, json!(false))
        .await
        .map_err(|error| format!("at 360 px nothing may overflow sideways: {error}"))?;
    window.screenshot("fleet-narrow").await?;
    window
        .client
        .set_window_size(1200, 800)
        .await
        .map_err(|error| format!("resize: {error}"))?;
    Ok(())
}

/// At a phone's size (390×844) every page fits the width; a screenshot of each is saved as
/// `phone-<page>.png`.
async fn every_page_fits_a_phone(window: &AppWindow) -> Result<(), String> {
    window
        .client
        .set_window_size(390, 844)
        .await
        .map_err(|error| format!("resize: {error}"))?;
    window
        .wait_for_value("window.innerWidth <= 400", json!(true))
        .await?;
    let overflow = "document.documentElement.scrollWidth > window.innerWidth";
    for (slug, title) in PAGES {
        visit(window, slug, title).await?;
        window
            .wait_for_value(overflow, json!(false))
            .await
            .map_err(|error| format!("{slug} overflows sideways at 390 px: {error}"))?;
        window.screenshot(&format!("phone-{slug}")).await?;
    }
    open_thing(window, "plug-0002").await?;
    window
        .wait_for_value(
            "document.querySelector('#shadow-table') !== null",
            json!(true),
        )
        .await?;
    window
        .wait_for_value(overflow, json!(false))
        .await
        .map_err(|error| format!("the device page overflows sideways at 390 px: {error}"))?;
    window.screenshot("phone-device").await?;
    window
        .client
        .set_window_size(1200, 800)
        .await
        .map_err(|error| format!("resize: {error}"))?;
    Ok(())
}

async fn click(window: &AppWindow, selector: &str) -> Result<(), String> {
    // Away from the status bar, which covers the window's bottom edge.
    window
        .eval(&format!(
            "document.querySelector({})?.scrollIntoView({{block: 'center'}})",
            json!(selector)
        ))
        .await?;
    window
        .find(selector)
        .await?
        .click()
        .await
        .map_err(|error| format!("click {selector}: {error}"))
}

/// A fleet of 1,000 simulated things: the list shows them all as a virtualized list (only the
/// rows near the screen exist), scrolls to the end, filters and searches.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_a_thousand_things_renders_and_filters() {
    let window = AppWindow::launch_with(&[("COMPANION_SANDBOX_DEVICES", "1000")])
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let outcome = thousand_things(&window).await;
    finish(window, outcome).await;
}

async fn thousand_things(window: &AppWindow) -> Result<(), String> {
    let count = "document.querySelector('#fleet-count')?.textContent ?? null";
    window
        .wait_for_value(count, json!("1000 things."))
        .await
        .map_err(|e| format!("all 1,000 things are listed: {e}"))?;
    let rows = "document.querySelectorAll('#fleet-table tbody tr[data-thing]').length";
    let in_dom = window.eval(rows).await?;
    if in_dom.as_u64().is_none_or(|n| n == 0 || n > 200) {
        return Err(format!(
            "the list is virtualized: {in_dom} rows exist for 1,000 things"
        ));
    }
    window
        .eval("document.querySelector('#fleet-scroll').scrollTop = 1e9")
        .await?;
    window
        .wait_for_value(
            "Array.from(document.querySelectorAll('#fleet-table tbody tr[data-thing]')).some(r => r.getAttribute('aria-rowindex') === '1000')",
            json!(true),
        )
        .await
        .map_err(|e| format!("scrolled to the end, the last thing is rendered: {e}"))?;
    window.screenshot("fleet-1000-end").await?;
    window
        .find("#fleet-search")
        .await?
        .send_keys("thermostat-09")
        .await
        .map_err(|error| format!("type in the search: {error}"))?;
    window
        .wait_for_value(count, json!("33 things."))
        .await
        .map_err(|e| format!("the search narrows 1,000 things: {e}"))?;
    click(window, "#fleet-filter-online").await?;
    window
        .wait_for_value(
            "Array.from(document.querySelectorAll('#fleet-table tbody tr[data-thing]')).every(r => r.dataset.presence === 'online' && r.dataset.thing.startsWith('thermostat-09'))",
            json!(true),
        )
        .await
        .map_err(|e| format!("the filter keeps the online ones of the search: {e}"))?;
    window.screenshot("fleet-1000-filtered").await?;
    Ok(())
}
