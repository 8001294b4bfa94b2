//! The app's own figures, run on purpose: `cargo bench -p companion-tests --bench app`
//! (build the app first: `cargo xtask ui && cargo build -p iot-companion`).
//!
//! 1. Launch to a rendered fleet, with the default local sandbox (3 devices): from asking
//!    tauri-driver for the window to the first fleet row on screen. Target ≤ 1.5 s.
//! 2. A fleet of 1,000 simulated things with live telemetry: time until all are listed,
//!    filter and search times measured in the page (click or keystroke to the updated list;
//!    target ≤ 100 ms), and the resident memory of the app and its WebKit processes after a
//!    minute of live data (target ≤ 200 MB).
//! 3. The release wasm bundle's size, when `cargo xtask ui --release` has built it.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::time::{Duration, Instant};

use companion_tests::window::AppWindow;
use serde_json::json;

/// Things in the large fleet (`BENCH_THINGS` overrides).
const THINGS: usize = 1_000;

fn things() -> usize {
    std::env::var("BENCH_THINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(THINGS)
}

#[tokio::main]
async fn main() {
    launch_to_fleet().await;
    large_fleet(things()).await;
    bundle_size();
}

async fn launch_to_fleet() {
    let mut samples = Vec::new();
    for run in 0..3 {
        let started = Instant::now();
        let window = AppWindow::launch().await.unwrap_or_else(|e| panic!("{e}"));
        window
            .wait_for_value(
                "document.querySelectorAll('#fleet-table tbody tr[data-thing]').length > 0",
                json!(true),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        samples.push(started.elapsed());
        if run == 0 {
            // The list's own cost, on an idle machine: the backend query and the render.
            for (label, selector) in [
                ("idle: filter Offline", "#fleet-filter-offline"),
                ("idle: filter All", "#fleet-filter-all"),
                ("idle: filter Offline again", "#fleet-filter-offline"),
                ("idle: filter All again", "#fleet-filter-all"),
            ] {
                let ms = window
                    .client
                    .execute(TIMED_CLICK, vec![json!(selector)])
                    .await;
                report(label, ms);
            }
            let ms = window
                .client
                .execute(TIMED_SEARCH, vec![json!("plug")])
                .await;
            report("idle: search \"plug\"", ms);
        }
        window.close().await;
    }
    samples.sort();
    println!(
        "launch → rendered fleet (3 things): median {:.2} s, runs {:?} (target ≤ 1.5 s, ratio {:.2})",
        samples[1].as_secs_f64(),
        samples
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>(),
        samples[1].as_secs_f64() / 1.5
    );
}

/// Clicks `selector` in the page and returns the milliseconds until `#fleet-count` reads
/// something else, measured by the page's own clock.
const TIMED_CLICK: &str = r#"
return (async (selector) => {
const count = () => document.querySelector('#fleet-count')?.textContent ?? '';
const before = count();
const started = performance.now();
document.querySelector(selector).click();
while (count() === before) { await new Promise(r => requestAnimationFrame(r)); }
await new Promise(r => requestAnimationFrame(r));
return performance.now() - started;
})(arguments[0]);
"#;

/// Types `text` into the search box and returns the milliseconds until the list shows only
/// matching rows.
const TIMED_SEARCH: &str = r#"
return (async (text) => {
const input = document.querySelector('#fleet-search');
const rows = () => Array.from(document.querySelectorAll('#fleet-table tbody tr[data-thing]'));
const started = performance.now();
input.value = text;
input.dispatchEvent(new InputEvent('input', { bubbles: true }));
while (!(rows().length > 0 && rows().every(r => r.dataset.thing.includes(text)))) {
  await new Promise(r => requestAnimationFrame(r));
}
await new Promise(r => requestAnimationFrame(r));
return performance.now() - started;
})(arguments[0]);
"#;

async fn large_fleet(count: usize) {
    let started = Instant::now();
    let devices = count.to_string();
    let window = AppWindow::launch_with(&[("COMPANION_SANDBOX_DEVICES", &devices)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed =
        format!("document.querySelector('#fleet-count')?.textContent === '{count} things.'");
    window
        .wait_for_value(&listed, json!(true))
        .await
        .unwrap_or_else(|e| panic!("{count} things listed: {e}"));
    println!(
        "{count} things: listed {:.1} s after launch; rows in the DOM: {}",
        started.elapsed().as_secs_f64(),
        window
            .eval("document.querySelectorAll('#fleet-table tbody tr[data-thing]').length")
            .await
            .unwrap_or_default()
    );
    for (label, selector) in [
        ("filter Online", "#fleet-filter-online"),
        ("filter Offline", "#fleet-filter-offline"),
        ("filter All", "#fleet-filter-all"),
    ] {
        let ms = window
            .client
            .execute(TIMED_CLICK, vec![json!(selector)])
            .await;
        report(label, ms);
    }
    for text in ["plug", "light-00", "thermostat-0999"] {
        let ms = window.client.execute(TIMED_SEARCH, vec![json!(text)]).await;
        report(&format!("search {text:?}"), ms);
    }
    // A minute of live telemetry from every device, then the memory of the whole app.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (kib, processes) = window.process_tree_rss_kib();
    println!(
        "resident memory after 60 s of live data from {count} things: {:.0} MB in {processes} processes (target ≤ 200 MB, ratio {:.2})",
        kib as f64 / 1024.0,
        kib as f64 / 1024.0 / 200.0
    );
    window.close().await;
}

fn report(label: &str, ms: Result<serde_json::Value, fantoccini::error::CmdError>) {
    match ms.ok().and_then(|v| v.as_f64()) {
        Some(ms) => println!(
            "{label}: {ms:.0} ms (target ≤ 100 ms, ratio {:.2})",
            ms / 100.0
        ),
        None => println!("{label}: not measured"),
    }
}

fn bundle_size() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("target"));
    let dir = target.join("ui-release");
    let size = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
    });
    match size {
        Some(bytes) => println!(
            "release wasm bundle: {} KiB ({})",
            bytes / 1024,
            dir.display()
        ),
        None => println!("release wasm bundle: not built (cargo xtask ui --release)"),
    }
}
