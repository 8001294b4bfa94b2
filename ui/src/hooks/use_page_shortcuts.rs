use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use yew::prelude::*;

use crate::state::Page;

/// Alt+1 … Alt+4 go to the pages in navigation order, from anywhere in the window.
#[hook]
pub fn use_page_shortcuts(on_navigate: Callback<Page>) {
    use_effect_with((), move |()| {
        let listener = Closure::<dyn Fn(KeyboardEvent)>::new(move |event: KeyboardEvent| {
            if !event.alt_key() || event.ctrl_key() || event.meta_key() {
                return;
            }
            let page = event.key().chars().next().and_then(Page::from_shortcut);
            if let Some(page) = page {
                event.prevent_default();
                on_navigate.emit(page);
            }
        });
        let document = web_sys::window().and_then(|window| window.document());
        if let Some(document) = &document {
            // Adding a listener to the document only fails for a non-function, which this is not.
            let _ = document
                .add_event_listener_with_callback("keydown", listener.as_ref().unchecked_ref());
        }
        move || {
            if let Some(document) = document {
                let _ = document.remove_event_listener_with_callback(
                    "keydown",
                    listener.as_ref().unchecked_ref(),
                );
            }
        }
    });
}
