//! The Python bindings (`qfast._core`): convert, check, release the GIL, call the core, convert back.
//!
//! PyO3 lives only under `rust/py/`: this file holds the module, the error mapping and the shared helpers, and each
//! larger feature adds a submodule with a `register` function called from `_core` below.
//!
//! The Python package (`python/qfast`) does the friendly checks and defaults first and passes C-contiguous uint8
//! arrays; the checks here are the last line, so a bad call from anywhere is an exception, never a panic.
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod codec;

use crate::error::Error;
use crate::{metrics, nonuniform, pack, uniform};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{
    IntoPyArray, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;

mod palette;

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
/// arrays, which makes writing a fresh 36 MB output several times cheaper than with 4 KiB page faults.
pub(crate) fn new_array<'py>(py: Python<'py>, shape: &[usize]) -> (Bound<'py, PyArrayDyn<u8>>, *mut u8, usize) {
    // SAFETY: a fresh C-contiguous array that no Python code has seen yet; callers write every byte before returning
    // it, and u8 has no invalid bit patterns.
    let arr = unsafe { PyArrayDyn::<u8>::new(py, IxDyn(shape), false) };
    let len: usize = shape.iter().product();
    let ptr = arr.data();
    (arr, ptr, len)
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

/// Runs `f(src, dst)` without the GIL into a fresh output of the image's shape.
pub(crate) fn map_image<'py>(
    py: Python<'py>,
    img: &Image<'_>,
    f: impl FnOnce(&[u8], &mut [u8]) -> crate::Result<()> + Send,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let data = img.data;
    let (arr, ptr, len) = new_array(py, &img.shape);
    let out = Out(ptr, len);
    // SAFETY: `arr` is alive for the whole call and nobody else can reach it yet.
    py.detach(move || f(data, unsafe { out.slice() }))?;
    Ok(arr)
}

fn check_channels(levels: &[u16], img: &Image<'_>) -> PyResult<()> {
    Ok(uniform::check_levels(levels, img.channels)?)
}

/// Uniform indices `floor(x * L / 256)`, `levels` one per channel.
#[pyfunction(name = "uniform_indices")]
fn py_uniform_indices<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    map_image(py, &img, |s, d| uniform::indices(s, d, &levels))
}

/// The reconstruction of uniform indices.
#[pyfunction(name = "dequantize_uniform")]
fn py_dequantize_uniform<'py>(
    py: Python<'py>,
    indices: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    reconstruction: &str,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = image(&indices, "indices")?;
    check_channels(&levels, &img)?;
    let rec = uniform::Reconstruction::parse(reconstruction)?;
    map_image(py, &img, |s, d| uniform::dequantize(s, d, &levels, rec))
}

/// Uniform quantization and reconstruction in one pass.
#[pyfunction(name = "quantize_uniform")]
fn py_quantize_uniform<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    reconstruction: &str,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    let rec = uniform::Reconstruction::parse(reconstruction)?;
    map_image(py, &img, |s, d| uniform::quantize(s, d, &levels, rec))
}

type Quantized<'py> = (Bound<'py, PyArrayDyn<u8>>, Vec<Bound<'py, PyArray1<u8>>>);

/// Indices and per-channel codebooks for a set of per-channel quantizers.
fn quantize_with<'py>(
    py: Python<'py>,
    img: &Image<'_>,
    qs: Vec<nonuniform::ScalarQuantizer>,
) -> PyResult<Quantized<'py>> {
    let idx = map_image(py, img, |s, d| nonuniform::apply_indices(s, d, &qs))?;
    let codebooks = qs.into_iter().map(|q| q.codebook.into_pyarray(py)).collect();
    Ok((idx, codebooks))
}

/// Lloyd-Max quantization of each channel: `(indices, codebooks)`.
#[pyfunction(name = "quantize_lloyd_max")]
fn py_quantize_lloyd_max<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    max_iter: u32,
    tol: f64,
) -> PyResult<Quantized<'py>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    let (data, channels) = (img.data, img.channels);
    let qs = py.detach(|| -> crate::Result<Vec<nonuniform::ScalarQuantizer>> {
        let hists = nonuniform::histograms(data, channels);
        hists.iter().zip(&levels).map(|(h, &l)| nonuniform::lloyd_max(h, l, max_iter, tol)).collect()
    })?;
    quantize_with(py, &img, qs)
}

/// Mu-law companding quantization of each channel: `(indices, codebooks)`.
#[pyfunction(name = "quantize_mu_law")]
fn py_quantize_mu_law<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    mu: f64,
) -> PyResult<Quantized<'py>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    let qs = levels.iter().map(|&l| nonuniform::mu_law(l, mu)).collect::<crate::Result<Vec<_>>>()?;
    quantize_with(py, &img, qs)
}

/// Reconstructs an index image with one codebook per channel.
#[pyfunction(name = "apply_codebooks")]
fn py_apply_codebooks<'py>(
    py: Python<'py>,
    indices: PyReadonlyArrayDyn<'py, u8>,
    codebooks: Vec<Vec<u8>>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = image(&indices, "indices")?;
    if codebooks.len() != img.channels {
        return Err(Error::value(
            "codebook",
            format!("expected one codebook per channel ({}), got {}", img.channels, codebooks.len()),
        )
        .into());
    }
    map_image(py, &img, |s, d| nonuniform::apply_codebooks(s, d, &codebooks))
}

fn flat<'a>(arr: &'a PyReadonlyArrayDyn<'_, u8>, arg: &'static str) -> PyResult<&'a [u8]> {
    Ok(arr.as_slice().map_err(|_| Error::value(arg, "expected a C-contiguous array"))?)
}

/// Packs values of `bits` bits into a little-endian bit stream.
#[pyfunction(name = "pack_bits")]
fn py_pack_bits<'py>(
    py: Python<'py>,
    values: PyReadonlyArrayDyn<'py, u8>,
    bits: u32,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let v = flat(&values, "values")?;
    if !(1..=8).contains(&bits) {
        return Err(Error::value("bits", format!("expected 1..8, got {bits}")).into());
    }
    let (arr, ptr, len) = new_array(py, &[pack::packed_len(v.len(), bits)]);
    let out = Out(ptr, len);
    // SAFETY: `arr` is alive for the whole call and nobody else can reach it yet.
    py.detach(move || pack::pack_into(v, bits, unsafe { out.slice() }))?;
    arr.reshape([len])
}

/// Unpacks `count` values of `bits` bits.
#[pyfunction(name = "unpack_bits")]
fn py_unpack_bits<'py>(
    py: Python<'py>,
    packed: PyReadonlyArray1<'py, u8>,
    bits: u32,
    count: usize,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let p = packed.as_slice().map_err(|_| Error::value("packed", "expected a C-contiguous array"))?;
    pack::check_unpack(p.len(), bits, count)?;
    let (arr, ptr, len) = new_array(py, &[count]);
    let out = Out(ptr, len);
    // SAFETY: `arr` is alive for the whole call and nobody else can reach it yet.
    py.detach(move || pack::unpack_into(p, bits, unsafe { out.slice() }))?;
    arr.reshape([len])
}

fn same_images<'a>(
    a: &'a PyReadonlyArrayDyn<'_, u8>,
    b: &'a PyReadonlyArrayDyn<'_, u8>,
) -> PyResult<(Image<'a>, Image<'a>)> {
    let (ia, ib) = (image(a, "a")?, image(b, "b")?);
    if ia.shape != ib.shape {
        return Err(Error::value("b", format!("expected the shape of a {:?}, got {:?}", ia.shape, ib.shape)).into());
    }
    Ok((ia, ib))
}

/// Mean squared error of two uint8 images of the same shape.
#[pyfunction(name = "mse")]
fn py_mse(py: Python<'_>, a: PyReadonlyArrayDyn<'_, u8>, b: PyReadonlyArrayDyn<'_, u8>) -> PyResult<f64> {
    let (ia, ib) = same_images(&a, &b)?;
    let (x, y) = (ia.data, ib.data);
    Ok(py.detach(|| metrics::mse(x, y))?)
}

/// Gaussian SSIM of two uint8 images of the same shape.
#[pyfunction(name = "ssim")]
fn py_ssim(
    py: Python<'_>,
    a: PyReadonlyArrayDyn<'_, u8>,
    b: PyReadonlyArrayDyn<'_, u8>,
    data_range: f64,
) -> PyResult<f64> {
    let (ia, ib) = same_images(&a, &b)?;
    let (x, y) = (ia.data, ib.data);
    let (h, w, c) = (ia.shape[0], ia.shape[1], ia.channels);
    Ok(py.detach(|| metrics::ssim(x, y, h, w, c, data_range))?)
}

/// The number of threads the core's pool uses.
#[pyfunction(name = "thread_count")]
fn py_thread_count() -> usize {
    rayon::current_num_threads()
}

/// qfast's compiled core.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(py_uniform_indices, m)?)?;
    m.add_function(wrap_pyfunction!(py_dequantize_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_lloyd_max, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_mu_law, m)?)?;
    m.add_function(wrap_pyfunction!(py_apply_codebooks, m)?)?;
    m.add_function(wrap_pyfunction!(py_pack_bits, m)?)?;
    m.add_function(wrap_pyfunction!(py_unpack_bits, m)?)?;
    m.add_function(wrap_pyfunction!(py_mse, m)?)?;
    m.add_function(wrap_pyfunction!(py_ssim, m)?)?;
    m.add_function(wrap_pyfunction!(py_thread_count, m)?)?;
    codec::register(m)?;
    palette::register(m)?;
    Ok(())
}
