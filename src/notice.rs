//! Notices for the person waiting: what a run is doing when it is not integrating (kernels
//! being built, the device chosen). The library never prints; a front end installs a handler
//! (the command line prints each notice as a line on stderr unless `--quiet`; the Python
//! package shows it in its progress display). Without a handler, notices go to the log at info
//! level.

use std::sync::{Mutex, OnceLock};

type Handler = Box<dyn Fn(&str) + Send + Sync>;

fn slot() -> &'static Mutex<Option<Handler>> {
    static SLOT: OnceLock<Mutex<Option<Handler>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

/// Installs `handler` for every later notice (replacing any earlier one); None removes it.
pub fn set_handler(handler: Option<Handler>) {
    *slot().lock().unwrap_or_else(|e| e.into_inner()) = handler;
}

/// Says `message` to whoever listens.
pub fn emit(message: &str) {
    log::info!("{message}");
    if let Some(h) = slot().lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        h(message);
    }
}

/// A warning that must reach the person even under `--quiet` (no GPU where one may have been
/// expected): one line on stderr, "warning: …", whatever the handler.
pub fn warn(message: &str) {
    log::debug!("{message}");
    eprintln!("warning: {message}");
}
