//! qfast's core: image quantization at native speed.
//!
//! Plain Rust over byte slices (interleaved `height x width x channels` images, 1 to 4 channels); the Python bindings
//! live in `py` behind the `python` feature, so `cargo test` needs no Python.
#![deny(missing_docs)]
// Index loops read best in the numeric kernels, where several arrays share one index.
#![allow(clippy::needless_range_loop)]

pub mod codec;
pub mod colorspace;
pub mod colour_transform;
pub mod container;
pub mod dither;
pub mod entropy;
pub mod error;
pub mod kmeans;
pub mod lut;
pub mod metrics;
pub mod nonuniform;
pub mod pack;
pub mod predict;
pub mod remap;
pub mod uniform;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, Result};
