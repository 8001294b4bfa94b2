//! The bridge to the backend: the only module that touches `window.__TAURI__`.
//!
//! [`call`] invokes a [`Command`] and decodes its reply; [`listen`] subscribes to an [`Event`]
//! until the returned [`Subscription`] is dropped. Both report failures as [`IpcError`]: the
//! backend's own errors pass through unchanged, anything else becomes [`ErrorCode::Bridge`].

use companion_model::{Command, ErrorCode, Event, IpcError};
use serde::Serialize;
use wasm_bindgen::prelude::{Closure, wasm_bindgen};
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(command: &str, args: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    async fn tauri_listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<JsValue, JsValue>;
}

/// Invokes command `C` with `request` and returns its reply.
pub async fn call<C: Command>(request: &C) -> Result<C::Reply, IpcError> {
    #[derive(Serialize)]
    struct Args<'a, T> {
        request: &'a T,
    }
    let args = to_js(&Args { request })?;
    let reply = tauri_invoke(C::NAME, args).await.map_err(|error| {
        serde_wasm_bindgen::from_value::<IpcError>(error.clone())
            .unwrap_or_else(|_| unreachable_backend(C::NAME, &error))
    })?;
    serde_wasm_bindgen::from_value(reply).map_err(|error| {
        contract_mismatch(&format!("the reply to `{}`", C::NAME), &error.to_string())
    })
}

/// A live event subscription; dropping it stops the events.
pub struct Subscription {
    unlisten: js_sys::Function,
    // Kept alive for as long as the backend may call it.
    _handler: Closure<dyn FnMut(JsValue)>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Unlistening can only fail if the backend is gone, and then there is nothing to stop.
        let _ = self.unlisten.call0(&JsValue::NULL);
    }
}

/// Subscribes to event `E`; `on_event` gets each payload, or the error that kept one from
/// being read.
pub async fn listen<E: Event + 'static>(
    mut on_event: impl FnMut(Result<E, IpcError>) + 'static,
) -> Result<Subscription, IpcError> {
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
        on_event(decode_event::<E>(&message));
    });
    let unlisten = tauri_listen(E::NAME, &handler)
        .await
        .map_err(|error| unreachable_backend(E::NAME, &error))?;
    let unlisten = unlisten
        .dyn_into::<js_sys::Function>()
        .map_err(|_| contract_mismatch("the unlisten handle", "not a function"))?;
    Ok(Subscription {
        unlisten,
        _handler: handler,
    })
}

fn decode_event<E: Event>(message: &JsValue) -> Result<E, IpcError> {
    let payload = js_sys::Reflect::get(message, &JsValue::from_str("payload"))
        .map_err(|_| contract_mismatch(&format!("event `{}`", E::NAME), "no payload"))?;
    serde_wasm_bindgen::from_value(payload)
        .map_err(|error| contract_mismatch(&format!("event `{}`", E::NAME), &error.to_string()))
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, IpcError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|error| contract_mismatch("a request", &error.to_string()))
}

fn unreachable_backend(what: &str, error: &JsValue) -> IpcError {
    let detail = error
        .as_string()
        .or_else(|| {
            js_sys::JSON::stringify(error)
                .ok()
                .and_then(|s| s.as_string())
        })
        .unwrap_or_default();
    IpcError::new(
        ErrorCode::Bridge,
        format!(
            "The app's backend did not answer `{what}` ({detail}). This page only works inside the IoT Companion window; restart the app if it is."
        ),
    )
}

fn contract_mismatch(what: &str, detail: &str) -> IpcError {
    IpcError::new(
        ErrorCode::Bridge,
        format!(
            "The UI and the backend disagree on {what} ({detail}). They come from different builds; reinstall the app."
        ),
    )
}
