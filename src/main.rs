use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use idpsim::cli::{Cli, dispatch};

fn main() -> ExitCode {
    // Headless: without XDG_RUNTIME_DIR, Vulkan's window-system probing prints a spurious error
    // line per device. Set it before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: nothing else runs yet; no other thread can read the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // Values may be negative numbers ("--seed -1" is then refused by its range, naming the
    // flag, instead of read as an unknown flag "-1").
    let command = Cli::command().mut_subcommands(|sc| {
        sc.mut_args(|a| if a.get_action().takes_values() { a.allow_negative_numbers(true) } else { a })
    });
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, as every other error: clap's first paragraph (a message, and for missing
            // arguments their list), then where the accepted values are.
            let text = e.render().to_string();
            let first: Vec<&str> =
                text.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
            let line = match first.split_first() {
                None => "error: bad arguments".to_string(),
                Some((head, [])) => head.to_string(),
                Some((head, items)) => format!("{head} {}", items.join(", ")),
            };
            eprintln!("{line}; see idpsim help");
            return ExitCode::from(2);
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
