//! Errors shared by every layer, and the one way the tool prints a result line.
//!
//! Two kinds of error reach the user: a [`SpecError`] (a spec value that is wrong, named by its
//! dotted path) and a [`UsageError`] (anything else the user gave: a flag, a path, a
//! directory). Both exit with status 2; every other error exits with 1. Flag names are added
//! only at the command-line edge (`cli`): lower layers name spec fields or files.

/// A spec value that is wrong: `field` is its dotted path, `message` says what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError { field: field.into(), message: message.into() }
    }
}

pub type SpecResult<T> = Result<T, SpecError>;

/// A mistake in what the user gave (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl From<SpecError> for UsageError {
    fn from(e: SpecError) -> Self {
        UsageError(format!("spec: {e}"))
    }
}

/// Whether an error chain holds a user mistake (exit status 2).
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<UsageError>().is_some() || c.downcast_ref::<SpecError>().is_some())
}

/// Prints a line on stdout; a closed pipe (e.g. `| head`) is not an error.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
