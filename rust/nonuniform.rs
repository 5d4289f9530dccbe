//! Non-uniform scalar quantizers: Lloyd-Max (MSE-optimal for a channel's histogram) and mu-law companding.
//!
//! Both give, per channel, a table from value to index and a codebook from index to value; the pixel work is then
//! the same table lookup as for uniform quantization (`lut::apply`).

use crate::error::{Error, Result};
use crate::lut::{self, Table};
use crate::uniform::{self, Reconstruction};
use rayon::prelude::*;

/// A scalar quantizer of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarQuantizer {
    /// `index[x]`: the index of value `x`.
    pub index: Table,
    /// `codebook[i]`: the value that index `i` stands for; `codebook.len()` is the level count.
    pub codebook: Vec<u8>,
}

impl ScalarQuantizer {
    /// The table from an index to its value (entries past the codebook are 0).
    pub fn value_table(&self) -> Table {
        std::array::from_fn(|i| self.codebook.get(i).copied().unwrap_or(0))
    }
}

/// The histograms of `channels` interleaved channels: `hist[c][v]` counts value `v` in channel `c`.
pub fn histograms(src: &[u8], channels: usize) -> Vec<[u64; 256]> {
    let fold = |s: &[u8]| {
        // Counting into u32 per chunk is exact (a chunk is far below 2^32 bytes) and halves the cache footprint.
        let mut h = vec![[0u32; 256]; channels];
        if channels == 1 {
            // Four sub-histograms break the store-to-load dependency on runs of equal values.
            let mut sub = [[0u32; 256]; 4];
            let mut quads = s.chunks_exact(4);
            for q in &mut quads {
                sub[0][q[0] as usize] += 1;
                sub[1][q[1] as usize] += 1;
                sub[2][q[2] as usize] += 1;
                sub[3][q[3] as usize] += 1;
            }
            for &v in quads.remainder() {
                sub[0][v as usize] += 1;
            }
            for v in 0..256 {
                h[0][v] = sub[0][v] + sub[1][v] + sub[2][v] + sub[3][v];
            }
        } else {
            for px in s.chunks_exact(channels) {
                for (hc, &v) in h.iter_mut().zip(px) {
                    hc[v as usize] += 1;
                }
            }
        }
        h.into_iter().map(|hc| hc.map(u64::from)).collect::<Vec<[u64; 256]>>()
    };
    src.par_chunks(lut::CHUNK).map(fold).reduce(
        || vec![[0u64; 256]; channels],
        |mut a, b| {
            for (ac, bc) in a.iter_mut().zip(&b) {
                for (x, y) in ac.iter_mut().zip(bc) {
                    *x += y;
                }
            }
            a
        },
    )
}

/// The squared error of coding `hist` with `q`.
pub fn squared_error(hist: &[u64; 256], q: &ScalarQuantizer) -> u64 {
    (0..256)
        .map(|x| {
            let d = x as i64 - q.codebook[q.index[x] as usize] as i64;
            hist[x] * (d * d) as u64
        })
        .sum()
}

/// The nearest-codeword partition for a sorted codebook (ties go to the lower index).
fn nearest_partition(codebook: &[u8]) -> Table {
    let mut table = [0u8; 256];
    let mut j = 0usize;
    for (x, t) in table.iter_mut().enumerate() {
        // Move on while the next codeword is strictly closer.
        while j + 1 < codebook.len()
            && (codebook[j + 1] as i32 - x as i32).abs() < (x as i32 - codebook[j] as i32).abs()
        {
            j += 1;
        }
        *t = j as u8;
    }
    table
}

/// Lloyd-Max: the integer codebook of `levels` values that (locally) minimises the squared error for `hist`.
///
/// Starts from the uniform midpoint quantizer and alternates the nearest-codeword partition with the centroid
/// (the rounded mean, which is the best integer) of each cell. Neither step can raise the error, so the result is
/// never worse than the uniform midpoint quantizer. Stops after `max_iter` rounds, when the codebook stops moving, or
/// when the error falls by less than the fraction `tol` in a round. Empty cells keep their codeword.
pub fn lloyd_max(hist: &[u64; 256], levels: u16, max_iter: u32, tol: f64) -> Result<ScalarQuantizer> {
    uniform::check_levels(&[levels], 1)?;
    if !(tol >= 0.0 && tol.is_finite()) {
        return Err(Error::value("tol", format!("expected a finite number >= 0, got {tol}")));
    }
    let mut codebook: Vec<u8> =
        (0..levels).map(|i| uniform::value_of(i as u8, levels, Reconstruction::Midpoint)).collect();
    let mut q = ScalarQuantizer { index: nearest_partition(&codebook), codebook: codebook.clone() };
    let mut err = squared_error(hist, &q);
    for _ in 0..max_iter {
        // Centroid step.
        let (mut sum, mut count) = (vec![0u64; levels as usize], vec![0u64; levels as usize]);
        for x in 0..256 {
            let i = q.index[x] as usize;
            sum[i] += hist[x] * x as u64;
            count[i] += hist[x];
        }
        for i in 0..levels as usize {
            if count[i] > 0 {
                // round(sum / count), halves up: the integer nearest the mean.
                codebook[i] = ((2 * sum[i] + count[i]) / (2 * count[i])) as u8;
            }
        }
        codebook.sort_unstable();
        let next = ScalarQuantizer { index: nearest_partition(&codebook), codebook: codebook.clone() };
        let next_err = squared_error(hist, &next);
        if next_err > err {
            break; // Cannot happen by the argument above; kept so a rounding surprise never makes things worse.
        }
        let moved = next != q;
        let gain = (err - next_err) as f64;
        q = next;
        let done = !moved || gain <= tol * err as f64;
        err = next_err;
        if done {
            break;
        }
    }
    Ok(q)
}

/// Mu-law companding: `y = ln(1 + mu x / 255) / ln(1 + mu)` is quantized uniformly into `levels` bins of [0, 1]
/// and each index is reconstructed at its bin's middle in the companded domain, expanded back and rounded.
/// `mu` must be finite and > 0; small `mu` approaches uniform quantization.
pub fn mu_law(levels: u16, mu: f64) -> Result<ScalarQuantizer> {
    uniform::check_levels(&[levels], 1)?;
    if !(mu > 0.0 && mu.is_finite()) {
        return Err(Error::value("mu", format!("expected a finite number > 0, got {mu}")));
    }
    let l = levels as f64;
    let norm = (1.0 + mu).ln();
    let index = std::array::from_fn(|x| {
        let y = (1.0 + mu * x as f64 / 255.0).ln() / norm;
        ((y * l).floor() as i64).clamp(0, levels as i64 - 1) as u8
    });
    let codebook = (0..levels)
        .map(|i| {
            let y = (i as f64 + 0.5) / l;
            let x = 255.0 / mu * ((1.0 + mu).powf(y) - 1.0);
            x.round().clamp(0.0, 255.0) as u8
        })
        .collect();
    Ok(ScalarQuantizer { index, codebook })
}

/// Applies one quantizer per channel to the interleaved image `src`, writing indices into `dst`.
pub fn apply_indices(src: &[u8], dst: &mut [u8], qs: &[ScalarQuantizer]) {
    let tables: Vec<Table> = qs.iter().map(|q| q.index).collect();
    lut::apply(src, dst, &tables);
}

/// Reconstructs an index image with one codebook per channel. Fails when an index has no codeword.
pub fn apply_codebooks(src: &[u8], dst: &mut [u8], codebooks: &[Vec<u8>]) -> Result<()> {
    if codebooks.is_empty() || codebooks.len() > 4 {
        return Err(Error::value("codebook", format!("expected 1..4 codebooks, got {}", codebooks.len())));
    }
    if let Some(c) = codebooks.iter().find(|c| c.is_empty() || c.len() > 256) {
        return Err(Error::value("codebook", format!("expected 1..256 entries per channel, got {}", c.len())));
    }
    let bounds: Vec<u16> = codebooks.iter().map(|c| c.len() as u16).collect();
    uniform::check_indices(src, &bounds)?;
    let tables: Vec<Table> =
        codebooks.iter().map(|c| std::array::from_fn(|i| c.get(i).copied().unwrap_or(0))).collect();
    lut::apply(src, dst, &tables);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform_midpoint_error(hist: &[u64; 256], levels: u16) -> u64 {
        (0..256)
            .map(|x| {
                let v = uniform::value_of(uniform::index_of(x as u8, levels), levels, Reconstruction::Midpoint);
                let d = x as i64 - v as i64;
                hist[x] * (d * d) as u64
            })
            .sum()
    }

    fn skewed_hist(seed: u64) -> [u64; 256] {
        let mut s = seed;
        std::array::from_fn(|x| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let bump = if (40..70).contains(&x) || (200..210).contains(&x) { 500 } else { 3 };
            bump + (s >> 60)
        })
    }

    #[test]
    fn histogram_counts_every_channel() {
        let src: Vec<u8> = (0..3 * 1000).map(|i| (i % 7 * (i % 3 + 1)) as u8).collect();
        let h = histograms(&src, 3);
        for c in 0..3 {
            for v in 0..256 {
                let want = src.iter().skip(c).step_by(3).filter(|&&x| x as usize == v).count() as u64;
                assert_eq!(h[c][v], want);
            }
        }
        let big: Vec<u8> = (0..lut::CHUNK * 3 + 5).map(|i| (i * 31 % 256) as u8).collect();
        assert_eq!(histograms(&big, 1)[0].iter().sum::<u64>(), big.len() as u64);
    }

    #[test]
    fn lloyd_max_never_loses_to_uniform_midpoint() {
        for seed in 0..5 {
            let hist = skewed_hist(seed);
            for levels in [2u16, 3, 4, 7, 8, 16, 64, 200, 256] {
                let q = lloyd_max(&hist, levels, 100, 0.0).unwrap();
                assert_eq!(q.codebook.len(), levels as usize);
                assert!(squared_error(&hist, &q) <= uniform_midpoint_error(&hist, levels), "levels {levels}");
                assert!(q.codebook.windows(2).all(|w| w[0] <= w[1]));
                assert!(q.index.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }

    #[test]
    fn lloyd_max_finds_two_clusters() {
        let mut hist = [0u64; 256];
        hist[10] = 100;
        hist[12] = 100;
        hist[240] = 50;
        let q = lloyd_max(&hist, 2, 100, 0.0).unwrap();
        assert_eq!(q.codebook, vec![11, 240]);
        assert_eq!(squared_error(&hist, &q), 200);
    }

    #[test]
    fn lloyd_max_checks_arguments() {
        let hist = [1u64; 256];
        assert!(lloyd_max(&hist, 1, 10, 0.0).is_err());
        assert!(lloyd_max(&hist, 4, 10, -1.0).is_err());
        assert!(lloyd_max(&hist, 4, 10, f64::NAN).is_err());
    }

    #[test]
    fn mu_law_is_monotone_and_finer_near_black() {
        let q = mu_law(8, 255.0).unwrap();
        assert!(q.index.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(q.index[0], 0);
        assert_eq!(q.index[255], 7);
        let first_bin = q.index.iter().filter(|&&i| i == 0).count();
        let last_bin = q.index.iter().filter(|&&i| i == 7).count();
        assert!(first_bin < last_bin);
        assert!(mu_law(8, 0.0).is_err());
        assert!(mu_law(8, f64::INFINITY).is_err());
    }

    #[test]
    fn codebooks_reject_indices_without_codeword() {
        let mut out = [0u8; 4];
        assert!(apply_codebooks(&[0, 1, 2, 1], &mut out, &[vec![5, 6, 7]]).is_ok());
        assert_eq!(out, [5, 6, 7, 6]);
        assert!(apply_codebooks(&[0, 3], &mut out[..2], &[vec![5, 6, 7]]).is_err());
    }
}
