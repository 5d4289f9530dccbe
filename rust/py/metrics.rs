//! Bindings of the quality metrics (`crate::metrics`): MSE and SSIM.

use super::{detach, image, Image};
use crate::error::Error;
use crate::metrics;
use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;

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
    Ok(detach(py, || metrics::mse(x, y))?)
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
    Ok(detach(py, || metrics::ssim(x, y, h, w, c, data_range))?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_mse, m)?)?;
    m.add_function(wrap_pyfunction!(py_ssim, m)?)?;
    Ok(())
}
