package dev.iotcompanion.mobile

import android.Manifest
import android.app.Activity
import android.content.Intent
import android.net.Uri
import android.os.Build
import android.provider.Settings
import android.util.Log
import android.webkit.WebView
import app.tauri.PermissionState
import app.tauri.annotation.Command
import app.tauri.annotation.Permission
import app.tauri.annotation.PermissionCallback
import app.tauri.annotation.TauriPlugin
import app.tauri.plugin.Invoke
import app.tauri.plugin.JSObject
import app.tauri.plugin.Plugin

private const val TAG = "CompanionMobile"

/** Android 12+ (API 31): "Nearby devices", i.e. scanning and connecting. */
private const val ALIAS_BLUETOOTH = "bluetooth"

/** Android 11 and older: a BLE scan finds nothing without location. */
private const val ALIAS_LOCATION = "location"

/**
 * IoT Companion's Android half of the `companion-mobile` plugin (mobile/src/mobile.rs calls
 * it): Bluetooth permissions at run time, and btleplug's bootstrap when the plugin loads.
 *
 * The permissions themselves are declared in the app's manifest
 * (src-tauri/gen/android/app/src/main/AndroidManifest.xml).
 */
@TauriPlugin(
    permissions = [
        Permission(
            strings = [Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT],
            alias = ALIAS_BLUETOOTH,
        ),
        Permission(strings = [Manifest.permission.ACCESS_FINE_LOCATION], alias = ALIAS_LOCATION),
    ],
)
class CompanionMobilePlugin(private val activity: Activity) : Plugin(activity) {

    /** Implemented in Rust (mobile/src/android.rs): null when btleplug is ready, else why not. */
    private external fun initBtleplug(): String?

    override fun load(webView: WebView) {
        super.load(webView)
        activity.runOnUiThread { initBluetoothBackend() }
    }

    /**
     * btleplug finds its Java classes through the calling thread's context class loader, and
     * keeps that loader for the threads it attaches later: on the main thread, make sure it is
     * the application's.
     */
    private fun initBluetoothBackend() {
        Thread.currentThread().contextClassLoader = activity.classLoader
        val failure = try {
            initBtleplug()
        } catch (error: Throwable) {
            // UnsatisfiedLinkError (the Rust library is not loaded) or a Rust panic rethrown
            // as a RuntimeException: BLE stays unavailable, the rest of the app works.
            error.toString()
        }
        if (failure == null) {
            Log.i(TAG, "btleplug initialised")
        } else {
            Log.e(TAG, "btleplug could not be initialised: $failure")
        }
    }

    /** The permissions a scan needs on this version of Android. */
    private fun bleAlias(): String =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) ALIAS_BLUETOOTH else ALIAS_LOCATION

    /** Maps Tauri's permission state to the names Rust expects (BlePermissionState). */
    private fun bleState(): String = when (getPermissionState(bleAlias())) {
        PermissionState.GRANTED -> "granted"
        // Tauri records DENIED when the request was refused and Android will not show its
        // dialog again ("don't ask again", or refused twice).
        PermissionState.DENIED -> "permanently-denied"
        PermissionState.PROMPT_WITH_RATIONALE -> "denied"
        PermissionState.PROMPT, null -> "prompt"
    }

    private fun resolveState(invoke: Invoke, state: String) {
        val reply = JSObject()
        reply.put("state", state)
        invoke.resolve(reply)
    }

    @Command
    fun checkBlePermissions(invoke: Invoke) {
        resolveState(invoke, bleState())
    }

    @Command
    fun requestBlePermissions(invoke: Invoke) {
        if (getPermissionState(bleAlias()) == PermissionState.GRANTED) {
            resolveState(invoke, "granted")
        } else {
            // Asked even when Tauri remembers a permanent refusal: the user may have reset it in
            // the settings since. When Android will not show its dialog, the answer comes back
            // at once, refused.
            requestPermissionForAlias(bleAlias(), invoke, "blePermissionsCallback")
        }
    }

    @PermissionCallback
    private fun blePermissionsCallback(invoke: Invoke) {
        resolveState(invoke, bleState())
    }

    /** The app's page in the system settings ("App info"), where permissions can be granted. */
    @Command
    fun openAppSettings(invoke: Invoke) {
        val intent = Intent(
            Settings.ACTION_APPLICATION_DETAILS_SETTINGS,
            Uri.fromParts("package", activity.packageName, null),
        )
        intent.addFlags(Intent.FLAG_ACTIVITY_NEW_TASK)
        try {
            activity.startActivity(intent)
            invoke.resolve()
        } catch (error: Exception) {
            invoke.reject("Could not open the app's settings: ${error.message}")
        }
    }
}
