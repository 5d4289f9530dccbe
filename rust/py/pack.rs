//! Bindings of n-bit packing (`crate::pack`).

use super::{detach, new_array, Out};
use crate::error::Error;
use crate::pack;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;

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
    let (arr, ptr, len) = new_array(py, &[pack::packed_len(v.len(), bits)])?;
    let out = Out(ptr, len);
    // SAFETY: `arr` is alive for the whole call and nobody else can reach it yet.
    detach(py, move || pack::pack_into(v, bits, unsafe { out.slice() }))?;
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
    let (arr, ptr, len) = new_array(py, &[count])?;
    let out = Out(ptr, len);
    // SAFETY: `arr` is alive for the whole call and nobody else can reach it yet.
    detach(py, move || pack::unpack_into(p, bits, unsafe { out.slice() }))?;
    arr.reshape([len])
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_pack_bits, m)?)?;
    m.add_function(wrap_pyfunction!(py_unpack_bits, m)?)?;
    Ok(())
}
