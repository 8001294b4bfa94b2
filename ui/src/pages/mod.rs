//! The app's pages, one per file.

mod activity;
mod device;
mod fleet;
mod provision;
mod settings;

pub use activity::ActivityPage;
pub use device::{DevicePage, DevicePageProps};
pub use fleet::{FleetPage, FleetPageProps};
pub use provision::{
    NetworkChooser, NetworkChooserProps, ProvisionPage, ProvisionPageProps, Wizard, WizardProps,
};
pub use settings::{SettingsPage, SettingsPageProps};
