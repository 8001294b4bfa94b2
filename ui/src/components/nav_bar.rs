use yew::prelude::*;

use super::{Icon, IconName};
use crate::state::Page;

/// Props of [`NavBar`].
#[derive(Debug, Properties, PartialEq)]
pub struct NavBarProps {
    /// The page on screen; its entry is marked current.
    pub current: Page,
    /// Called with the page the user picked.
    pub on_navigate: Callback<Page>,
}

fn icon_for(page: Page) -> IconName {
    match page {
        Page::Fleet => IconName::Fleet,
        Page::Provision => IconName::Provision,
        Page::Activity => IconName::Activity,
        Page::Settings => IconName::Settings,
    }
}

/// The main navigation: a sidebar on wide windows, a bottom bar within thumb reach on phones.
#[component]
pub fn NavBar(props: &NavBarProps) -> Html {
    let items = Page::ALL.into_iter().enumerate().map(|(index, page)| {
        let onclick = props.on_navigate.reform(move |_: MouseEvent| page);
        let current = (page == props.current).then_some("page");
        html! {
            <li>
                <button
                    type="button"
                    id={format!("nav-{}", page.slug())}
                    class="nav-item"
                    aria-current={current}
                    title={format!("{} (Alt+{})", page.title(), index + 1)}
                    {onclick}
                >
                    <Icon name={icon_for(page)} />
                    <span class="nav-label">{ page.title() }</span>
                </button>
            </li>
        }
    });
    html! {
        <nav class="nav" aria-label="Main">
            <div class="brand">
                <img src="icon.svg" alt="" width="28" height="28" />
                <span class="brand-name">{ "IoT Companion" }</span>
            </div>
            <ul class="nav-list">{ for items }</ul>
        </nav>
    }
}
