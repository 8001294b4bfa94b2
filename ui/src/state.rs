//! The frame's state: which page is shown, the theme, what the backend told us. A pure reducer,
//! unit-tested natively.

use std::rc::Rc;

use companion_model::{AppInfo, ConnectionChanged, IpcError};
use yew::Reducible;

use crate::theme::ThemePreference;

/// The app's top-level pages, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// Every thing of the active profile, live.
    Fleet,
    /// Finding and provisioning nearby devices.
    Provision,
    /// Audit trail of provisioning, connections and errors.
    Activity,
    /// Profiles, vault, appearance, about.
    Settings,
}

impl Page {
    /// All pages in navigation order.
    pub const ALL: [Page; 4] = [Page::Fleet, Page::Provision, Page::Activity, Page::Settings];

    /// The name shown in navigation and as the page heading.
    pub fn title(self) -> &'static str {
        match self {
            Page::Fleet => "Fleet",
            Page::Provision => "Provision",
            Page::Activity => "Activity",
            Page::Settings => "Settings",
        }
    }

    /// A stable identifier for element ids and URL fragments.
    pub fn slug(self) -> &'static str {
        match self {
            Page::Fleet => "fleet",
            Page::Provision => "provision",
            Page::Activity => "activity",
            Page::Settings => "settings",
        }
    }

    /// The page for a slug, if there is one.
    pub fn from_slug(slug: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|page| page.slug() == slug)
    }

    /// The page reached with Alt+`digit`, counting from 1 in navigation order.
    pub fn from_shortcut(digit: char) -> Option<Page> {
        let index = digit.to_digit(10)?.checked_sub(1)?;
        Page::ALL.get(usize::try_from(index).ok()?).copied()
    }
}

/// A value the backend is asked for once: not yet answered, answered, or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    /// The request is in flight.
    Pending,
    /// The backend answered.
    Ready(T),
    /// The request failed; the error says why.
    Failed(IpcError),
}

impl<T> From<Result<T, IpcError>> for Load<T> {
    fn from(result: Result<T, IpcError>) -> Self {
        match result {
            Ok(value) => Load::Ready(value),
            Err(error) => Load::Failed(error),
        }
    }
}

/// Everything the frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    /// The page on screen.
    pub page: Page,
    /// The thing whose device page is open over the fleet list, if any.
    pub device: Option<String>,
    /// The user's theme choice.
    pub theme: ThemePreference,
    /// What the backend reported about itself.
    pub app_info: Load<AppInfo>,
    /// The last connection state the backend sent; `None` until the first event arrives.
    pub connection: Option<ConnectionChanged>,
    /// A failure of the event bridge itself, shown in the status bar.
    pub bridge_error: Option<IpcError>,
}

impl AppState {
    /// The state the app starts in, on `page` with the stored `theme`.
    pub fn new(page: Page, theme: ThemePreference) -> Self {
        Self {
            page,
            device: None,
            theme,
            app_info: Load::Pending,
            connection: None,
            bridge_error: None,
        }
    }
}

/// What can happen to the frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The user went to a page (which closes an open device page).
    Navigate(Page),
    /// The user opened a thing's device page.
    OpenDevice(String),
    /// The user picked a theme.
    SetTheme(ThemePreference),
    /// The backend answered `app_info`.
    AppInfoLoaded(Result<AppInfo, IpcError>),
    /// The backend sent a connection state.
    ConnectionChanged(ConnectionChanged),
    /// Listening to backend events failed.
    BridgeFailed(IpcError),
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::Navigate(page) => {
                next.page = page;
                next.device = None;
            }
            Action::OpenDevice(thing) => {
                next.page = Page::Fleet;
                next.device = Some(thing);
            }
            Action::SetTheme(theme) => next.theme = theme,
            Action::AppInfoLoaded(result) => next.app_info = result.into(),
            Action::ConnectionChanged(event) => {
                next.connection = Some(event);
                next.bridge_error = None;
            }
            Action::BridgeFailed(error) => next.bridge_error = Some(error),
        }
        if next == *self { self } else { Rc::new(next) }
    }
}

#[cfg(test)]
mod tests {
    use companion_model::{BrokerMode, BuildProfile, ConnectionState, ErrorCode, RadioMode};

    use super::*;

    fn start() -> Rc<AppState> {
        Rc::new(AppState::new(Page::Fleet, ThemePreference::System))
    }

    fn info() -> AppInfo {
        AppInfo {
            version: "0.1.0".into(),
            build_profile: BuildProfile::Debug,
            data_dir: "/data".into(),
            platform: "linux x86_64".into(),
            broker: BrokerMode::None,
            radio: RadioMode::None,
        }
    }

    #[test]
    fn navigating_changes_only_the_page() {
        let state = start().reduce(Action::Navigate(Page::Settings));
        assert_eq!(state.page, Page::Settings);
        assert_eq!(
            state.theme,
            ThemePreference::System,
            "theme must not change"
        );
        assert_eq!(state.app_info, Load::Pending, "app info must not change");
    }

    #[test]
    fn a_device_page_opens_over_the_fleet_and_any_navigation_closes_it() {
        let state = start()
            .reduce(Action::Navigate(Page::Settings))
            .reduce(Action::OpenDevice("plug-0002".into()));
        assert_eq!(
            state.page,
            Page::Fleet,
            "the device page belongs to the fleet"
        );
        assert_eq!(state.device.as_deref(), Some("plug-0002"));
        let back = state.reduce(Action::Navigate(Page::Fleet));
        assert_eq!(back.device, None, "the fleet item goes back to the list");
    }

    #[test]
    fn an_action_that_changes_nothing_keeps_the_same_state_so_nothing_rerenders() {
        let state = start();
        let same = state.clone().reduce(Action::Navigate(Page::Fleet));
        assert!(
            Rc::ptr_eq(&state, &same),
            "an unchanged state must be the same Rc"
        );
    }

    #[test]
    fn app_info_arrives_or_fails_with_its_error() {
        let loaded = start().reduce(Action::AppInfoLoaded(Ok(info())));
        assert_eq!(loaded.app_info, Load::Ready(info()));
        let error = IpcError::new(ErrorCode::Bridge, "The backend is not reachable.");
        let failed = start().reduce(Action::AppInfoLoaded(Err(error.clone())));
        assert_eq!(failed.app_info, Load::Failed(error));
    }

    #[test]
    fn a_connection_event_replaces_the_previous_one_and_clears_a_bridge_error() {
        let event = |state| ConnectionChanged {
            state,
            broker: BrokerMode::Sandbox,
            detail: String::new(),
        };
        let state = start()
            .reduce(Action::BridgeFailed(IpcError::new(
                ErrorCode::Bridge,
                "lost",
            )))
            .reduce(Action::ConnectionChanged(event(
                ConnectionState::Connecting,
            )))
            .reduce(Action::ConnectionChanged(event(ConnectionState::Connected)));
        assert_eq!(state.connection, Some(event(ConnectionState::Connected)));
        assert_eq!(
            state.bridge_error, None,
            "a fresh event proves the bridge works"
        );
    }

    #[test]
    fn pages_round_trip_through_their_slugs_and_shortcuts() {
        for (index, page) in Page::ALL.into_iter().enumerate() {
            assert_eq!(Page::from_slug(page.slug()), Some(page));
            let digit = char::from_digit(u32::try_from(index).unwrap() + 1, 10).unwrap();
            assert_eq!(Page::from_shortcut(digit), Some(page), "Alt+{digit}");
        }
        assert_eq!(Page::from_slug("nowhere"), None);
        assert_eq!(Page::from_shortcut('0'), None);
        assert_eq!(Page::from_shortcut('5'), None);
        assert_eq!(Page::from_shortcut('x'), None);
    }
}
