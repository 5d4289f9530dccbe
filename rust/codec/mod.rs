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

/// Whether the CPU has AVX2, BMI1, BMI2 and LZCNT. The per-pixel loop of QAC2 and QAC3 (`model`) is also compiled
/// for them (`#[target_feature]`) and takes that version where it runs: the release build targets baseline x86-64,
/// which a wheel must run on, and there the LMS and mixer products (signed 32 x 32 to 64 bits) are not vectorised.
/// Integer arithmetic only, so the output is the same bits. QAC3 encodes 1.13 to 1.23x and decodes 1.18 to 1.23x
/// faster so (QAC2, the same loop with QAC3's stages off, gained nothing measurable; QAC's loop keeps one version).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn avx2() -> bool {
    #[cfg(test)]
    if GENERIC_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    // The standard library caches the detection: a load and a test.
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("bmi1")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("lzcnt")
}

/// Tests set this to run the baseline loops on a CPU that has AVX2, to compare the two versions' bits.
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) static GENERIC_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
