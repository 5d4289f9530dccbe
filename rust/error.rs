//! The one error type of the core.
//!
//! Every fallible function of the core returns `Result<T, Error>`. The Python bindings map the variants to Python
//! exceptions in one place (`py.rs`): `Value` to `ValueError`, `Format` to `qfast.FormatError` (a `ValueError`),
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

/// A zero-filled byte buffer of `n` bytes, or `Error::OutOfMemory` instead of aborting.
///
/// Large zeroed allocations come from the OS already zeroed, so this costs no extra pass over the memory.
pub fn zeroed_bytes(n: usize) -> Result<Vec<u8>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(n).map_err(|_| Error::OutOfMemory { bytes: n })?;
    // SAFETY: the layout has non-zero size; a null pointer is handled; the pointer comes from the global allocator
    // with exactly this layout (align 1, size n == capacity), as `Vec::from_raw_parts` requires, and every byte is
    // initialised (zeroed).
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout);
        if ptr.is_null() {
            return Err(Error::OutOfMemory { bytes: n });
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_argument() {
        let e = Error::value("levels", "expected 2..256, got 1");
        assert_eq!(e.to_string(), "levels: expected 2..256, got 1");
    }

    #[test]
    fn zeroed_bytes_is_zeroed_and_sized() {
        let v = zeroed_bytes(1 << 20).unwrap();
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&b| b == 0));
        assert!(zeroed_bytes(0).unwrap().is_empty());
    }

    #[test]
    fn zeroed_bytes_refuses_impossible_sizes() {
        assert!(matches!(zeroed_bytes(usize::MAX), Err(Error::OutOfMemory { .. })));
    }
}
