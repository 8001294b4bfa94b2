use yew::prelude::*;

use crate::components::NotBuilt;

/// The audit trail: provisioning attempts, connection events, errors.
#[component]
pub fn ActivityPage() -> Html {
    html! {
        <NotBuilt
            purpose="Activity records every provisioning attempt, connection change and error, with export as CSV and JSON."
            missing="Nothing is recorded yet: this build has no local store or engine to record from."
        />
    }
}
