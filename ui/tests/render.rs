//! Components rendered to HTML with Yew's server renderer, natively, in plain `cargo test`.

use companion_model::{
    AppInfo, BrokerMode, BuildProfile, ConnectionChanged, ConnectionState, ErrorCode, IpcError,
    RadioMode,
};
use companion_ui::app::App;
use companion_ui::components::{
    AboutPanel, AboutPanelProps, NavBar, NavBarProps, StatusBar, StatusBarProps, ThemeSwitch,
    ThemeSwitchProps,
};
use companion_ui::state::{Load, Page};
use companion_ui::theme::ThemePreference;
use yew::{BaseComponent, Callback, ServerRenderer};

async fn render<C>(props: impl FnOnce() -> C::Properties + Send + 'static) -> String
where
    C: BaseComponent,
{
    ServerRenderer::<C>::with_props(props)
        .hydratable(false)
        .render()
        .await
}

fn info() -> AppInfo {
    AppInfo {
        version: "1.2.3".into(),
        build_profile: BuildProfile::Release,
        data_dir: "/home/tech/.local/share/dev.iotcompanion.companion".into(),
        platform: "linux x86_64".into(),
        broker: BrokerMode::Sandbox,
        radio: RadioMode::Simulated,
    }
}

fn assert_contains(html: &str, needles: &[&str]) {
    for needle in needles {
        assert!(html.contains(needle), "expected {needle:?} in:\n{html}");
    }
}

#[tokio::test]
async fn the_status_bar_waits_until_the_backend_has_spoken() {
    let html = render::<StatusBar>(|| StatusBarProps {
        connection: None,
        bridge_error: None,
        app_info: Load::Pending,
    })
    .await;
    assert_contains(
        &html,
        &[r#"data-state="waiting""#, "Waiting for the backend"],
    );
}

#[tokio::test]
async fn the_status_bar_shows_the_state_the_backend_sent_with_its_reason() {
    let html = render::<StatusBar>(|| StatusBarProps {
        connection: Some(ConnectionChanged {
            state: ConnectionState::Reconnecting,
            broker: BrokerMode::AwsIot,
            detail: "The broker closed the connection; retrying in 4 s.".into(),
        }),
        bridge_error: None,
        app_info: Load::Ready(info()),
    })
    .await;
    assert_contains(
        &html,
        &[
            r#"data-state="reconnecting""#,
            "Reconnecting · AWS IoT Core",
            "The broker closed the connection; retrying in 4 s.",
            "v1.2.3",
        ],
    );
}

#[tokio::test]
async fn a_bridge_failure_outranks_a_stale_connection_state() {
    let html = render::<StatusBar>(|| StatusBarProps {
        connection: Some(ConnectionChanged {
            state: ConnectionState::Connected,
            broker: BrokerMode::Sandbox,
            detail: String::new(),
        }),
        bridge_error: Some(IpcError::new(
            ErrorCode::Bridge,
            "The backend did not answer.",
        )),
        app_info: Load::Pending,
    })
    .await;
    assert_contains(
        &html,
        &[
            r#"data-state="bridge-error""#,
            "Backend unreachable",
            "The backend did not answer.",
        ],
    );
    assert!(
        !html.contains(r#"data-state="connected""#),
        "a stale state must not show:\n{html}"
    );
}

#[tokio::test]
async fn the_navigation_lists_every_page_and_marks_only_the_current_one() {
    let html = render::<NavBar>(|| NavBarProps {
        current: Page::Activity,
        on_navigate: Callback::noop(),
    })
    .await;
    for (index, page) in Page::ALL.into_iter().enumerate() {
        assert_contains(
            &html,
            &[
                &format!(r#"id="nav-{}""#, page.slug()),
                &format!("{} (Alt+{})", page.title(), index + 1),
            ],
        );
    }
    assert_eq!(
        html.matches(r#"aria-current="page""#).count(),
        1,
        "one current page:\n{html}"
    );
    let current = html.find(r#"aria-current="page""#).unwrap();
    let activity = html.find(r#"id="nav-activity""#).unwrap();
    assert!(
        current.abs_diff(activity) < 120,
        "the current entry must be Activity:\n{html}"
    );
}

#[tokio::test]
async fn the_about_panel_lists_the_backends_facts() {
    let html = render::<AboutPanel>(|| AboutPanelProps {
        info: Load::Ready(info()),
    })
    .await;
    assert_contains(
        &html,
        &[
            "1.2.3",
            "release",
            "linux x86_64",
            "/home/tech/.local/share/dev.iotcompanion.companion",
            "local sandbox",
            "simulated radio",
        ],
    );
}

#[tokio::test]
async fn the_about_panel_says_why_the_facts_are_missing() {
    let html = render::<AboutPanel>(|| AboutPanelProps {
        info: Load::Failed(IpcError::new(
            ErrorCode::Bridge,
            "The backend did not answer.",
        )),
    })
    .await;
    assert_contains(
        &html,
        &[
            r#"role="alert""#,
            "Could not read the app's details: The backend did not answer.",
        ],
    );
    let pending = render::<AboutPanel>(|| AboutPanelProps {
        info: Load::Pending,
    })
    .await;
    assert_contains(&pending, &[r#"aria-busy="true""#]);
}

#[tokio::test]
async fn the_theme_switch_offers_every_theme() {
    let html = render::<ThemeSwitch>(|| ThemeSwitchProps {
        value: ThemePreference::Dark,
        on_change: Callback::noop(),
    })
    .await;
    for theme in ThemePreference::ALL {
        assert_contains(
            &html,
            &[&format!(r#"id="theme-{}""#, theme.as_str()), theme.label()],
        );
    }
}

#[tokio::test]
async fn the_app_opens_on_the_fleet_page_and_says_plainly_what_is_not_built() {
    let html = render::<App>(|| ()).await;
    assert_contains(
        &html,
        &[
            r#"data-page="fleet""#,
            r#"<h1 id="page-title">Fleet</h1>"#,
            "Loading the fleet…",
            "Skip to content",
            r#"data-state="waiting""#,
        ],
    );
}
