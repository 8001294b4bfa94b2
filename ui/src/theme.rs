//! Light and dark themes. The choice is kept in the webview's local storage and applied as
//! `data-theme` on the root element; `system` lets the stylesheet follow the OS setting.

/// The user's theme choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThemePreference {
    /// Follow the operating system's light or dark setting.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

const STORAGE_KEY: &str = "companion.theme";

impl ThemePreference {
    /// All choices, in the order the switch shows them.
    pub const ALL: [ThemePreference; 3] = [Self::System, Self::Light, Self::Dark];

    /// The value stored and set as `data-theme`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// The label shown in the switch.
    pub fn label(self) -> &'static str {
        match self {
            Self::System => "Follow system",
            Self::Light => "Light",
            Self::Dark => "Dark",
        }
    }

    /// Parses a stored value; anything unknown falls back to following the system.
    pub fn parse(value: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|theme| theme.as_str() == value)
            .unwrap_or_default()
    }
}

/// The stored choice, or `System` when none is stored (or outside a browser).
pub fn stored() -> ThemePreference {
    #[cfg(target_arch = "wasm32")]
    {
        let value = web_sys::window()
            .and_then(|window| window.local_storage().ok().flatten())
            .and_then(|storage| storage.get_item(STORAGE_KEY).ok().flatten());
        if let Some(value) = value {
            return ThemePreference::parse(&value);
        }
    }
    ThemePreference::System
}

/// Applies `theme` to the document and remembers it. Storage failures (a private webview, a
/// full quota) only mean the choice is not remembered; the theme still applies.
pub fn apply(theme: ThemePreference) {
    #[cfg(target_arch = "wasm32")]
    {
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Some(root) = window.document().and_then(|d| d.document_element()) {
            // Setting an attribute cannot fail on the root element of an HTML document.
            let _ = root.set_attribute("data-theme", theme.as_str());
        }
        if let Ok(Some(storage)) = window.local_storage() {
            let _ = storage.set_item(STORAGE_KEY, theme.as_str());
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (theme, STORAGE_KEY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_theme_parses_back_from_its_stored_value() {
        for theme in ThemePreference::ALL {
            assert_eq!(ThemePreference::parse(theme.as_str()), theme);
        }
    }

    #[test]
    fn an_unknown_stored_value_follows_the_system() {
        assert_eq!(ThemePreference::parse("sepia"), ThemePreference::System);
        assert_eq!(ThemePreference::parse(""), ThemePreference::System);
    }
}
