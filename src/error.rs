//! Errors shared by every layer, and the one way the tool prints a result line.
//!
//! Two kinds of error reach the user: a [`SpecError`] (a spec value that is wrong, named by its
//! dotted path) and a [`UsageError`] (anything else the user gave: an option, a path, a
//! directory, named by its [`Input`]). Both exit with status 2; every other error exits with 1.
//! Neither holds a front end's words: each front end names the input as its users know it
//! ([`Words::Cli`]: `--trajectories`, [`Words::Python`]: `trajectories=`).

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

/// What a user gave besides the spec's own fields, in no front end's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A field of the spec, by its dotted path.
    Field(String),
    /// The spec as a whole (its file or text).
    Spec,
    /// A built-in spec's name.
    Preset,
    /// The output directory.
    Out,
    /// Write into a non-empty output directory.
    Force,
    /// A checkpointed run's directory to go on with.
    Resume,
    /// Keep a checkpoint every so much model time.
    CheckpointEvery,
    /// The backend (`run.backend`).
    Backend,
    /// The GPU adapter(s) (`run.adapter`).
    Adapter,
    /// The ensemble's size (`ensemble.trajectories`).
    Trajectories,
    /// The ensemble's seed (`ensemble.seed`).
    Seed,
    /// One shard of the ensemble.
    Shard,
    /// A finished run's directory (or a merge's shard directories).
    Dir,
    /// A run directory to compare with.
    Compare,
    /// Cells per axis of a grid.
    Grid,
    /// The saliencies of the quick form (`theory --saliency`).
    Saliency,
    /// The slope of the quick form.
    Slope,
    /// The noise level of the quick form.
    Sigma,
    /// N of the quick form.
    N,
    /// The quick form's network (its N and saliencies).
    QuickNetwork,
    /// Merge shards of different devices.
    MixedBackends,
    /// Trajectories to replay.
    Trajectory,
    /// The interval between a replay's saves.
    Every,
    /// Benchmark cases.
    Cases,
    /// The work layout of a benchmark.
    Layout,
    /// The noise increments of a benchmark.
    Increments,
}

/// Whose words an error is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Words {
    /// The command line: `--out`, `--force`, `SPEC`, `DIR`.
    Cli,
    /// The Python module: `out=`, `force=True`, `spec`, `dir`.
    Python,
}

impl Input {
    /// The name a front end gives the input.
    pub fn name(&self, words: Words) -> String {
        use Input::*;
        let (cli, python) = match self {
            Field(f) if f == "spec" => return f.clone(),
            Field(f) => return if words == Words::Cli { format!("spec: {f}") } else { f.clone() },
            Spec => ("SPEC", "spec"),
            Preset => ("--preset", "preset"),
            Out => ("--out", "out"),
            Force => ("--force", "force=True"),
            Resume => ("--resume", "resume"),
            CheckpointEvery => ("--checkpoint-every", "checkpoint_every"),
            Backend => ("--backend", "backend"),
            Adapter => ("--adapter", "adapter"),
            Trajectories => ("--trajectories", "trajectories"),
            Seed => ("--seed", "seed"),
            Shard => ("--shard", "shard"),
            Dir => ("DIR", "dir"),
            Compare => ("--compare", "compare"),
            Grid => ("--grid", "grid"),
            Saliency => ("--saliency", "saliency"),
            Slope => ("--slope", "slope"),
            Sigma => ("--sigma", "sigma"),
            N => ("--n", "n"),
            QuickNetwork => ("--n / --saliency", "n / saliency"),
            MixedBackends => ("--mixed-backends", "mixed_backends=True"),
            Trajectory => ("--trajectory", "trajectories"),
            Every => ("--every", "every"),
            Cases => ("--cases", "cases"),
            Layout => ("--layout", "layout"),
            Increments => ("--increments", "increments"),
        };
        (if words == Words::Cli { cli } else { python }).to_string()
    }
}

/// Marks of an input named inside a message (its command-line name, then its Python name),
/// replaced by the front end's name for it.
const MARK_OPEN: char = '\u{1}';
const MARK_SPLIT: char = '\u{3}';
const MARK_CLOSE: char = '\u{2}';

/// Names `input` inside a [`UsageError`]'s message (say, the advice "start again with
/// {mention(&Input::Force)}"): each front end writes its own name for it there.
pub fn mention(input: &Input) -> String {
    format!("{MARK_OPEN}{}{MARK_SPLIT}{}{MARK_CLOSE}", input.name(Words::Cli), input.name(Words::Python))
}

/// A mistake in what the user gave (exit status 2): which input, and what is wrong with it and
/// what is accepted. Displayed in the command line's words; [`UsageError::words`] gives another
/// front end's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.words(Words::Cli))]
pub struct UsageError {
    pub input: Input,
    pub message: String,
}

impl UsageError {
    pub fn new(input: Input, message: impl Into<String>) -> Self {
        UsageError { input, message: message.into() }
    }

    /// A mistake that concerns no one input (say, a missing spec source).
    pub fn general(message: impl Into<String>) -> Self {
        UsageError::new(Input::Spec, message)
    }

    /// The message alone, with the inputs it mentions named in `words`.
    pub fn message_in(&self, words: Words) -> String {
        let mut out = String::with_capacity(self.message.len());
        let mut rest = self.message.as_str();
        while let Some(open) = rest.find(MARK_OPEN) {
            out.push_str(&rest[..open]);
            let after = &rest[open + MARK_OPEN.len_utf8()..];
            let Some(close) = after.find(MARK_CLOSE) else {
                rest = after;
                break;
            };
            let (cli, python) = after[..close].split_once(MARK_SPLIT).unwrap_or((&after[..close], &after[..close]));
            out.push_str(if words == Words::Cli { cli } else { python });
            rest = &after[close + MARK_CLOSE.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    /// "input: message" in `words`.
    pub fn words(&self, words: Words) -> String {
        format!("{}: {}", self.input.name(words), self.message_in(words))
    }
}

impl From<SpecError> for UsageError {
    fn from(e: SpecError) -> Self {
        UsageError::new(Input::Field(e.field), e.message)
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
