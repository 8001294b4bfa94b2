//! The UI's entry point, loaded by the Tauri window.

fn main() {
    companion_ui::start();
}
