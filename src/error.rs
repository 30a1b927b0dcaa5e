//! The crate's error type.
//!
//! One enum for every failure a caller can cause: a shape that does not fit an op, an invalid
//! hyperparameter, a file that cannot be read or does not hold what it should, data that is not
//! usable (NaN, empty, inconsistent lengths). Every message names what was wrong and where.
//! Internal invariants (bugs) panic instead and say so in a **Panics** doc line.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong when calling detaux with bad input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Operands of an op do not have compatible shapes, e.g.
    /// `matmul: shapes [2, 3] and [4, 5] do not agree (inner dimensions 3 and 4)`.
    Shape {
        /// Name of the op (`"add"`, `"conv2d"`, …).
        op: &'static str,
        /// What was wrong, naming every offending shape.
        detail: String,
    },
    /// A hyperparameter or argument is out of its valid range.
    InvalidParam {
        /// The parameter's name as the user spells it (`"n_clusters"`, `"--epochs"`).
        name: String,
        /// Why it is invalid (`"must be >= 1, got 0"`).
        reason: String,
    },
    /// Data is unusable: empty, contains NaN/∞, lengths disagree, labels out of range, ….
    InvalidData(String),
    /// An autodiff variable was used outside the step it was recorded in: its tape's
    /// `backward` has consumed that step (so its id may name another step's node), or it is
    /// looked up in the gradients of another step.
    StaleVar {
        /// What used it (`"add"`, `"backward"`, `"Grads::wrt"`, …).
        op: &'static str,
        /// The variable's node id.
        id: usize,
        /// The tape generation the variable was created in.
        generation: u64,
    },
    /// An I/O failure on a file.
    Io {
        /// The file (or directory) involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file was read but does not hold what it should (bad magic, truncated, wrong dtype, …).
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// `Result<T, detaux::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Shape`] from an op name and a message.
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape { op, detail: detail.into() }
    }
    /// An [`Error::InvalidParam`].
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidParam { name: name.into(), reason: reason.into() }
    }
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format { path: path.into(), reason: reason.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape { op, detail } => write!(f, "{op}: {detail}"),
            Error::InvalidParam { name, reason } => write!(f, "invalid {name}: {reason}"),
            Error::InvalidData(msg) => write!(f, "invalid data: {msg}"),
            Error::StaleVar { op, id, generation } => write!(
                f,
                "{op}: variable #{id} of tape generation {generation} is stale (a Var is valid only until its tape's backward())"
            ),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
