//! Bindings of the colour palette stages: `kmeans_palette` and `remap`, and the colour histogram (`ColorHistogram`,
//! exact colour counts) with `kmeans_palette_histogram`; and their RGBA versions (`*_alpha`, `palette::alpha`).

use super::{detach, image};
use crate::error::Error;
use crate::palette::alpha;
use crate::palette::color_space::ColorSpace;
use crate::palette::dither::{self, Dither};
use crate::palette::histogram::{unpack_rgb, ColorCounts, ImageRef, DENSE_COLORS};
use crate::palette::kmeans::{self, Method, Params};
use crate::palette::remap::{self, Nearest, MAX_COLORS};
use crate::png_file;
use numpy::ndarray::{Array2, ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn palette_rows(palette: &PyReadonlyArray2<'_, u8>) -> PyResult<Vec<[u8; 3]>> {
    let shape = palette.shape();
    if shape.len() != 2 || shape[1] != 3 || shape[0] == 0 || shape[0] > MAX_COLORS {
        return Err(
            Error::value("palette", format!("expected shape (n, 3) with n in 1..{MAX_COLORS}, got {shape:?}")).into()
        );
    }
    let flat = palette
        .as_slice()
        .map_err(|_| Error::value("palette", "expected a C-contiguous array (use numpy.ascontiguousarray)"))?;
    Ok(flat.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// Palette indices as a NumPy array of `shape`: uint8 for palettes of up to 256 colours, uint16 above.
fn to_indices<'py>(py: Python<'py>, shape: &[usize], idx: Vec<u16>, colors: usize) -> PyResult<Bound<'py, PyAny>> {
    if colors <= 256 {
        let narrow = detach(py, || crate::alloc::collect(idx.iter().map(|&i| i as u8)))?;
        return Ok(super::to_array(py, shape, narrow)?.into_any());
    }
    let arr = ArrayD::from_shape_vec(IxDyn(shape), idx).map_err(|e| Error::value("output", e.to_string()))?;
    Ok(arr.into_pyarray(py).into_any())
}

fn to_palette<'py>(py: Python<'py>, rows: Vec<[u8; 3]>) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let n = rows.len();
    let arr = Array2::from_shape_vec((n, 3), rows.into_iter().flatten().collect())
        .map_err(|e| Error::value("palette", e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// A palette of at most `k` colours for a list of images (one palette for all).
#[pyfunction(name = "kmeans_palette")]
#[allow(clippy::too_many_arguments)]
fn py_kmeans_palette<'py>(
    py: Python<'py>,
    images: Vec<PyReadonlyArrayDyn<'py, u8>>,
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: u32,
    tol: f64,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let params =
        Params { k, seed, space: ColorSpace::parse(color_space)?, method: Method::parse(method)?, max_iter, tol };
    let imgs = images.iter().map(|a| image(a, "images")).collect::<PyResult<Vec<_>>>()?;
    if let Some(first) = imgs.first() {
        if let Some(other) = imgs.iter().find(|im| im.channels != first.channels) {
            return Err(Error::value(
                "images",
                format!(
                    "expected the same channel count in every image, got {} and {}",
                    first.channels, other.channels
                ),
            )
            .into());
        }
    }
    let refs: Vec<ImageRef<'_>> = imgs.iter().map(|im| ImageRef { data: im.data, channels: im.channels }).collect();
    let rows = detach(py, || kmeans::palette(&refs, &params))?;
    to_palette(py, rows)
}

/// Each pixel's palette index, `(H, W)` uint8 (uint16 for more than 256 colours), optionally dithered.
#[pyfunction(name = "remap")]
fn py_remap<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    palette: PyReadonlyArray2<'py, u8>,
    color_space: &str,
    dither: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let img = self::image(&image, "image")?;
    let rows = palette_rows(&palette)?;
    let space = ColorSpace::parse(color_space)?;
    let d = Dither::parse(dither)?;
    let (h, w) = (img.shape[0], img.shape[1]);
    let r = ImageRef { data: img.data, channels: img.channels };
    let n = rows.len();
    let out = detach(py, || dither::remap_dithered(r, w, &rows, space, d))?;
    to_indices(py, &[h, w], out, n)
}

type Quantized<'py> = (Bound<'py, PyArray2<u8>>, Bound<'py, PyAny>);

/// Palette and indices of one image in one call (the histogram's cells prepare the remap).
#[pyfunction(name = "quantize_colors")]
#[allow(clippy::too_many_arguments)]
fn py_quantize_colors<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: u32,
    tol: f64,
    dither: &str,
) -> PyResult<Quantized<'py>> {
    let space = ColorSpace::parse(color_space)?;
    let params = Params { k, seed, space, method: Method::parse(method)?, max_iter, tol };
    let d = Dither::parse(dither)?;
    let img = self::image(&image, "image")?;
    let (h, w) = (img.shape[0], img.shape[1]);
    let r = ImageRef { data: img.data, channels: img.channels };
    let (rows, idx) = detach(py, || quantize(r, w, &params, d))?;
    let n = rows.len();
    Ok((to_palette(py, rows)?, to_indices(py, &[h, w], idx, n)?))
}

/// `quantize_colors`' work: the palette, then each pixel's index (the histogram's cells prepare the remap).
fn quantize(r: ImageRef<'_>, width: usize, params: &Params, d: Dither) -> crate::Result<(Vec<[u8; 3]>, Vec<u16>)> {
    let (rows, cells) = kmeans::palette_and_cells(&[r], params)?;
    let idx = if d == Dither::None {
        let mut nearest = Nearest::new(&rows, params.space)?;
        nearest.prepare(&cells)?;
        remap::remap_with(r, &nearest)?
    } else {
        dither::remap_dithered(r, width, &rows, params.space, d)?
    };
    Ok((rows, idx))
}

/// The Lloyd iterations run when the caller gives none (`kmeans::default_max_iter`).
#[pyfunction(name = "default_max_iter")]
fn py_default_max_iter(k: usize) -> u32 {
    kmeans::default_max_iter(k)
}

/// What `palette_png` made: the indexed PNG, its palette size, and the squared error summed over the source's
/// channels (alpha, all opaque, adds nothing) with the number of values it sums, for the summary's PSNR.
type PalettePng<'py> = (Bound<'py, PyBytes>, usize, u64, u64);
/// `PalettePng` before the bytes become Python's.
type Made = (Vec<u8>, usize, u64, u64);

/// `qfast palette`'s whole job on a PNG file's bytes, NumPy and Pillow never loaded: read (`png_file::read`),
/// `quantize_colors` as above, write an indexed PNG at zlib level `level`. `None` where the general path must take
/// the file: not an 8-bit PNG this reads (see `png_file::read`), or one with any transparency (RGBA palettes).
#[pyfunction(name = "palette_png")]
#[allow(clippy::too_many_arguments)]
fn py_palette_png<'py>(
    py: Python<'py>,
    data: &[u8],
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: Option<u32>,
    tol: f64,
    dither: &str,
    level: u8,
    max_pixels: u64,
) -> PyResult<Option<PalettePng<'py>>> {
    let max_iter = max_iter.unwrap_or_else(|| kmeans::default_max_iter(k));
    let space = ColorSpace::parse(color_space)?;
    if !(1..=256).contains(&k) {
        return Err(Error::value("k", format!("expected 1..256 for an indexed PNG, got {k}")).into());
    }
    let params = Params { k, seed, space, method: Method::parse(method)?, max_iter, tol };
    let d = Dither::parse(dither)?;
    let made = detach(py, || -> crate::Result<Option<Made>> {
        let Some(px) = png_file::read(data, max_pixels)? else { return Ok(None) };
        let c = px.channels;
        if c % 2 == 0 && px.data.chunks_exact(c).any(|p| p[c - 1] != 255) {
            return Ok(None);
        }
        let r = ImageRef { data: &px.data, channels: c };
        let (rows, idx) = quantize(r, px.width, &params, d)?;
        let colour = if c >= 3 { 3 } else { 1 };
        let mut sse = 0u64;
        for (p, &i) in px.data.chunks_exact(c).zip(&idx) {
            let q = &rows[i as usize];
            for ch in 0..colour {
                let e = p[ch] as i64 - q[ch] as i64;
                sse += (e * e) as u64;
            }
        }
        let small: Vec<u8> = idx.iter().map(|&i| i as u8).collect();
        let file = png_file::write_indexed(px.width, px.height, &small, &rows, level)?;
        Ok(Some((file, rows.len(), sse, px.data.len() as u64)))
    })?;
    Ok(made.map(|(file, n, sse, count)| (PyBytes::new(py, &file), n, sse, count)))
}

/// Exact colour counts of a set of pixels (`ColorCounts`): immutable; sums make new ones.
#[pyclass(name = "ColorHistogram", module = "qfast._core", frozen)]
pub(crate) struct PyColorHistogram {
    inner: ColorCounts,
}

#[pymethods]
impl PyColorHistogram {
    /// The empty histogram.
    #[new]
    fn py_new() -> Self {
        PyColorHistogram { inner: ColorCounts::default() }
    }

    /// The colour counts of one image.
    #[staticmethod]
    fn of_image(py: Python<'_>, image: PyReadonlyArrayDyn<'_, u8>) -> PyResult<Self> {
        let img = self::image(&image, "image")?;
        let r = ImageRef { data: img.data, channels: img.channels };
        let inner = detach(py, || ColorCounts::of_images(&[r]))?;
        Ok(PyColorHistogram { inner })
    }

    /// Parses `to_bytes`.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = detach(py, || ColorCounts::from_bytes(data))?;
        Ok(PyColorHistogram { inner })
    }

    /// Compact bytes (varints of colour gaps and counts).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let out = detach(py, || self.inner.to_bytes())?;
        Ok(PyBytes::new(py, &out))
    }

    /// The sum of this histogram and `other`.
    fn merge(&self, py: Python<'_>, other: &PyColorHistogram) -> PyResult<Self> {
        let inner = detach(py, || self.inner.merge(&other.inner))?;
        Ok(PyColorHistogram { inner })
    }

    /// The number of distinct colours.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Whether both count the same pixels.
    fn equals(&self, other: &PyColorHistogram) -> bool {
        self.inner == other.inner
    }

    /// The number of pixels counted.
    #[getter]
    fn total(&self) -> u64 {
        self.inner.total()
    }

    /// The distinct colours, `(n, 3)` uint8, sorted by `r << 16 | g << 8 | b`.
    fn colors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<u8>>> {
        to_palette(py, self.inner.colors().iter().map(|&c| unpack_rgb(c)).collect())
    }

    /// Each colour's pixel count, `(n,)` uint64.
    fn counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.inner.counts().to_vec().into_pyarray(py)
    }
}

/// A running sum of histograms in a dense table of 2^24 counts (128 MiB, allocated zeroed on the first `add`, so the
/// pages the counts never reach are never touched).
#[pyclass(name = "ColorHistogramSum", module = "qfast._core")]
pub(crate) struct PyColorHistogramSum {
    dense: Vec<u64>,
}

#[pymethods]
impl PyColorHistogramSum {
    /// An empty sum.
    #[new]
    fn py_new() -> Self {
        PyColorHistogramSum { dense: Vec::new() }
    }

    /// Adds a histogram's counts.
    fn add(&mut self, py: Python<'_>, histogram: PyRef<'_, PyColorHistogram>) -> PyResult<()> {
        let counts = &histogram.inner;
        let dense = &mut self.dense;
        detach(py, || {
            if dense.is_empty() {
                *dense = crate::alloc::zeroed::<u64>(DENSE_COLORS)?;
            }
            counts.add_to_dense(dense)
        })?;
        Ok(())
    }

    /// The histogram of everything added so far.
    fn histogram(&self, py: Python<'_>) -> PyResult<PyColorHistogram> {
        if self.dense.is_empty() {
            return Ok(PyColorHistogram { inner: ColorCounts::default() });
        }
        let dense = &self.dense;
        let inner = detach(py, || ColorCounts::from_dense(dense))?;
        Ok(PyColorHistogram { inner })
    }
}

/// A palette of at most `k` colours from a histogram: the palette of the pixels it counted.
#[pyfunction(name = "kmeans_palette_histogram")]
#[allow(clippy::too_many_arguments)]
fn py_kmeans_palette_histogram<'py>(
    py: Python<'py>,
    histogram: Counted<'py>,
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: u32,
    tol: f64,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let params =
        Params { k, seed, space: ColorSpace::parse(color_space)?, method: Method::parse(method)?, max_iter, tol };
    let rows = match &histogram {
        Counted::Sparse(h) => {
            let counts = &h.inner;
            detach(py, || kmeans::palette_of_counts(counts, &params))?
        }
        Counted::Dense(s) if s.dense.is_empty() => {
            return Err(Error::value("histogram", "expected a histogram of at least one pixel").into())
        }
        Counted::Dense(s) => {
            let dense = &s.dense;
            detach(py, || kmeans::palette_from(kmeans::Source::Dense(dense), &params).map(|r| r.0))?
        }
    };
    to_palette(py, rows)
}

/// What `kmeans_palette_histogram` clusters: a histogram, or a running sum in its dense table (no colour list).
#[derive(FromPyObject)]
enum Counted<'py> {
    Sparse(PyRef<'py, PyColorHistogram>),
    Dense(PyRef<'py, PyColorHistogramSum>),
}

fn rgba_rows(palette: &PyReadonlyArray2<'_, u8>) -> PyResult<Vec<alpha::Rgba>> {
    let shape = palette.shape();
    if shape.len() != 2 || shape[1] != 4 || shape[0] == 0 || shape[0] > 256 {
        return Err(Error::value("palette", format!("expected shape (n, 4) with n in 1..256, got {shape:?}")).into());
    }
    let flat = palette
        .as_slice()
        .map_err(|_| Error::value("palette", "expected a C-contiguous array (use numpy.ascontiguousarray)"))?;
    Ok(flat.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

fn to_rgba_palette<'py>(py: Python<'py>, rows: Vec<alpha::Rgba>) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let n = rows.len();
    let arr = Array2::from_shape_vec((n, 4), rows.into_iter().flatten().collect())
        .map_err(|e| Error::value("palette", e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

fn alpha_params(
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: u32,
    tol: f64,
) -> PyResult<alpha::Params> {
    let (seeding, median_cut_only) = match Method::parse(method)? {
        Method::Kmeans => (alpha::Seeding::MedianCut, false),
        Method::MedianCut => (alpha::Seeding::MedianCut, true),
        Method::KmeansPlusPlus => (alpha::Seeding::KmeansPlusPlus, false),
    };
    Ok(alpha::Params { k, space: ColorSpace::parse(color_space)?, seeding, seed, median_cut_only, max_iter, tol })
}

/// An RGBA palette of at most `k` colours for a list of images with alpha (one palette for all).
#[pyfunction(name = "kmeans_palette_alpha")]
#[allow(clippy::too_many_arguments)]
fn py_kmeans_palette_alpha<'py>(
    py: Python<'py>,
    images: Vec<PyReadonlyArrayDyn<'py, u8>>,
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: u32,
    tol: f64,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let params = alpha_params(k, seed, color_space, method, max_iter, tol)?;
    let imgs = images.iter().map(|a| image(a, "images")).collect::<PyResult<Vec<_>>>()?;
    let refs: Vec<(&[u8], usize)> = imgs.iter().map(|im| (im.data, im.channels)).collect();
    let rows = detach(py, || alpha::palette(&refs, &params))?;
    to_rgba_palette(py, rows)
}

/// Each pixel's index on an RGBA palette, `(H, W)` uint8, optionally dithered (images without alpha are opaque).
#[pyfunction(name = "remap_alpha")]
fn py_remap_alpha<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    palette: PyReadonlyArray2<'py, u8>,
    color_space: &str,
    dither: &str,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let img = self::image(&image, "image")?;
    let rows = rgba_rows(&palette)?;
    let space = ColorSpace::parse(color_space)?;
    let d = Dither::parse(dither)?;
    let (h, w) = (img.shape[0], img.shape[1]);
    let (data, ch) = (img.data, img.channels);
    let out = detach(py, || alpha::remap(data, ch, w, &rows, space, d))?;
    super::to_array(py, &[h, w], out)
}

/// RGBA palette and indices of one image with alpha, in one call.
#[pyfunction(name = "quantize_colors_alpha")]
#[allow(clippy::too_many_arguments)]
fn py_quantize_colors_alpha<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    k: usize,
    seed: u64,
    color_space: &str,
    method: &str,
    max_iter: u32,
    tol: f64,
    dither: &str,
) -> PyResult<Quantized<'py>> {
    let params = alpha_params(k, seed, color_space, method, max_iter, tol)?;
    let d = Dither::parse(dither)?;
    let img = self::image(&image, "image")?;
    let (h, w) = (img.shape[0], img.shape[1]);
    let (data, ch) = (img.data, img.channels);
    let (rows, idx) = detach(py, || alpha::quantize(data, ch, w, &params, d))?;
    Ok((to_rgba_palette(py, rows)?, super::to_array(py, &[h, w], idx)?.into_any()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyColorHistogram>()?;
    m.add_class::<PyColorHistogramSum>()?;
    m.add_function(wrap_pyfunction!(py_kmeans_palette_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(py_kmeans_palette, m)?)?;
    m.add_function(wrap_pyfunction!(py_remap, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_colors, m)?)?;
    m.add_function(wrap_pyfunction!(py_palette_png, m)?)?;
    m.add_function(wrap_pyfunction!(py_default_max_iter, m)?)?;
    m.add_function(wrap_pyfunction!(py_kmeans_palette_alpha, m)?)?;
    m.add_function(wrap_pyfunction!(py_remap_alpha, m)?)?;
    m.add_function(wrap_pyfunction!(py_quantize_colors_alpha, m)?)?;
    Ok(())
}
