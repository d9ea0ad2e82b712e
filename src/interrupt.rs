//! Stopping cleanly on SIGINT and SIGTERM (Ctrl-C, `kill`, Slurm's notice before it ends or
//! preempts a job): the signal is recorded, the chunk loop stops at its next delivery, and every
//! unfinished file is removed as the run unwinds. The run directory keeps no run.json, which is
//! what marks it incomplete. A checkpointed run (docs/ARCHITECTURE.md, "Checkpoints") writes a
//! checkpoint first, from which `run --resume` goes on.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Records SIGINT and SIGTERM from now on, for the commands that stop at them cleanly (`run`,
/// `merge`); a second signal ends the process at once.
pub fn install() {
    let flag = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // In this order: a signal ends the process if one was seen before, then is recorded.
        let r = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, seen.clone())
            .and_then(|_| signal_hook::flag::register(sig, seen.clone()))
            .and_then(|_| signal_hook::flag::register_usize(sig, flag.clone(), sig as usize));
        if let Err(e) = r {
            log::warn!("cannot watch signal {sig}: {e}");
        }
    }
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    RECEIVED.get().map(|f| f.load(Ordering::Relaxed)).filter(|&s| s != 0).map(|s| s as i32)
}

/// The run was stopped by a signal.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Interrupted {
    pub signal: i32,
    /// Where a checkpoint was written: the model time it holds and the run directory.
    pub checkpoint: Option<(f64, std::path::PathBuf)>,
}

impl Interrupted {
    fn describe(&self) -> String {
        let name = signal_name(self.signal);
        match &self.checkpoint {
            None => format!(
                "stopped by {name} before the end; unfinished files were removed: run the command again (with --force if its output directory is left, marked INCOMPLETE)"
            ),
            Some((t, dir)) => format!(
                "stopped by {name}; a checkpoint at t = {t} was written: continue with idpsim run --resume {}",
                dir.display()
            ),
        }
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Fails once a signal has been received.
pub fn check() -> Result<(), Interrupted> {
    match received() {
        Some(signal) => Err(Interrupted { signal, checkpoint: None }),
        None => Ok(()),
    }
}
