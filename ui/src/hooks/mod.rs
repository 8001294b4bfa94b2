//! Hooks, one per file.

mod use_event;
mod use_page_shortcuts;

pub use use_event::use_event;
pub use use_page_shortcuts::use_page_shortcuts;
