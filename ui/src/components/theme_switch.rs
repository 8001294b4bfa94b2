use yew::prelude::*;

use crate::theme::ThemePreference;

/// Props of [`ThemeSwitch`].
#[derive(Debug, Properties, PartialEq)]
pub struct ThemeSwitchProps {
    /// The current choice.
    pub value: ThemePreference,
    /// Called with the new choice.
    pub on_change: Callback<ThemePreference>,
}

/// A radio group for System / Light / Dark; arrow keys move between the options.
#[component]
pub fn ThemeSwitch(props: &ThemeSwitchProps) -> Html {
    let options = ThemePreference::ALL.into_iter().map(|theme| {
        let onchange = props.on_change.reform(move |_: Event| theme);
        html! {
            <label class="choice">
                <input
                    type="radio"
                    name="theme"
                    id={format!("theme-{}", theme.as_str())}
                    value={theme.as_str()}
                    checked={theme == props.value}
                    {onchange}
                />
                <span>{ theme.label() }</span>
            </label>
        }
    });
    html! {
        <fieldset class="choices">
            <legend>{ "Theme" }</legend>
            { for options }
        </fieldset>
    }
}
