use std::process::ExitCode;

use clap::Parser;
use idpsim::cli::{Cli, dispatch};

fn main() -> ExitCode {
    // Headless: without XDG_RUNTIME_DIR, Vulkan's window-system probing prints a spurious error
    // line per device. Set it before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: nothing else runs yet; no other thread can read the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // The commands that stop cleanly at SIGINT/SIGTERM; the others end at once, as usual.
    if matches!(
        cli.command,
        idpsim::cli::Command::Run(_) | idpsim::cli::Command::Merge { .. } | idpsim::cli::Command::Replay(_)
    ) {
        idpsim::interrupt::install();
    }
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(i) = e.chain().find_map(|c| c.downcast_ref::<idpsim::interrupt::Interrupted>()) {
                ExitCode::from((128 + i.signal) as u8)
            } else if idpsim::error::is_usage(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
