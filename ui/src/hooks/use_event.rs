use std::cell::{Cell, RefCell};
use std::rc::Rc;

use companion_model::{Event, IpcError};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::ipc::{self, Subscription};

/// Subscribes to backend event `E` for as long as the component is mounted.
///
/// `on_event` gets every payload (or the error that kept one from being read). `on_listening`
/// runs once the subscription is in place: the moment to ask the backend for the current state,
/// so that nothing sent before the listener existed is missed.
#[hook]
pub fn use_event<E: Event + 'static>(
    on_event: Callback<Result<E, IpcError>>,
    on_listening: Callback<Result<(), IpcError>>,
) {
    use_effect_with((), move |()| {
        let mounted = Rc::new(Cell::new(true));
        let subscription = Rc::new(RefCell::new(None::<Subscription>));
        {
            let (mounted, subscription) = (mounted.clone(), subscription.clone());
            spawn_local(async move {
                let result = ipc::listen::<E>(move |event| on_event.emit(event)).await;
                match result {
                    // Unmounted while subscribing: dropping the subscription ends it.
                    Ok(_) if !mounted.get() => {}
                    Ok(live) => {
                        *subscription.borrow_mut() = Some(live);
                        on_listening.emit(Ok(()));
                    }
                    Err(error) => on_listening.emit(Err(error)),
                }
            });
        }
        move || {
            mounted.set(false);
            subscription.borrow_mut().take();
        }
    });
}
