//! Bindings of the scalar quantizers (`crate::quantize`): uniform, Lloyd-Max, mu-law and codebooks.

use super::{detach, image, map_image, Image};
use crate::error::Error;
use crate::quantize::{dither, nonuniform, uniform, uniform16};
use numpy::{IntoPyArray, PyArray1, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

fn check_channels(levels: &[u16], img: &Image<'_>) -> PyResult<()> {
    Ok(uniform::check_levels(levels, img.channels)?)
}

/// Uniform indices `floor(x * L / 256)`, `levels` one per channel.
#[pyfunction(name = "uniform_indices")]
#[pyo3(signature = (image, levels, out=None))]
fn py_uniform_indices<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    out: Option<Bound<'py, PyArrayDyn<u8>>>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    map_image(py, &img, out, |s, d| uniform::indices(s, d, &levels))
}

/// The reconstruction of uniform indices.
#[pyfunction(name = "dequantize_uniform")]
#[pyo3(signature = (indices, levels, reconstruction, out=None))]
fn py_dequantize_uniform<'py>(
    py: Python<'py>,
    indices: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    reconstruction: &str,
    out: Option<Bound<'py, PyArrayDyn<u8>>>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = image(&indices, "indices")?;
    check_channels(&levels, &img)?;
    let rec = uniform::Reconstruction::parse(reconstruction)?;
    map_image(py, &img, out, |s, d| uniform::dequantize(s, d, &levels, rec))
}

/// Uniform quantization and reconstruction in one pass.
#[pyfunction(name = "quantize_uniform")]
#[pyo3(signature = (image, levels, reconstruction, out=None))]
fn py_quantize_uniform<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    reconstruction: &str,
    out: Option<Bound<'py, PyArrayDyn<u8>>>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    let rec = uniform::Reconstruction::parse(reconstruction)?;
    map_image(py, &img, out, |s, d| uniform::quantize(s, d, &levels, rec))
}

/// Dithered uniform indices (ordered Bayer or Floyd-Steinberg); `reconstruction` is the one the indices will be
/// reconstructed with (error diffusion measures its error against it).
#[pyfunction(name = "dither_uniform")]
fn py_dither_uniform<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    levels: Vec<u16>,
    reconstruction: &str,
    dither: &str,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = self::image(&image, "image")?;
    check_channels(&levels, &img)?;
    let rec = uniform::Reconstruction::parse(reconstruction)?;
    let how = dither::Dither::parse(dither)?;
    let width = img.shape[1];
    map_image(py, &img, None, |s, d| dither::indices(s, d, width, &levels, rec, how))
}

/// A 16-bit image's shape and values (C-contiguous, (H, W) or (H, W, 1..4), not empty).
fn image16<'a>(arr: &'a PyReadonlyArrayDyn<'_, u16>) -> PyResult<(Vec<usize>, &'a [u16])> {
    let shape = arr.shape().to_vec();
    let ok = matches!(shape.as_slice(), [_, _] | [_, _, 1..=4]) && !shape.contains(&0);
    if !ok {
        return Err(
            Error::value("image", format!("expected a non-empty (H, W) or (H, W, 1..4) image, got {shape:?}")).into()
        );
    }
    let data = arr
        .as_slice()
        .map_err(|_| Error::value("image", "expected a C-contiguous array (use numpy.ascontiguousarray)"))?;
    Ok((shape, data))
}

/// 16-bit uniform quantization: indices (`reconstruction` None) or the reconstruction in 16 bits.
#[pyfunction(name = "quantize_uniform16", signature = (image, levels, reconstruction=None))]
fn py_quantize_uniform16<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u16>,
    levels: Vec<u32>,
    reconstruction: Option<&str>,
) -> PyResult<Bound<'py, PyArrayDyn<u16>>> {
    let (shape, data) = image16(&image)?;
    let channels = if shape.len() == 2 { 1 } else { shape[2] };
    uniform16::check_levels(&levels, channels)?;
    let rec = reconstruction.map(uniform::Reconstruction::parse).transpose()?;
    let out = detach(py, || -> crate::Result<Vec<u16>> {
        let mut out: Vec<u16> = crate::alloc::zeroed(data.len())?;
        match rec {
            None => uniform16::indices(data, &mut out, &levels)?,
            Some(r) => uniform16::quantize(data, &mut out, &levels, r)?,
        }
        Ok(out)
    })?;
    array16(py, &shape, out)
}

type Quantized<'py> = (Bound<'py, PyArrayDyn<u8>>, Vec<Bound<'py, PyArray1<u8>>>);

/// Indices and per-channel codebooks for a set of per-channel quantizers.
fn quantize_with<'py>(
    py: Python<'py>,
    img: &Image<'_>,
    qs: Vec<nonuniform::ScalarQuantizer>,
) -> PyResult<Quantized<'py>> {
    let idx = map_image(py, img, None, |s, d| nonuniform::apply_indices(s, d, &qs))?;
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
    let qs = detach(py, || -> crate::Result<Vec<nonuniform::ScalarQuantizer>> {
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

type Quantized16<'py> = (Bound<'py, PyArrayDyn<u16>>, Vec<Bound<'py, PyArray1<u16>>>);

/// A 16-bit array of `shape` from `data`.
fn array16<'py>(py: Python<'py>, shape: &[usize], data: Vec<u16>) -> PyResult<Bound<'py, PyArrayDyn<u16>>> {
    let arr = numpy::ndarray::ArrayD::from_shape_vec(numpy::ndarray::IxDyn(shape), data)
        .map_err(|e| Error::value("output", e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// Indices and per-channel codebooks of a 16-bit image for per-channel quantizers made from its histograms.
fn quantize16_with<'py>(
    py: Python<'py>,
    image: &PyReadonlyArrayDyn<'py, u16>,
    levels: &[u32],
    make: impl Fn(&[u64], u32) -> crate::Result<nonuniform::ScalarQuantizer16> + Send + Sync,
) -> PyResult<Quantized16<'py>> {
    let (shape, data) = image16(image)?;
    let channels = if shape.len() == 2 { 1 } else { shape[2] };
    uniform16::check_levels(levels, channels)?;
    let (idx, qs) = detach(py, || -> crate::Result<(Vec<u16>, Vec<nonuniform::ScalarQuantizer16>)> {
        let hists = nonuniform::histograms16(data, channels)?;
        let qs = hists.iter().zip(levels).map(|(h, &l)| make(h, l)).collect::<crate::Result<Vec<_>>>()?;
        let mut out: Vec<u16> = crate::alloc::zeroed(data.len())?;
        nonuniform::apply_indices16(data, &mut out, &qs)?;
        Ok((out, qs))
    })?;
    let codebooks = qs.into_iter().map(|q| q.codebook.into_pyarray(py)).collect();
    Ok((array16(py, &shape, idx)?, codebooks))
}

/// Lloyd-Max quantization of each channel of a 16-bit image: `(indices, codebooks)`, both uint16.
#[pyfunction(name = "quantize_lloyd_max16")]
fn py_quantize_lloyd_max16<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u16>,
    levels: Vec<u32>,
    max_iter: u32,
    tol: f64,
) -> PyResult<Quantized16<'py>> {
    quantize16_with(py, &image, &levels, |h, l| nonuniform::lloyd_max16(h, l, max_iter, tol))
}

/// Mu-law companding quantization of each channel of a 16-bit image: `(indices, codebooks)`, both uint16.
#[pyfunction(name = "quantize_mu_law16")]
fn py_quantize_mu_law16<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u16>,
    levels: Vec<u32>,
    mu: f64,
) -> PyResult<Quantized16<'py>> {
    quantize16_with(py, &image, &levels, |_, l| nonuniform::mu_law16(l, mu))
}

/// Reconstructs a 16-bit index image with one uint16 codebook per channel.
#[pyfunction(name = "apply_codebooks16")]
fn py_apply_codebooks16<'py>(
    py: Python<'py>,
    indices: PyReadonlyArrayDyn<'py, u16>,
    codebooks: Vec<Vec<u16>>,
) -> PyResult<Bound<'py, PyArrayDyn<u16>>> {
    let (shape, data) = image16(&indices)?;
    let channels = if shape.len() == 2 { 1 } else { shape[2] };
    if codebooks.len() != channels {
        return Err(Error::value(
            "codebook",
            format!("expected one codebook per channel ({channels}), got {}", codebooks.len()),
        )
        .into());
    }
    let out = detach(py, || -> crate::Result<Vec<u16>> {
        let mut out: Vec<u16> = crate::alloc::zeroed(data.len())?;
        nonuniform::apply_codebooks16(data, &mut out, &codebooks)?;
        Ok(out)
    })?;
    array16(py, &shape, out)
}

/// Reconstructs an index image with one codebook per channel.
#[pyfunction(name = "apply_codebooks")]
#[pyo3(signature = (indices, codebooks, out=None))]
fn py_apply_codebooks<'py>(
    py: Python<'py>,
    indices: PyReadonlyArrayDyn<'py, u8>,
    codebooks: Vec<Vec<u8>>,
    out: Option<Bound<'py, PyArrayDyn<u8>>>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = image(&indices, "indices")?;
    if codebooks.len() != img.channels {
        return Err(Error::value(
            "codebook",
            format!("expected one codebook per channel ({}), got {}", img.channels, codebooks.len()),
        )
        .into());
    }
    map_image(py, &img, out, |s, d| nonuniform::apply_codebooks(s, d, &codebooks))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_uniform_indices, m)?)?;
    m.add_function(wrap_pyfunction!(py_dequantize_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(py_dither_uniform, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_uniform16, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_lloyd_max, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_mu_law, m)?)?;
    m.add_function(wrap_pyfunction!(py_apply_codebooks, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_lloyd_max16, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_mu_law16, m)?)?;
    m.add_function(wrap_pyfunction!(py_apply_codebooks16, m)?)?;
    Ok(())
}
