//! The one error type of the core.
//!
//! Every fallible function of the core returns `Result<T, Error>`. The Python bindings map the variants to Python
//! exceptions in one place (`py/mod.rs`): `Value` to `ValueError`, `Format` to `qfast.FormatError` (a `ValueError`),
//! `OutOfMemory` to `MemoryError`.

use std::fmt;

/// Everything that can go wrong in the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument is outside its documented range. `arg` names the argument as the Python API spells it.
    Value {
        /// The argument's name, e.g. `"levels"`.
        arg: &'static str,
        /// What was expected and what was given.
        msg: String,
    },
    /// Encoded data (a `.qfz` file) is malformed: the message names the problem (which CRC failed, which version is
    /// unknown, which field is out of range, ...).
    Format(String),
    /// An output buffer of `bytes` bytes could not be allocated.
    OutOfMemory {
        /// The size that was asked for.
        bytes: usize,
    },
}

impl Error {
    /// A `Value` error for argument `arg`.
    pub fn value(arg: &'static str, msg: impl Into<String>) -> Self {
        Error::Value { arg, msg: msg.into() }
    }

    /// A `Format` error with message `msg`.
    pub fn format(msg: impl Into<String>) -> Self {
        Error::Format(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value { arg, msg } => write!(f, "{arg}: {msg}"),
            Error::Format(msg) => write!(f, "{msg}"),
            Error::OutOfMemory { bytes } => write!(f, "could not allocate {bytes} bytes"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of the core.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_argument() {
        let e = Error::value("levels", "expected 2..256, got 1");
        assert_eq!(e.to_string(), "levels: expected 2..256, got 1");
    }
}
