//! Components, one per file, each with its `XxxProps`.

mod about_panel;
mod icon;
mod nav_bar;
mod not_built;
mod status_bar;
mod theme_switch;

pub use about_panel::{AboutPanel, AboutPanelProps};
pub use icon::{Icon, IconName, IconProps};
pub use nav_bar::{NavBar, NavBarProps};
pub use not_built::{NotBuilt, NotBuiltProps};
pub use status_bar::{StatusBar, StatusBarProps};
pub use theme_switch::{ThemeSwitch, ThemeSwitchProps};
