//! The system's file dialog, so that files holding private keys are read by the backend and
//! never pass through the window.

use std::path::PathBuf;

use tauri::AppHandle;
use tauri_plugin_dialog::DialogExt;

/// Asks for the files of an identity: PEM (certificate, key, chain) or PKCS#12. `None` when
/// the user cancels.
pub async fn pick_identity_files(app: &AppHandle) -> Option<Vec<PathBuf>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Import a certificate and its private key")
        .add_filter(
            "Certificates and keys",
            &["pem", "crt", "key", "cer", "p12", "pfx"],
        )
        .pick_files(move |files| {
            let _ = tx.send(files);
        });
    let files = rx.await.ok()??;
    let paths: Vec<PathBuf> = files
        .into_iter()
        .filter_map(|file| file.into_path().ok())
        .collect();
    (!paths.is_empty()).then_some(paths)
}
