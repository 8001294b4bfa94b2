use yew::prelude::*;

/// Props of [`NotBuilt`].
#[derive(Debug, Properties, PartialEq)]
pub struct NotBuiltProps {
    /// What this part of the app will do.
    pub purpose: AttrValue,
    /// What is missing from this build for it to work.
    pub missing: AttrValue,
}

/// Says plainly that a part of the app is not in this build yet, and what it will do.
#[component]
pub fn NotBuilt(props: &NotBuiltProps) -> Html {
    html! {
        <section class="notice" role="status">
            <h2 class="notice-title">{ "Not in this build yet" }</h2>
            <p>{ &props.purpose }</p>
            <p class="muted">{ &props.missing }</p>
        </section>
    }
}
