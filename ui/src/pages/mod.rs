//! The app's pages, one per file.

mod activity;
mod fleet;
mod provision;
mod settings;

pub use activity::ActivityPage;
pub use fleet::FleetPage;
pub use provision::ProvisionPage;
pub use settings::{SettingsPage, SettingsPageProps};
