//! Fallible allocation: zeroed buffers whose size comes from input, as `Error::OutOfMemory` instead of an abort.
//!
//! The global allocator aborts the process when it cannot satisfy a `Vec` (there is no unwinding from it), so a
//! buffer whose size an image, an argument or a file header decides should come from here, and a failure then
//! reaches Python as `MemoryError`. Zeroed memory comes from `alloc_zeroed` (calloc), which gets large blocks from the
//! OS already zeroed: no extra pass over the memory, and pages a decoder never reaches are never touched.

use crate::error::{Error, Result};

/// Plain number types whose all-zero bytes are the value zero, so a zeroed allocation is a valid `Vec` of them.
///
/// # Safety
/// Implement only for types for which every all-zero bit pattern is a valid value.
pub unsafe trait Zeroable: Copy {}

// SAFETY: all-zero bytes are 0 for every primitive integer and 0.0 for the floats.
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for u16 {}
unsafe impl Zeroable for u32 {}
unsafe impl Zeroable for u64 {}
unsafe impl Zeroable for i16 {}
unsafe impl Zeroable for i32 {}
unsafe impl Zeroable for f32 {}
unsafe impl Zeroable for f64 {}
// SAFETY: an array of zeroable values is all-zero bytes exactly when each element is.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// A `Vec` of `n` zeros, or `Error::OutOfMemory` (with the size asked for) instead of aborting.
pub fn zeroed<T: Zeroable>(n: usize) -> Result<Vec<T>> {
    if n == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| Error::OutOfMemory { bytes })?;
    // SAFETY: the layout has non-zero size; a null pointer is handled; the pointer comes from the global allocator
    // with exactly this layout (align of T, n elements == capacity), as `Vec::from_raw_parts` requires, and every
    // element is initialised (all-zero bytes are a valid T by `Zeroable`).
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        if ptr.is_null() {
            return Err(Error::OutOfMemory { bytes });
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_zeroed_and_sized() {
        let v = zeroed::<u8>(1 << 20).unwrap();
        assert_eq!(v.len(), 1 << 20);
        assert!(v.iter().all(|&b| b == 0));
        assert!(zeroed::<u8>(0).unwrap().is_empty());
        let w = zeroed::<i16>(1000).unwrap();
        assert!(w.len() == 1000 && w.iter().all(|&x| x == 0));
    }

    #[test]
    fn zeroed_refuses_impossible_sizes() {
        assert!(matches!(zeroed::<u8>(usize::MAX), Err(Error::OutOfMemory { .. })));
        assert!(matches!(zeroed::<i16>(usize::MAX / 2 + 1), Err(Error::OutOfMemory { bytes: usize::MAX })));
    }
}
