import CoreBluetooth
import SwiftRs
import Tauri
import UIKit
import WebKit

/// IoT Companion's iOS half of the `companion-mobile` plugin (mobile/src/mobile.rs calls it).
///
/// iOS asks for Bluetooth the first time the app uses CoreBluetooth, with the Info.plist's
/// `NSBluetoothAlwaysUsageDescription` (src-tauri/Info.ios.plist). After a refusal it never asks
/// again: only the Settings app can grant it. btleplug needs no bootstrap on iOS.
class CompanionMobilePlugin: Plugin, CBCentralManagerDelegate {
  /// Kept while a request is pending: creating it is what makes iOS show its dialog.
  private var manager: CBCentralManager?
  private var pending: [Invoke] = []

  /// The names Rust expects (BlePermissionState).
  private func state(_ authorization: CBManagerAuthorization) -> String {
    switch authorization {
    case .allowedAlways:
      return "granted"
    case .notDetermined:
      return "prompt"
    case .denied, .restricted:
      // iOS shows its dialog once; `.restricted` is set by the device's owner (Screen Time, MDM).
      return "permanently-denied"
    @unknown default:
      return "permanently-denied"
    }
  }

  @objc public func checkBlePermissions(_ invoke: Invoke) throws {
    invoke.resolve(["state": state(CBManager.authorization)])
  }

  @objc public func requestBlePermissions(_ invoke: Invoke) throws {
    let authorization = CBManager.authorization
    if authorization != .notDetermined {
      invoke.resolve(["state": state(authorization)])
      return
    }
    DispatchQueue.main.async {
      self.pending.append(invoke)
      if self.manager == nil {
        // No "Bluetooth is off" alert from iOS here: the app says it itself.
        self.manager = CBCentralManager(
          delegate: self, queue: nil,
          options: [CBCentralManagerOptionShowPowerAlertKey: false])
      }
    }
  }

  /// Called once the user has answered (and on every later Bluetooth state change).
  public func centralManagerDidUpdateState(_ central: CBCentralManager) {
    let authorization = CBManager.authorization
    if authorization == .notDetermined {
      return
    }
    let waiting = pending
    pending = []
    manager = nil
    for invoke in waiting {
      invoke.resolve(["state": state(authorization)])
    }
  }

  /// The app's page in the Settings app, where Bluetooth can be allowed after a refusal.
  @objc public func openAppSettings(_ invoke: Invoke) throws {
    DispatchQueue.main.async {
      guard let url = URL(string: UIApplication.openSettingsURLString) else {
        invoke.reject("The Settings app's address is not available")
        return
      }
      UIApplication.shared.open(url) { opened in
        if opened {
          invoke.resolve()
        } else {
          invoke.reject("The Settings app could not be opened")
        }
      }
    }
  }
}

@_cdecl("init_plugin_companion_mobile")
public func initPlugin() -> Plugin {
  return CompanionMobilePlugin()
}
