use companion_model::{AppInfo, ConnectionChanged};
use yew::prelude::*;

use crate::components::{AboutPanel, NetworksPanel, ProfilesPanel, ThemeSwitch, VaultPanel};
use crate::state::Load;
use crate::theme::ThemePreference;

/// Props of [`SettingsPage`].
#[derive(Debug, Properties, PartialEq)]
pub struct SettingsPageProps {
    /// The current theme choice.
    pub theme: ThemePreference,
    /// Called when the user picks another theme.
    pub on_theme: Callback<ThemePreference>,
    /// What the backend reported about itself.
    pub app_info: Load<AppInfo>,
    /// The connection as it stands.
    pub connection: Option<ConnectionChanged>,
}

/// Appearance, connection profiles, the certificate vault, remembered networks, and about.
#[component]
pub fn SettingsPage(props: &SettingsPageProps) -> Html {
    html! {
        <div class="stack">
            <section class="card" aria-labelledby="appearance-title">
                <h2 id="appearance-title">{ "Appearance" }</h2>
                <ThemeSwitch value={props.theme} on_change={props.on_theme.clone()} />
            </section>
            <ProfilesPanel connection={props.connection.clone()} />
            <VaultPanel />
            <NetworksPanel />
            <AboutPanel info={props.app_info.clone()} />
        </div>
    }
}
