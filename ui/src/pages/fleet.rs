use yew::prelude::*;

use crate::components::NotBuilt;

/// Every thing of the active connection profile: online state, shadows, jobs.
#[component]
pub fn FleetPage() -> Html {
    html! {
        <NotBuilt
            purpose="The fleet lists every thing of the active connection profile with its online state, last seen time, key reported values and out-of-sync shadows, live."
            missing="This build already runs the local sandbox with its simulated devices and connects to it (see the status bar), but does not list things yet: the fleet view comes next."
        />
    }
}
