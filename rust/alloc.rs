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

// SAFETY: all-zero bytes are 0 for every primitive integer, 0.0 for the floats and false for bool.
unsafe impl Zeroable for bool {}
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

/// An empty `Vec` with room for `n` values, or `Error::OutOfMemory`.
pub fn with_capacity<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory { bytes: n.saturating_mul(std::mem::size_of::<T>()) })?;
    Ok(v)
}

/// A `Vec` of `n` copies of `value`, or `Error::OutOfMemory`.
pub fn filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = with_capacity(n)?;
    v.resize(n, value);
    Ok(v)
}

/// The items of an iterator of known length in a `Vec` allocated up front, or `Error::OutOfMemory`.
pub fn collect<T>(items: impl ExactSizeIterator<Item = T>) -> Result<Vec<T>> {
    let mut v = with_capacity(items.len())?;
    v.extend(items);
    Ok(v)
}

/// Makes room for `more` values in `v` (beyond its length), or `Error::OutOfMemory`.
pub fn reserve<T>(v: &mut Vec<T>, more: usize) -> Result<()> {
    v.try_reserve(more).map_err(|_| Error::OutOfMemory { bytes: more.saturating_mul(std::mem::size_of::<T>()) })
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
    fn the_other_helpers_allocate_or_refuse() {
        assert_eq!(filled(3, 7u16).unwrap(), vec![7, 7, 7]);
        assert_eq!(collect([1u8, 2, 3].iter().map(|v| v * 2)).unwrap(), vec![2, 4, 6]);
        assert!(with_capacity::<u64>(10).unwrap().capacity() >= 10);
        let mut v = vec![1u32];
        reserve(&mut v, 100).unwrap();
        assert!(v.capacity() >= 101);
        assert!(matches!(filled(usize::MAX / 4, 0u64), Err(Error::OutOfMemory { .. })));
        assert!(matches!(reserve(&mut v, usize::MAX / 2), Err(Error::OutOfMemory { .. })));
    }

    #[test]
    fn zeroed_refuses_impossible_sizes() {
        assert!(matches!(zeroed::<u8>(usize::MAX), Err(Error::OutOfMemory { .. })));
        assert!(matches!(zeroed::<i16>(usize::MAX / 2 + 1), Err(Error::OutOfMemory { bytes: usize::MAX })));
    }
}
