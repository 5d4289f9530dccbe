//! Bindings of the `.qfz` codec: `encode`, `decode`, `inspect` and the `FormatError` exception.

use super::{detach, image, to_array};
use crate::codec::container::{self, Coder, Color, Header, Mode, Subsampling};
use crate::codec::{self, Options, Quantization};
use crate::error::Error;
use numpy::IntoPyArray;
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

pyo3::create_exception!(
    qfast,
    FormatError,
    PyValueError,
    "A malformed .qfz file: bad magic, unknown version, CRC mismatch, truncation, a field out of range."
);

fn color_name(c: Color) -> &'static str {
    match c {
        Color::None => "none",
        Color::YCoCgR => "ycocg",
        Color::YCbCr => "ycbcr",
    }
}

fn coder_name(c: Coder) -> &'static str {
    match c {
        Coder::Qac => "qac",
        Coder::Qac2 => "qac2",
        Coder::Qac3 => "qac3",
        Coder::Brotli => "brotli",
        Coder::Loco => "loco",
    }
}

/// The header as a dict (the public `qfast.inspect`'s result, less the sizes Python adds).
fn header_dict<'py>(py: Python<'py>, h: &Header) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", h.version)?;
    d.set_item("width", h.width)?;
    d.set_item("height", h.height)?;
    d.set_item("channels", h.channels)?;
    d.set_item("mode", if h.mode == Mode::Bounded { "bounded" } else { "levels" })?;
    d.set_item("bins", if h.mode == Mode::Bounded && !h.uniform_bins { "step" } else { "uniform" })?;
    d.set_item("color", color_name(h.color))?;
    d.set_item("subsampling", if h.subsampling == Subsampling::Chroma420 { "4:2:0" } else { "none" })?;
    d.set_item("predictor", "med")?;
    d.set_item("coder", coder_name(h.coder))?;
    let corrector: Option<String> =
        (h.corrector != [0; 8]).then(|| h.corrector.iter().map(|b| format!("{b:02x}")).collect());
    d.set_item("corrector", corrector)?;
    d.set_item("levels", h.channel_info.iter().map(|c| c.levels).collect::<Vec<_>>())?;
    d.set_item("max_error", h.channel_info.iter().map(|c| c.max_error as u16).collect::<Vec<_>>())?;
    d.set_item("header_bytes", h.byte_len())?;
    match &h.strength {
        Some(m) => {
            let (tx, ty) = container::StrengthMap::grid(m.tile_log2, h.width, h.height);
            let codes = numpy::ndarray::Array2::from_shape_vec((ty, tx), m.codes.clone())
                .map_err(|e| Error::value("strength", e.to_string()))?;
            d.set_item("strength_tile", 1u32 << m.tile_log2)?;
            d.set_item("strength_map", codes.into_pyarray(py))?;
        }
        None => {
            d.set_item("strength_tile", py.None())?;
            d.set_item("strength_map", py.None())?;
        }
    }
    d.set_item("payload_bytes", h.payload_len)?;
    Ok(d)
}

/// Encodes an image into `.qfz` bytes. `mode` is "bounded" (values: max error per channel) or "levels" (values:
/// levels per channel); `color` "none" | "ycocg" | "ycbcr"; `coder` "loco" | "qac" | "qac2" | "qac3" | "brotli";
/// `corrector` 8 bytes or empty; `bins` (bounded mode): None for step-`2d + 1` bins, or the uniform level count per
/// channel.
#[pyfunction(name = "encode", signature = (image, mode, values, color, subsample, coder, brotli_quality, corrector, bins=None))]
#[allow(clippy::too_many_arguments)]
fn py_encode<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    mode: &str,
    values: Vec<u16>,
    color: &str,
    subsample: bool,
    coder: &str,
    brotli_quality: u32,
    corrector: Vec<u8>,
    bins: Option<Vec<u16>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let img = self::image(&image, "image")?;
    let q = match mode {
        "bounded" => {
            let ds = values
                .iter()
                .map(|&v| u8::try_from(v).map_err(|_| Error::value("max_error", format!("expected 0..32, got {v}"))))
                .collect::<crate::Result<_>>()?;
            match bins {
                None => Quantization::Bounded(ds),
                Some(levels) => Quantization::BoundedUniform(ds, levels),
            }
        }
        "levels" => Quantization::Levels(values),
        _ => return Err(Error::value("mode", format!("expected 'bounded' or 'levels', got {mode:?}")).into()),
    };
    let color = match color {
        "none" => Color::None,
        "ycocg" => Color::YCoCgR,
        "ycbcr" => Color::YCbCr,
        _ => return Err(Error::value("color", format!("expected 'none', 'ycocg' or 'ycbcr', got {color:?}")).into()),
    };
    let coder = match coder {
        "qac" => Coder::Qac,
        "qac2" => Coder::Qac2,
        "qac3" => Coder::Qac3,
        "brotli" => Coder::Brotli,
        "loco" => Coder::Loco,
        _ => {
            return Err(Error::value(
                "coder",
                format!("expected 'loco', 'qac', 'qac2', 'qac3' or 'brotli', got {coder:?}"),
            )
            .into())
        }
    };
    let corrector: [u8; 8] = match corrector.len() {
        0 => [0; 8],
        _ => corrector.try_into().map_err(|_| Error::value("corrector", "expected 8 bytes"))?,
    };
    let subsampling = if subsample { Subsampling::Chroma420 } else { Subsampling::None };
    let opts = Options { color, subsampling, coder, brotli_quality, corrector };
    let (h, w, c) = (img.shape[0], img.shape[1], img.channels);
    let data = img.data;
    let out = detach(py, || codec::encode(data, w, h, c, &q, &opts))?;
    Ok(PyBytes::new(py, &out))
}

/// Decodes `.qfz` bytes: `(reconstruction, header dict)`.
#[pyfunction(name = "decode")]
fn py_decode<'py>(
    py: Python<'py>,
    data: &[u8],
    max_pixels: u64,
) -> PyResult<(Bound<'py, PyArrayDyn<u8>>, Bound<'py, PyDict>)> {
    let dec = detach(py, || codec::decode(data, max_pixels))?;
    let h = &dec.header;
    let shape: Vec<usize> = if h.channels == 1 {
        vec![h.height as usize, h.width as usize]
    } else {
        vec![h.height as usize, h.width as usize, h.channels as usize]
    };
    let d = header_dict(py, h)?;
    Ok((to_array(py, &shape, dec.image)?, d))
}

/// The file `data` with a corrector strength map: `codes` (tiles down x across, 0 none, 1 half, 2 full) for tiles of
/// `tile` pixels (32, 64 or 128); `codes=None` removes the map.
#[pyfunction(name = "with_strength_map", signature = (data, tile=64, codes=None))]
fn py_with_strength_map<'py>(
    py: Python<'py>,
    data: &[u8],
    tile: u32,
    codes: Option<numpy::PyReadonlyArray2<'py, u8>>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let map = match codes {
        None => None,
        Some(c) => {
            let tile_log2 = match tile {
                32 => 5,
                64 => 6,
                128 => 7,
                _ => return Err(Error::value("tile", format!("expected 32, 64 or 128, got {tile}")).into()),
            };
            let codes: Vec<u8> = c.as_array().iter().copied().collect();
            Some(container::StrengthMap { tile_log2, codes })
        }
    };
    let out = detach(py, || codec::with_strength_map(data, map))?;
    Ok(pyo3::types::PyBytes::new(py, &out))
}

/// Parses and checks `.qfz` bytes (header, both CRCs, length) without decoding the pixels: the header as a dict.
#[pyfunction(name = "inspect")]
fn py_inspect<'py>(py: Python<'py>, data: &[u8], max_pixels: u64) -> PyResult<Bound<'py, PyDict>> {
    let (h, _) = detach(py, || container::parse(data, max_pixels))?;
    header_dict(py, &h)
}

/// Parses and checks a `.qfz` header alone (its CRC and fields, not the payload): the header as a dict.
#[pyfunction(name = "inspect_header")]
fn py_inspect_header<'py>(py: Python<'py>, data: &[u8], max_pixels: u64) -> PyResult<Bound<'py, PyDict>> {
    let (h, _) = container::parse_header(data, max_pixels)?;
    header_dict(py, &h)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FormatError", m.py().get_type::<FormatError>())?;
    m.add("DEFAULT_MAX_PIXELS", container::DEFAULT_MAX_PIXELS)?;
    m.add_function(wrap_pyfunction!(py_encode, m)?)?;
    m.add_function(wrap_pyfunction!(py_decode, m)?)?;
    m.add_function(wrap_pyfunction!(py_with_strength_map, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect_header, m)?)?;
    Ok(())
}
