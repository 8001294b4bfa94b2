use yew::prelude::*;

use crate::components::NotBuilt;

/// Every thing of the active connection profile: online state, shadows, jobs.
#[component]
pub fn FleetPage() -> Html {
    html! {
        <NotBuilt
            purpose="The fleet lists every thing of the active connection profile with its online state, last seen time, key reported values and out-of-sync shadows, live."
            missing="This build has no broker connection yet: the live-control engine and the local AWS IoT Core sandbox arrive in the next releases."
        />
    }
}
