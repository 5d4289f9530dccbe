//! Dithering for bit-depth reduction: uniform quantization indices with an ordered (Bayer) threshold or with
//! Floyd-Steinberg error diffusion, per channel of an interleaved image.
//!
//! - Ordered, `n` x `n` Bayer matrix `M` (4 or 8): the index of `x` at pixel (row `y`, column `x0`) is
//!   `clamp(floor(x L / 256 + (2 M[y mod n][x0 mod n] + 1) / (2 n^2) - 1/2), 0, L - 1)`, exactly (integer arithmetic):
//!   the threshold moves each value by less than half a bin, up or down, in a fixed pattern, so a flat area between
//!   two levels becomes a mix of both in the right proportion.
//! - Floyd-Steinberg: raster order, left to right; each value plus the error carried to it picks the nearest of the
//!   channel's reconstruction values, and the difference goes 7/16 right, 3/16 down-left, 5/16 down, 1/16
//!   down-right.
//!
//! A channel with 256 levels (every value its own bin, as alpha is by default) is copied unchanged by both.

use crate::alloc;
use crate::bayer::bayer;
use crate::error::{Error, Result};
use crate::quantize::uniform::{self, Reconstruction};
use rayon::prelude::*;

/// A dithering method for bit-depth reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dither {
    /// Ordered, the 4 x 4 Bayer matrix.
    Bayer4,
    /// Ordered, the 8 x 8 Bayer matrix.
    Bayer8,
    /// Floyd-Steinberg error diffusion.
    FloydSteinberg,
}

impl Dither {
    /// Parses the Python spelling: `"bayer4"`, `"bayer8"` or `"floyd-steinberg"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "bayer4" => Ok(Dither::Bayer4),
            "bayer8" => Ok(Dither::Bayer8),
            "floyd-steinberg" => Ok(Dither::FloydSteinberg),
            other => Err(Error::value(
                "dither",
                format!("expected 'none', 'bayer4', 'bayer8' or 'floyd-steinberg', got {other:?}"),
            )),
        }
    }
}

/// Dithered uniform indices of an interleaved image `width` pixels wide, one level count per channel.
pub fn indices(
    src: &[u8],
    dst: &mut [u8],
    width: usize,
    levels: &[u16],
    rec: Reconstruction,
    dither: Dither,
) -> Result<()> {
    let channels = levels.len();
    uniform::check_layout(src, dst, channels)?;
    uniform::check_levels(levels, channels)?;
    let row = width.checked_mul(channels).filter(|&r| r > 0 && src.len().is_multiple_of(r));
    let Some(row) = row else {
        return Err(Error::value("image", format!("expected rows of {width} pixels, got {} values", src.len())));
    };
    match dither {
        Dither::Bayer4 => ordered(src, dst, row, levels, 4),
        Dither::Bayer8 => ordered(src, dst, row, levels, 8),
        Dither::FloydSteinberg => floyd_steinberg(src, dst, row, levels, rec)?,
    }
    Ok(())
}

fn ordered(src: &[u8], dst: &mut [u8], row: usize, levels: &[u16], n: usize) {
    let m = bayer(n);
    let channels = levels.len();
    let nn = (n * n) as i64;
    dst.par_chunks_mut(row).zip(src.par_chunks(row)).enumerate().for_each(|(y, (out, inp))| {
        let mrow = &m[(y % n) * n..(y % n) * n + n];
        for (i, (o, &x)) in out.iter_mut().zip(inp).enumerate() {
            let l = levels[i % channels] as i64;
            if l == 256 {
                *o = x;
                continue;
            }
            let t = mrow[(i / channels) % n] as i64;
            // floor((x L / 256) + (2t + 1) / (2 n^2) - 1/2), all over the common denominator 512 n^2
            let num = 2 * nn * x as i64 * l + 256 * (2 * t + 1) - 256 * nn;
            *o = num.div_euclid(512 * nn).clamp(0, l - 1) as u8;
        }
    });
}

fn floyd_steinberg(src: &[u8], dst: &mut [u8], row: usize, levels: &[u16], rec: Reconstruction) -> Result<()> {
    let channels = levels.len();
    // per channel: the reconstruction values, and for each integer value the nearest of them
    let values: Vec<Vec<f32>> =
        levels.iter().map(|&l| (0..l).map(|i| uniform::value_of(i as u8, l, rec) as f32).collect()).collect();
    let nearest: Vec<[u8; 256]> = values
        .iter()
        .map(|vals| {
            std::array::from_fn(|x| {
                let mut best = 0usize;
                for (i, &v) in vals.iter().enumerate() {
                    if (v - x as f32).abs() < (vals[best] - x as f32).abs() {
                        best = i;
                    }
                }
                best as u8
            })
        })
        .collect();
    // the errors carried into this row and the next, with a pixel of margin on each side
    let width = row / channels;
    let stride = (width + 2) * channels;
    let mut cur: Vec<f32> = alloc::zeroed(stride)?;
    let mut next: Vec<f32> = alloc::zeroed(stride)?;
    for (out, inp) in dst.chunks_mut(row).zip(src.chunks(row)) {
        for px in 0..width {
            for c in 0..channels {
                let i = px * channels + c;
                let l = levels[c];
                if l == 256 {
                    out[i] = inp[i];
                    continue;
                }
                let want = inp[i] as f32 + cur[i + channels];
                let q = nearest[c][want.round().clamp(0.0, 255.0) as usize];
                out[i] = q;
                let err = want - values[c][q as usize];
                cur[i + 2 * channels] += err * (7.0 / 16.0);
                next[i] += err * (3.0 / 16.0);
                next[i + channels] += err * (5.0 / 16.0);
                next[i + 2 * channels] += err * (1.0 / 16.0);
            }
        }
        std::mem::swap(&mut cur, &mut next);
        next.iter_mut().for_each(|e| *e = 0.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_keeps_flat_means_and_256_levels() {
        let (w, h) = (16, 16);
        for x in [0u8, 40, 100, 128, 200, 255] {
            let src = vec![x; w * h];
            let mut dst = vec![0u8; w * h];
            indices(&src, &mut dst, w, &[4], Reconstruction::Midpoint, Dither::Bayer8).unwrap();
            let mean: f64 = dst.iter().map(|&i| i as f64 + 0.5).sum::<f64>() / (w * h) as f64;
            // inside the levels' span (bin middles 32..=224) the mean follows the value; outside, the ends clamp
            if (32..=224).contains(&x) {
                assert!((mean - x as f64 * 4.0 / 256.0).abs() < 0.1, "x {x}: mean index {mean}");
            }
            indices(&src, &mut dst, w, &[256], Reconstruction::Midpoint, Dither::Bayer4).unwrap();
            assert_eq!(dst, src);
            indices(&src, &mut dst, w, &[256], Reconstruction::Midpoint, Dither::FloydSteinberg).unwrap();
            assert_eq!(dst, src);
        }
    }

    #[test]
    fn floyd_steinberg_keeps_the_mean() {
        let (w, h) = (32, 32);
        let src = vec![90u8; w * h];
        let mut dst = vec![0u8; w * h];
        indices(&src, &mut dst, w, &[2], Reconstruction::FullRange, Dither::FloydSteinberg).unwrap();
        let mean: f64 = dst.iter().map(|&i| i as f64 * 255.0).sum::<f64>() / (w * h) as f64;
        assert!((mean - 90.0).abs() < 3.0, "{mean}");
    }

    #[test]
    fn bad_arguments_are_errors() {
        let src = [0u8; 6];
        let mut dst = [0u8; 6];
        assert!(indices(&src, &mut dst, 4, &[4], Reconstruction::Midpoint, Dither::Bayer4).is_err());
        assert!(indices(&src, &mut dst, 0, &[4], Reconstruction::Midpoint, Dither::Bayer4).is_err());
        assert!(Dither::parse("atkinson").is_err());
    }
}
