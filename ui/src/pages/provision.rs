use yew::prelude::*;

use crate::components::NotBuilt;

/// Finding nearby devices and taking them from the box to online.
#[component]
pub fn ProvisionPage() -> Html {
    html! {
        <NotBuilt
            purpose="Provisioning finds nearby devices over Bluetooth LE, proves possession, gives them Wi-Fi credentials and an X.509 identity for AWS IoT, and watches them come online — one device or a batch."
            missing="This build has no radio yet: Bluetooth LE provisioning and the simulated radio arrive in a later release."
        />
    }
}
