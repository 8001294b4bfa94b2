use companion_model::AppInfo;
use yew::prelude::*;

use crate::state::Load;

/// Props of [`AboutPanel`].
#[derive(Debug, Properties, PartialEq)]
pub struct AboutPanelProps {
    /// What the backend reported about itself.
    pub info: Load<AppInfo>,
}

/// Version, build, platform, data directory and the active broker and radio, from `app_info`.
#[component]
pub fn AboutPanel(props: &AboutPanelProps) -> Html {
    let body = match &props.info {
        Load::Pending => html! { <p class="muted" aria-busy="true">{ "Asking the backend…" }</p> },
        Load::Failed(error) => html! {
            <p class="error" role="alert">{ format!("Could not read the app's details: {error}") }</p>
        },
        Load::Ready(info) => html! {
            <dl class="facts" id="about-facts">
                <dt>{ "Version" }</dt><dd id="about-version">{ &info.version }</dd>
                <dt>{ "Build" }</dt><dd id="about-build">{ info.build_profile.label() }</dd>
                <dt>{ "Platform" }</dt><dd id="about-platform">{ &info.platform }</dd>
                <dt>{ "Data directory" }</dt><dd id="about-data-dir" class="mono">{ &info.data_dir }</dd>
                <dt>{ "Broker" }</dt><dd id="about-broker">{ info.broker.label() }</dd>
                <dt>{ "Radio" }</dt><dd id="about-radio">{ info.radio.label() }</dd>
            </dl>
        },
    };
    html! {
        <section class="card" aria-labelledby="about-title">
            <h2 id="about-title">{ "About IoT Companion" }</h2>
            { body }
        </section>
    }
}
