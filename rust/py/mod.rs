//! The Python bindings (`qfast._core`): convert, check, release the GIL, call the core, convert back.
//!
//! PyO3 lives only under `rust/py/`. This file holds the module, the error mapping and the shared helpers; one
//! submodule per part of the core (`quantize`, `palette`, `codec`, and `pack`, `metrics`) mirrors `rust/` and adds
//! its functions with a `register` function called from `_core` below. Submodules use the helpers here and their
//! own part of the core, never each other.
//!
//! The Python package (`python/qfast`) does the friendly checks and defaults first and passes C-contiguous uint8
//! arrays; the checks here are the last line, so a bad call from anywhere is an exception, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod codec;
mod metrics;
mod pack;
mod palette;
mod quantize;
mod threads;

pub(crate) use threads::detach;

use crate::error::Error;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Value { .. } => PyValueError::new_err(e.to_string()),
            Error::Format(_) => codec::FormatError::new_err(e.to_string()),
            Error::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
        }
    }
}

/// A borrowed image: its bytes, shape and channel count.
pub(crate) struct Image<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) shape: Vec<usize>,
    pub(crate) channels: usize,
}

pub(crate) fn image<'a>(arr: &'a PyReadonlyArrayDyn<'_, u8>, arg: &'static str) -> PyResult<Image<'a>> {
    let shape = arr.shape().to_vec();
    let channels = match shape.as_slice() {
        [_, _] => 1,
        [_, _, c] if (1..=4).contains(c) => *c,
        _ => return Err(Error::value(arg, format!("expected shape (H, W) or (H, W, 1..4), got {shape:?}")).into()),
    };
    if shape.contains(&0) {
        return Err(Error::value(arg, format!("expected a non-empty image, got shape {shape:?}")).into());
    }
    let data =
        arr.as_slice().map_err(|_| Error::value(arg, "expected a C-contiguous array (use numpy.ascontiguousarray)"))?;
    Ok(Image { data, shape, channels })
}

/// A NumPy array owning `data`, for outputs whose size is known only after the work.
pub(crate) fn to_array<'py>(py: Python<'py>, shape: &[usize], data: Vec<u8>) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let arr = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| Error::value("output", e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// A new, uninitialised NumPy uint8 array of `shape` and its bytes, for the core to fill completely.
///
/// Outputs are allocated by NumPy rather than by Rust: NumPy asks the kernel for transparent huge pages on large
/// arrays, which makes writing a fresh 36 MB output several times cheaper than with 4 KiB page faults. The array
/// comes from `numpy.empty`, so a failed allocation is NumPy's `MemoryError` (rust-numpy's constructors would
/// panic on it).
pub(crate) fn new_array<'py>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<(Bound<'py, PyArrayDyn<u8>>, *mut u8, usize)> {
    static EMPTY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let empty = EMPTY.import(py, "numpy", "empty")?;
    let arr = empty.call1((PyTuple::new(py, shape)?, "uint8"))?.cast_into::<PyArrayDyn<u8>>()?;
    if !arr.is_c_contiguous() {
        return Err(Error::value("output", "numpy.empty returned a non-contiguous array").into());
    }
    let len: usize = shape.iter().product();
    let ptr = arr.data();
    Ok((arr, ptr, len))
}

/// A raw output pointer that may cross into `py.detach` (the array it points into outlives the call).
pub(crate) struct Out(*mut u8, usize);
// SAFETY: the pointer is used by exactly one closure at a time, while the GIL-holding thread waits for it.
unsafe impl Send for Out {}
impl Out {
    /// The output bytes.
    ///
    /// SAFETY (for callers): the pointer must come from `new_array` and the array must be alive.
    pub(crate) unsafe fn slice<'a>(&self) -> &'a mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.0, self.1) }
    }
}

/// Runs `f(src, dst)` without the GIL into `out` or, without one, a fresh output of the image's shape.
///
/// `out` (NumPy's `out=`) must have the image's shape and be C-contiguous and writeable; it is written whole and
/// returned. An `out` that is the input array itself is refused here (the borrow check); Python passes a copy of an
/// input that overlaps its output.
pub(crate) fn map_image<'py>(
    py: Python<'py>,
    img: &Image<'_>,
    out: Option<Bound<'py, PyArrayDyn<u8>>>,
    f: impl FnOnce(&[u8], &mut [u8]) -> crate::Result<()> + Send,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let data = img.data;
    let Some(arr) = out else {
        let (arr, ptr, len) = new_array(py, &img.shape)?;
        let out = Out(ptr, len);
        // SAFETY: `arr` is alive for the whole call and nobody else can reach it yet.
        detach(py, move || f(data, unsafe { out.slice() }))?;
        return Ok(arr);
    };
    if arr.shape() != img.shape.as_slice() {
        return Err(Error::value(
            "out",
            format!("expected shape {:?} (the input's), got {:?}", img.shape, arr.shape()),
        )
        .into());
    }
    let mut guard = arr
        .try_readwrite()
        .map_err(|e| Error::value("out", format!("expected a writeable array not shared with the input ({e})")))?;
    let dst = guard.as_slice_mut().map_err(|_| Error::value("out", "expected a C-contiguous array"))?;
    let out = Out(dst.as_mut_ptr(), dst.len());
    // SAFETY: the read-write borrow of `arr` is held until `detach` returns, so no other borrow can see the bytes.
    detach(py, move || f(data, unsafe { out.slice() }))?;
    drop(guard);
    Ok(arr)
}

/// The number of threads the core's pool uses.
#[pyfunction(name = "thread_count")]
fn py_thread_count() -> usize {
    threads::thread_count()
}

/// Runs every later call of this process on `n` threads (`n >= 1`), even after the pool was first used (a Dask
/// worker that ran qfast before joining a batch). The environment variable `RAYON_NUM_THREADS` sets the size of the
/// first pool only.
#[pyfunction(name = "set_thread_count")]
fn py_set_thread_count(n: usize) -> PyResult<()> {
    if n == 0 {
        return Err(Error::value("n", "expected a thread count >= 1, got 0").into());
    }
    threads::set_thread_count(n).map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("threads: {e}")))
}

/// qfast's compiled core.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(py_thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(py_set_thread_count, m)?)?;
    quantize::register(m)?;
    pack::register(m)?;
    metrics::register(m)?;
    palette::register(m)?;
    codec::register(m)?;
    Ok(())
}
