use yew::prelude::*;

/// The icons the app draws, as inline SVG so they follow the text colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconName {
    /// A grid of things.
    Fleet,
    /// Signal arcs over a device.
    Provision,
    /// A pulse line.
    Activity,
    /// Sliders.
    Settings,
}

/// Props of [`Icon`].
#[derive(Debug, Properties, PartialEq)]
pub struct IconProps {
    /// Which icon.
    pub name: IconName,
}

/// A 24×24 line icon, hidden from screen readers (the label next to it says what it means).
#[component]
pub fn Icon(props: &IconProps) -> Html {
    let paths = match props.name {
        IconName::Fleet => html! { <>
            <rect x="3" y="3" width="7" height="7" rx="1.5" />
            <rect x="14" y="3" width="7" height="7" rx="1.5" />
            <rect x="3" y="14" width="7" height="7" rx="1.5" />
            <rect x="14" y="14" width="7" height="7" rx="1.5" />
        </> },
        IconName::Provision => html! { <>
            <path d="M8.5 10.5a5 5 0 0 1 7 0" />
            <path d="M5.5 7.5a9.2 9.2 0 0 1 13 0" />
            <rect x="9.5" y="14" width="5" height="5" rx="1" />
        </> },
        IconName::Activity => html! { <path d="M3 12h4l2.5-6 5 12 2.5-6h4" /> },
        IconName::Settings => html! { <>
            <path d="M4 6h16M4 12h16M4 18h16" />
            <circle cx="9" cy="6" r="2" class="icon-knob" />
            <circle cx="15" cy="12" r="2" class="icon-knob" />
            <circle cx="7" cy="18" r="2" class="icon-knob" />
        </> },
    };
    html! {
        <svg class="icon" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false">
            { paths }
        </svg>
    }
}
