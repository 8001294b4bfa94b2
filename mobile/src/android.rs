//! btleplug's Android bootstrap.
//!
//! btleplug's Android backend (droidplug) drives `android.bluetooth` through its own Java
//! classes, which it finds by name. `btleplug::platform::init` must run before the first
//! `Manager::new()`, on a thread that the JVM knows and whose context class loader is the
//! application's: off such a thread, the app's classes are not found. The Kotlin plugin calls
//! [`init_btleplug`] from `load()`, on Android's main thread, after setting that thread's
//! context class loader to the activity's (`CompanionMobilePlugin.initBluetoothBackend`).
//!
//! btleplug's Java classes are compiled into the APK from `android/droidplug/java` and kept by
//! R8 (`android/consumer-rules.pro`).

use std::sync::{Mutex, PoisonError};

use jni::objects::{JObject, JString};
use jni::{Env, EnvUnowned, errors::ThrowRuntimeExAndDefault};

use crate::{Error, Result};

/// `None` until the Kotlin plugin has loaded; then the outcome of the last `init`.
static BTLEPLUG: Mutex<Option<std::result::Result<(), String>>> = Mutex::new(None);

/// `CompanionMobilePlugin.initBtleplug()`: initialises btleplug on the calling JVM thread.
///
/// Returns `null` when btleplug is ready, or why it is not. Initialising twice (the activity
/// being recreated) is harmless: btleplug keeps its first adapter.
#[jni::jni_mangle("dev.iotcompanion.mobile.CompanionMobilePlugin")]
pub fn init_btleplug<'local>(
    mut env: EnvUnowned<'local>,
    _plugin: JObject<'local>,
) -> JString<'local> {
    env.with_env(
        |env: &mut Env<'local>| -> jni::errors::Result<JString<'local>> {
            let outcome = btleplug::platform::init(env).map_err(|error| error.to_string());
            *BTLEPLUG.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome.clone());
            match outcome {
                Ok(()) => Ok(JString::null()),
                Err(reason) => env.new_string(reason),
            }
        },
    )
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// What [`crate::CompanionMobile::ble_platform`] reports on Android.
pub(crate) fn btleplug_status() -> Result<()> {
    match &*BTLEPLUG.lock().unwrap_or_else(PoisonError::into_inner) {
        Some(Ok(())) => Ok(()),
        Some(Err(reason)) => Err(Error::BlePlatform(reason.clone())),
        None => Err(Error::BlePlatform(
            "the Bluetooth backend starts when the app's window is created, which has not \
             happened yet"
                .into(),
        )),
    }
}
