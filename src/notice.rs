//! Notices for the person waiting: what a run is doing when it is not integrating (kernels
//! being built, the device chosen). The library never prints; a front end installs a handler
//! (the command line prints each notice as a line on stderr unless `--quiet`; the Python
//! package shows it in its progress display). Without a handler, notices go to the log at info
//! level. Warnings have a handler of their own (the Python package raises them as Python
//! warnings); without one they are printed on stderr, as the command line wants.

use std::sync::{Arc, Mutex, OnceLock};

type Handler = Box<dyn Fn(&str) + Send + Sync>;
type Shared = Arc<dyn Fn(&str) + Send + Sync>;

fn slot() -> &'static Mutex<Option<Handler>> {
    static SLOT: OnceLock<Mutex<Option<Handler>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

fn warning_slot() -> &'static Mutex<Option<Shared>> {
    static SLOT: OnceLock<Mutex<Option<Shared>>> = OnceLock::new();
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

/// Installs `handler` for every later warning (replacing any earlier one); None removes it, and
/// warnings go to stderr again.
pub fn set_warning_handler(handler: Option<Handler>) {
    *warning_slot().lock().unwrap_or_else(|e| e.into_inner()) = handler.map(Shared::from);
}

/// A warning that must reach the person even under `--quiet` (no GPU where one may have been
/// expected): to the warning handler, else one line on stderr, "warning: …" (the notice
/// handler does not see it).
pub fn warn(message: &str) {
    log::debug!("{message}");
    // Called without the lock held: a handler may wait for another lock (Python's) whose holder
    // warns in turn.
    let handler = warning_slot().lock().unwrap_or_else(|e| e.into_inner()).clone();
    match handler {
        Some(h) => h(message),
        None => eprintln!("warning: {message}"),
    }
}
