//! Components, one per file, each with its `XxxProps`.

mod about_panel;
mod icon;
mod nav_bar;
mod networks_panel;
mod not_built;
mod profiles_panel;
mod raw_log_panel;
mod shadow_workbench;
mod status_bar;
mod telemetry_panel;
mod theme_switch;
mod vault_panel;

pub use about_panel::{AboutPanel, AboutPanelProps};
pub use icon::{Icon, IconName, IconProps};
pub use nav_bar::{NavBar, NavBarProps};
pub use networks_panel::NetworksPanel;
pub use not_built::{NotBuilt, NotBuiltProps};
pub use profiles_panel::{
    OutageSwitch, ProfileEditor, ProfileEditorProps, ProfilesPanel, ProfilesPanelProps,
};
pub use raw_log_panel::{RawLogPanel, RawLogPanelProps};
pub use shadow_workbench::{JsonEditor, JsonEditorProps, ShadowWorkbench, ShadowWorkbenchProps};
pub use status_bar::{StatusBar, StatusBarProps};
pub use telemetry_panel::{TelemetryPanel, TelemetryPanelProps};
pub use theme_switch::{ThemeSwitch, ThemeSwitchProps};
pub use vault_panel::VaultPanel;
