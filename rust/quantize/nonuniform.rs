//! Non-uniform scalar quantizers: Lloyd-Max (MSE-optimal for a channel's histogram) and mu-law companding.
//!
//! Both give, per channel, a table from value to index and a codebook from index to value; the pixel work is then
//! the same table lookup as for uniform quantization (`lut::apply`). The same algorithms run on 16-bit channels
//! (`lloyd_max16`, `mu_law16`: 65536-entry tables, 2..=65536 levels), through one core written for either width.

use crate::error::{Error, Result};
use crate::quantize::lut::{self, Table};
use crate::quantize::uniform::{self, Reconstruction};
use crate::quantize::uniform16;
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
///
/// `channels` is 1..=4 (other counts give no histograms).
pub fn histograms(src: &[u8], channels: usize) -> Vec<[u64; 256]> {
    if !(1..=4).contains(&channels) {
        return Vec::new();
    }
    let fold = |s: &[u8]| match channels {
        1 => count::<1>(s),
        2 => count::<2>(s),
        3 => count::<3>(s),
        _ => count::<4>(s),
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

/// Histograms of one chunk (below 2^32 bytes) of `C` interleaved channels.
///
/// Counting into several sub-histograms per channel, a different one for each pixel of a group of four, breaks the
/// store-to-load dependency that runs of equal values (flat image regions) would otherwise create.
fn count<const C: usize>(s: &[u8]) -> Vec<[u64; 256]> {
    const COPIES: usize = 4;
    let mut sub = vec![[0u32; 256]; C * COPIES];
    let mut groups = s.chunks_exact(C * COPIES);
    for g in &mut groups {
        for k in 0..C * COPIES {
            // Sub-histogram k counts channel k % C; the index k is a constant after unrolling.
            sub[k][g[k] as usize] += 1;
        }
    }
    for (k, &v) in groups.remainder().iter().enumerate() {
        sub[k % C][v as usize] += 1;
    }
    (0..C).map(|c| std::array::from_fn(|v| (0..COPIES).map(|j| sub[j * C + c][v] as u64).sum())).collect()
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

/// Lloyd-Max: the integer codebook of `levels` values that minimises the squared error for `hist`.
///
/// Two starts are refined by integer Lloyd iterations (nearest-codeword partition, then each codeword moved to the
/// integer nearest its cell's mean): the globally optimal real-valued quantizer from `optimal_codebook` rounded to
/// integers, and the uniform midpoint quantizer. The better result is returned. Lloyd steps never raise the error, so
/// the result is never worse than the uniform midpoint quantizer, and it is within rounding of the global optimum.
/// Refinement stops after `max_iter` rounds, when the codebook stops moving, or when a round lowers the error by less
/// than the fraction `tol`.
pub fn lloyd_max(hist: &[u64; 256], levels: u16, max_iter: u32, tol: f64) -> Result<ScalarQuantizer> {
    uniform::check_levels(&[levels], 1)?;
    check_tol(tol)?;
    let uniform_start: Vec<u32> =
        (0..levels).map(|i| uniform::value_of(i as u8, levels, Reconstruction::Midpoint) as u32).collect();
    let q = best_of(hist, [optimal_codebook(hist, levels as usize), uniform_start], max_iter, tol);
    Ok(ScalarQuantizer {
        index: std::array::from_fn(|x| q.index[x] as u8),
        codebook: q.codebook.iter().map(|&v| v as u8).collect(),
    })
}

fn check_tol(tol: f64) -> Result<()> {
    if !(tol >= 0.0 && tol.is_finite()) {
        return Err(Error::value("tol", format!("expected a finite number >= 0, got {tol}")));
    }
    Ok(())
}

/// A quantizer of the values `0..index.len()` (256 or 65536): the same as `ScalarQuantizer` at either width.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wide {
    index: Vec<u32>,
    codebook: Vec<u32>,
}

/// The squared error of coding `hist` with `q` (u128: 16-bit values and counts up to 2^48 cannot overflow it).
fn wide_error(hist: &[u64], q: &Wide) -> u128 {
    hist.iter()
        .zip(&q.index)
        .enumerate()
        .map(|(x, (&h, &i))| {
            let d = x as i64 - q.codebook[i as usize] as i64;
            h as u128 * (d * d) as u128
        })
        .sum()
}

/// The nearest-codeword partition of the values `0..n` for a sorted codebook (ties go to the lower index).
fn nearest_partition(codebook: &[u32], n: usize) -> Vec<u32> {
    let mut j = 0usize;
    (0..n)
        .map(|x| {
            let x = x as i64;
            // Move on while the next codeword is strictly closer.
            while j + 1 < codebook.len() && (codebook[j + 1] as i64 - x).abs() < (x - codebook[j] as i64).abs() {
                j += 1;
            }
            j as u32
        })
        .collect()
}

/// Refines each start and keeps the result with the lower error (the first on a tie).
fn best_of<const N: usize>(hist: &[u64], starts: [Vec<u32>; N], max_iter: u32, tol: f64) -> Wide {
    let mut best: Option<(u128, Wide)> = None;
    for start in starts {
        let q = refine(hist, start, max_iter, tol);
        let e = wide_error(hist, &q);
        if best.as_ref().is_none_or(|(b, _)| e < *b) {
            best = Some((e, q));
        }
    }
    best.map(|(_, q)| q).unwrap_or(Wide { index: Vec::new(), codebook: Vec::new() })
}

/// Integer Lloyd iterations from `codebook` (any order; it is sorted first) on the histogram `hist`.
fn refine(hist: &[u64], mut codebook: Vec<u32>, max_iter: u32, tol: f64) -> Wide {
    let (levels, n) = (codebook.len(), hist.len());
    codebook.sort_unstable();
    let mut q = Wide { index: nearest_partition(&codebook, n), codebook: codebook.clone() };
    let mut err = wide_error(hist, &q);
    for _ in 0..max_iter {
        let (mut sum, mut count) = (vec![0u128; levels], vec![0u128; levels]);
        for (x, (&h, &i)) in hist.iter().zip(&q.index).enumerate() {
            sum[i as usize] += h as u128 * x as u128;
            count[i as usize] += h as u128;
        }
        for i in 0..levels {
            if count[i] > 0 {
                // round(sum / count), halves up: the integer nearest the mean.
                codebook[i] = ((2 * sum[i] + count[i]) / (2 * count[i])) as u32;
            }
        }
        codebook.sort_unstable();
        let next = Wide { index: nearest_partition(&codebook, n), codebook: codebook.clone() };
        let next_err = wide_error(hist, &next);
        if next_err > err {
            break; // Cannot happen (each step is optimal for the other's result); kept as a guard.
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
    q
}

/// The globally MSE-optimal quantizer of `hist` with `levels` real-valued codewords, rounded to integers and padded
/// to `levels` entries (sorted).
///
/// Optimal 1-D cells are contiguous runs of the occupied values, so dynamic programming over (cells, last value)
/// finds the optimum exactly; the best split point is monotone in the last value, which the divide-and-conquer
/// evaluation uses: O(levels * n log n) for n occupied values.
fn optimal_codebook(hist: &[u64], levels: usize) -> Vec<u32> {
    let values: Vec<usize> = (0..hist.len()).filter(|&x| hist[x] > 0).collect();
    let n = values.len();
    let l = levels;
    let top = hist.len().saturating_sub(1) as f64;
    if n == 0 {
        return vec![0; l];
    }
    if l >= n {
        // Every occupied value gets its own codeword: lossless. Pad with the largest.
        let mut code: Vec<u32> = values.iter().map(|&v| v as u32).collect();
        code.resize(l, values[n - 1] as u32);
        return code;
    }
    // Prefix sums of weight, weighted value and weighted square over the occupied values.
    let (mut s0, mut s1, mut s2) = (vec![0f64; n + 1], vec![0f64; n + 1], vec![0f64; n + 1]);
    for (k, &v) in values.iter().enumerate() {
        let w = hist[v] as f64;
        s0[k + 1] = s0[k] + w;
        s1[k + 1] = s1[k] + w * v as f64;
        s2[k + 1] = s2[k] + w * (v as f64) * (v as f64);
    }
    // Squared error of one cell holding occupied values a..=b around their mean.
    let cost = |a: usize, b: usize| -> f64 {
        let w = s0[b + 1] - s0[a];
        let s = s1[b + 1] - s1[a];
        (s2[b + 1] - s2[a] - s * s / w).max(0.0)
    };
    // prev[j]: best error of covering values 0..=j with the cells so far; split[c][j]: where the last cell starts.
    let mut prev: Vec<f64> = (0..n).map(|j| cost(0, j)).collect();
    let mut split = vec![vec![0usize; n]; l];
    for c in 1..l {
        let mut cur = vec![f64::INFINITY; n];
        // Work list of (j range, split range), evaluated at the range's middle.
        let mut stack = vec![(c, n - 1, c, n - 1)];
        while let Some((jlo, jhi, olo, ohi)) = stack.pop() {
            if jlo > jhi {
                continue;
            }
            let mid = (jlo + jhi) / 2;
            let (mut best, mut arg) = (f64::INFINITY, olo);
            for i in olo..=ohi.min(mid) {
                let e = prev[i - 1] + cost(i, mid);
                if e < best {
                    best = e;
                    arg = i;
                }
            }
            cur[mid] = best;
            split[c][mid] = arg;
            if mid > jlo {
                stack.push((jlo, mid - 1, olo, arg));
            }
            stack.push((mid + 1, jhi, arg, ohi));
        }
        prev = cur;
    }
    // Walk the splits back from the last value.
    let mut code = Vec::with_capacity(l);
    let mut end = n - 1;
    for c in (0..l).rev() {
        let start = if c == 0 { 0 } else { split[c][end] };
        let w = s0[end + 1] - s0[start];
        let mean = (s1[end + 1] - s1[start]) / w;
        code.push((mean + 0.5).floor().clamp(0.0, top) as u32);
        if c == 0 {
            break;
        }
        end = start - 1;
    }
    code.sort_unstable();
    code
}

/// A start for Lloyd on a wide histogram where the exact optimum costs too much: `levels` cells of about equal
/// weight, each reconstructed at its mean (sorted, padded with the largest occupied value).
fn equal_weight_codebook(hist: &[u64], levels: usize) -> Vec<u32> {
    let total: u128 = hist.iter().map(|&h| h as u128).sum();
    let mut code = Vec::with_capacity(levels);
    let (mut w, mut s, mut seen, mut last) = (0u128, 0u128, 0u128, 0u32);
    for (x, &h) in hist.iter().enumerate() {
        if h == 0 {
            continue;
        }
        w += h as u128;
        s += h as u128 * x as u128;
        seen += h as u128;
        last = x as u32;
        // Close the cell once the weight so far reaches the next share of the total.
        if seen * levels as u128 >= total * (code.len() as u128 + 1) && code.len() + 1 < levels {
            code.push(((2 * s + w) / (2 * w)) as u32);
            (w, s) = (0, 0);
        }
    }
    if w > 0 {
        code.push(((2 * s + w) / (2 * w)) as u32);
    }
    code.resize(levels.max(1), last);
    code
}

/// Mu-law companding: `y = ln(1 + mu x / 255) / ln(1 + mu)` is quantized uniformly into `levels` bins of [0, 1]
/// and each index is reconstructed at its bin's middle in the companded domain, expanded back and rounded.
/// `mu` must be finite and > 0; small `mu` approaches uniform quantization.
pub fn mu_law(levels: u16, mu: f64) -> Result<ScalarQuantizer> {
    uniform::check_levels(&[levels], 1)?;
    let q = mu_law_wide(levels as u32, mu, 256)?;
    Ok(ScalarQuantizer {
        index: std::array::from_fn(|x| q.index[x] as u8),
        codebook: q.codebook.iter().map(|&v| v as u8).collect(),
    })
}

/// Mu-law over the values `0..n` (the top value `n - 1` takes the place of 255).
fn mu_law_wide(levels: u32, mu: f64, n: usize) -> Result<Wide> {
    if !(mu > 0.0 && mu.is_finite()) {
        return Err(Error::value("mu", format!("expected a finite number > 0, got {mu}")));
    }
    let (l, top) = (levels as f64, (n - 1) as f64);
    // ln_1p and exp_m1 keep their precision as mu -> 0, where the curve tends to the identity (uniform
    // quantization); (1 + mu).ln() would round to 0 for mu below about 1e-16 and make every codeword 0.
    let norm = mu.ln_1p();
    let index = (0..n)
        .map(|x| {
            let y = (mu * x as f64 / top).ln_1p() / norm;
            ((y * l).floor() as i64).clamp(0, levels as i64 - 1) as u32
        })
        .collect();
    let codebook = (0..levels)
        .map(|i| {
            let y = (i as f64 + 0.5) / l;
            let x = top / mu * (y * norm).exp_m1();
            x.round().clamp(0.0, top) as u32
        })
        .collect();
    Ok(Wide { index, codebook })
}

/// A scalar quantizer of one 16-bit channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarQuantizer16 {
    /// `index[x]`: the index of value `x` (65536 entries).
    pub index: Vec<u16>,
    /// `codebook[i]`: the value that index `i` stands for; `codebook.len()` is the level count (2..=65536).
    pub codebook: Vec<u16>,
}

impl From<Wide> for ScalarQuantizer16 {
    fn from(q: Wide) -> Self {
        Self {
            index: q.index.iter().map(|&i| i as u16).collect(),
            codebook: q.codebook.iter().map(|&v| v as u16).collect(),
        }
    }
}

/// The histograms (65536 bins each) of `channels` (1..=4) interleaved 16-bit channels.
pub fn histograms16(src: &[u16], channels: usize) -> Result<Vec<Vec<u64>>> {
    if !(1..=4).contains(&channels) {
        return Err(Error::value("image", format!("expected 1..4 channels, got {channels}")));
    }
    let chunk = CHUNK16 - CHUNK16 % channels;
    let parts: Vec<Vec<Vec<u64>>> = src
        .par_chunks(chunk)
        .map(|s| -> Result<Vec<Vec<u64>>> {
            let mut h = (0..channels).map(|_| crate::alloc::zeroed::<u64>(65536)).collect::<Result<Vec<_>>>()?;
            for (k, &v) in s.iter().enumerate() {
                h[k % channels][v as usize] += 1;
            }
            Ok(h)
        })
        .collect::<Result<_>>()?;
    let mut total = (0..channels).map(|_| crate::alloc::zeroed::<u64>(65536)).collect::<Result<Vec<_>>>()?;
    for part in parts {
        for (t, p) in total.iter_mut().zip(part) {
            for (a, b) in t.iter_mut().zip(p) {
                *a += b;
            }
        }
    }
    Ok(total)
}

/// Samples per parallel work item of the 16-bit kernels.
const CHUNK16: usize = 1 << 18;

/// Levels times occupied values up to which the 16-bit Lloyd-Max also starts from the exact optimum (above it, from
/// equal-weight cells: the dynamic programme would take seconds).
const OPTIMUM_WORK: usize = 1 << 22;

/// Lloyd-Max for a 16-bit channel's histogram (65536 bins), `levels` in 2..=65536: as `lloyd_max`, with the exact
/// optimum as a start only where `levels` times the number of occupied values is at most 2^22 (or where there are
/// no more occupied values than levels: lossless), and equal-weight cells otherwise.
pub fn lloyd_max16(hist: &[u64], levels: u32, max_iter: u32, tol: f64) -> Result<ScalarQuantizer16> {
    check_levels16(levels)?;
    check_tol(tol)?;
    if hist.len() != 65536 {
        return Err(Error::value("image", "expected a 65536-bin histogram"));
    }
    let uniform_start: Vec<u32> =
        (0..levels).map(|i| uniform16::value_of(i as u16, levels, Reconstruction::Midpoint) as u32).collect();
    let occupied = hist.iter().filter(|&&h| h > 0).count();
    let second = if levels as usize >= occupied || levels as usize * occupied <= OPTIMUM_WORK {
        optimal_codebook(hist, levels as usize)
    } else {
        equal_weight_codebook(hist, levels as usize)
    };
    Ok(best_of(hist, [second, uniform_start], max_iter, tol).into())
}

/// Mu-law for 16-bit values: as `mu_law` with 65535 in place of 255, `levels` in 2..=65536.
pub fn mu_law16(levels: u32, mu: f64) -> Result<ScalarQuantizer16> {
    check_levels16(levels)?;
    Ok(mu_law_wide(levels, mu, 65536)?.into())
}

fn check_levels16(levels: u32) -> Result<()> {
    uniform16::check_levels(&[levels], 1)
}

/// Applies one 16-bit quantizer per channel to the interleaved image `src`, writing indices into `dst`.
pub fn apply_indices16(src: &[u16], dst: &mut [u16], qs: &[ScalarQuantizer16]) -> Result<()> {
    let tables: Vec<&[u16]> = qs.iter().map(|q| q.index.as_slice()).collect();
    lookup16(src, dst, &tables)
}

/// Reconstructs a 16-bit index image with one codebook (1..=65536 entries) per channel; fails when an index has no
/// codeword.
pub fn apply_codebooks16(src: &[u16], dst: &mut [u16], codebooks: &[Vec<u16>]) -> Result<()> {
    if codebooks.is_empty() || codebooks.len() > 4 {
        return Err(Error::value("codebook", format!("expected 1..4 codebooks, got {}", codebooks.len())));
    }
    if let Some(c) = codebooks.iter().find(|c| c.is_empty() || c.len() > 65536) {
        return Err(Error::value("codebook", format!("expected 1..65536 entries per channel, got {}", c.len())));
    }
    let c = codebooks.len();
    if let Some(k) = src.iter().enumerate().position(|(k, &i)| i as usize >= codebooks[k % c].len()) {
        let (ch, i) = (k % c, src[k]);
        return Err(Error::value(
            "indices",
            format!("index {i} in channel {ch} is out of range for {} levels", codebooks[ch].len()),
        ));
    }
    let tables: Vec<&[u16]> = codebooks.iter().map(|c| c.as_slice()).collect();
    lookup16(src, dst, &tables)
}

/// `dst[k] = tables[k % C][src[k]]` on all cores; every value of `src` must index its table (checked by callers or
/// by the table having 65536 entries).
fn lookup16(src: &[u16], dst: &mut [u16], tables: &[&[u16]]) -> Result<()> {
    let c = tables.len();
    if !(1..=4).contains(&c) || !src.len().is_multiple_of(c) || dst.len() != src.len() {
        return Err(Error::value("image", "expected whole pixels and an output as long as the input"));
    }
    let chunk = CHUNK16 - CHUNK16 % c;
    dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| {
        for (k, (o, &x)) in d.iter_mut().zip(s).enumerate() {
            *o = tables[k % c].get(x as usize).copied().unwrap_or(0);
        }
    });
    Ok(())
}

/// Applies one quantizer per channel to the interleaved image `src`, writing indices into `dst`.
pub fn apply_indices(src: &[u8], dst: &mut [u8], qs: &[ScalarQuantizer]) -> Result<()> {
    uniform::check_layout(src, dst, qs.len())?;
    let tables: Vec<Table> = qs.iter().map(|q| q.index).collect();
    lut::apply(src, dst, &tables);
    Ok(())
}

/// Reconstructs an index image with one codebook per channel. Fails when an index has no codeword.
pub fn apply_codebooks(src: &[u8], dst: &mut [u8], codebooks: &[Vec<u8>]) -> Result<()> {
    if codebooks.is_empty() || codebooks.len() > 4 {
        return Err(Error::value("codebook", format!("expected 1..4 codebooks, got {}", codebooks.len())));
    }
    uniform::check_layout(src, dst, codebooks.len())?;
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

    /// Brute force over all contiguous partitions of the occupied values (small cases only).
    fn brute_force_optimum(hist: &[u64; 256], levels: usize) -> f64 {
        let values: Vec<usize> = (0..256).filter(|&x| hist[x] > 0).collect();
        let n = values.len();
        let cell = |a: usize, b: usize| {
            let w: f64 = values[a..=b].iter().map(|&v| hist[v] as f64).sum();
            let m: f64 = values[a..=b].iter().map(|&v| hist[v] as f64 * v as f64).sum::<f64>() / w;
            values[a..=b].iter().map(|&v| hist[v] as f64 * (v as f64 - m).powi(2)).sum::<f64>()
        };
        let mut best = f64::INFINITY;
        // Choose levels-1 cut points among n-1 gaps, by bitmask.
        for mask in 0u32..(1 << (n - 1)) {
            if mask.count_ones() as usize != levels.min(n) - 1 {
                continue;
            }
            let (mut start, mut total) = (0, 0.0);
            for g in 0..n - 1 {
                if mask >> g & 1 == 1 {
                    total += cell(start, g);
                    start = g + 1;
                }
            }
            total += cell(start, n - 1);
            best = best.min(total);
        }
        best
    }

    #[test]
    fn optimal_codebook_matches_brute_force() {
        for seed in 0..20u64 {
            let mut s = seed;
            let mut hist = [0u64; 256];
            for _ in 0..12 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                hist[(s >> 56) as usize] += 1 + (s >> 20) % 50;
            }
            for levels in 2..=5u16 {
                let code = optimal_codebook(&hist, levels as usize);
                let index = nearest_partition(&code, 256);
                let q = ScalarQuantizer {
                    index: std::array::from_fn(|x| index[x] as u8),
                    codebook: code.iter().map(|&v| v as u8).collect(),
                };
                let rounded = squared_error(&hist, &q) as f64;
                let optimum = brute_force_optimum(&hist, levels as usize);
                let total: u64 = hist.iter().sum();
                // Rounding each codeword to an integer adds at most 1/4 per pixel.
                assert!(rounded <= optimum + total as f64 / 4.0 + 1e-6, "seed {seed} levels {levels}");
                let lm = lloyd_max(&hist, levels, 100, 0.0).unwrap();
                assert!(squared_error(&hist, &lm) as f64 <= rounded);
            }
        }
    }

    #[test]
    fn lloyd_max_is_lossless_with_enough_levels() {
        let mut hist = [0u64; 256];
        for (v, w) in [(0, 1), (10, 2), (200, 1), (255, 1)] {
            hist[v] = w;
        }
        let q = lloyd_max(&hist, 4, 100, 0.0).unwrap();
        assert_eq!(squared_error(&hist, &q), 0);
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

    fn uniform16_error(hist: &[u64], levels: u32) -> u128 {
        hist.iter()
            .enumerate()
            .map(|(x, &h)| {
                let v = uniform16::value_of(uniform16::index_of(x as u16, levels), levels, Reconstruction::Midpoint);
                let d = x as i64 - v as i64;
                h as u128 * (d * d) as u128
            })
            .sum()
    }

    fn error16(hist: &[u64], q: &ScalarQuantizer16) -> u128 {
        hist.iter()
            .enumerate()
            .map(|(x, &h)| {
                let d = x as i64 - q.codebook[q.index[x] as usize] as i64;
                h as u128 * (d * d) as u128
            })
            .sum()
    }

    #[test]
    fn lloyd_max16_never_loses_to_uniform_and_is_lossless_when_it_can_be() {
        let mut s = 7u64;
        let mut hist = vec![0u64; 65536];
        for _ in 0..5000 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Two clumps and a thin spread: a skewed 16-bit histogram.
            let v = match s >> 62 {
                0 => 1000 + (s >> 40) % 3000,
                1 => 50000 + (s >> 40) % 200,
                _ => (s >> 16) % 65536,
            };
            hist[v as usize] += 1 + (s >> 8) % 4;
        }
        for levels in [2u32, 5, 16, 256, 1000] {
            let q = lloyd_max16(&hist, levels, 100, 0.0).unwrap();
            assert_eq!(q.codebook.len(), levels as usize);
            assert!(error16(&hist, &q) <= uniform16_error(&hist, levels), "levels {levels}");
            assert!(q.index.windows(2).all(|w| w[0] <= w[1]));
        }
        let occupied = hist.iter().filter(|&&h| h > 0).count() as u32;
        let q = lloyd_max16(&hist, occupied, 10, 0.0).unwrap();
        assert_eq!(error16(&hist, &q), 0);
        assert!(lloyd_max16(&hist, 65537, 10, 0.0).is_err());
        assert!(lloyd_max16(&hist[..256], 4, 10, 0.0).is_err());
    }

    #[test]
    fn mu_law16_matches_the_formula_and_the_8_bit_curve() {
        let q = mu_law16(8, 255.0).unwrap();
        assert!(q.index.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((q.index[0], q.index[65535]), (0, 7));
        // The same curve on the two scales: codewords agree to within the 8-bit rounding.
        let q8 = mu_law(8, 255.0).unwrap();
        for (&a, &b) in q.codebook.iter().zip(&q8.codebook) {
            assert!((a as f64 / 257.0 - b as f64).abs() <= 0.5 + 1e-9, "{a} {b}");
        }
        let mut out = vec![0u16; 3];
        apply_codebooks16(&[0, 7, 3], &mut out, std::slice::from_ref(&q.codebook)).unwrap();
        assert_eq!(out, vec![q.codebook[0], q.codebook[7], q.codebook[3]]);
        assert!(apply_codebooks16(&[8], &mut out[..1], &[q.codebook]).is_err());
    }
}
