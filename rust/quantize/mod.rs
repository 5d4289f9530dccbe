//! Scalar quantizers: each maps a byte to a byte per channel, so all of them run as one table kernel.
//!
//! - `lut`: the 256-entry table type and its kernel over interleaved images (SIMD where the CPU has it);
//! - `uniform`: uniform quantization to any level count per channel, with midpoint or full-range reconstruction;
//! - `nonuniform`: Lloyd-Max (MSE-optimal for a channel's histogram) and mu-law companding, built on `uniform`;
//! - `dither`: uniform indices with ordered (Bayer) or Floyd-Steinberg dithering, built on `uniform`;
//! - `uniform16`: uniform quantization of 16-bit values to 2..65536 levels, reconstructed in 16 bits.
//!
//! Imports: `error` and `alloc` only (and `lut` from the quantizers, `uniform` from `nonuniform`, `dither` and
//! `uniform16`).

pub mod dither;
pub mod lut;
pub mod nonuniform;
pub mod uniform;
pub mod uniform16;
