//! qfast's core: image quantization at native speed.
//!
//! Plain Rust over byte slices (interleaved `height x width x channels` images, 1 to 4 channels), in three parts that
//! share a few primitives:
//!
//! - [`quantize`]: scalar quantizers (uniform, Lloyd-Max, mu-law) as per-channel 256-entry lookup tables;
//! - [`palette`]: colour palettes (histogram, seeding, k-means, exact nearest-colour remap, dithering, colour spaces);
//! - [`codec`]: the `.qfz` codec (container, colour transforms, prediction, entropy coding, the pipeline).
//!
//! Shared by all: [`pack`] (n-bit packing), [`metrics`] (squared error, SSIM), [`error`] (the one error type),
//! [`alloc`] (fallible buffers) and [`bayer`] (the ordered-dither matrix). Each part uses only itself and the
//! shared modules, except that the codec quantizes with [`quantize::uniform`]. The Python bindings live in `py`
//! behind the `python` feature, so `cargo test` needs no Python.
#![deny(missing_docs)]
// Index loops read best in the numeric kernels, where several arrays share one index.
#![allow(clippy::needless_range_loop)]

pub mod alloc;
pub mod bayer;
pub mod codec;
pub mod error;
pub mod metrics;
pub mod pack;
pub mod palette;
pub mod png_file;
pub mod quantize;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, Result};
