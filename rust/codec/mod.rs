//! The `.qfz` codec without the network: encode an image into a container, and decode it back.
//!
//! Data flow: image -> `transform` (YCbCr, or YCoCg-R on the index planes; 4:2:0 chroma) -> per-channel
//! quantization (`quantize::uniform`) -> `predict` (MED residuals) -> `entropy` (the QAC range coder, or Brotli) or
//! `model` (QAC2 and QAC3: weighted predictor blend, same range coder; QAC3 adds LMS sub-predictors and mixes its
//! probabilities with `mix`) -> `container` (header, CRCs); decode is the reverse, up to the mid-bin reconstruction.
//! `pipeline` strings the stages together; the learned corrector, when used, runs after it in Python.
//!
//! Imports within the part go one way: `transform`, `predict`, `mix` use nothing here; `entropy` uses `predict`;
//! `model` uses `entropy` (the range coder, its adaptive models and the plane pipeline), `mix` and `predict`;
//! `container` uses `quantize::uniform` for the bin arithmetic; `pipeline` uses them all. `container` is the one
//! parser of the format and treats every byte as hostile.

pub mod container;
pub mod entropy;
pub mod loco;
pub mod mix;
pub mod model;
pub mod pipeline;
pub mod predict;
pub mod transform;

pub use pipeline::{decode, encode, with_strength_map, Decoded, Options, Quantization};
