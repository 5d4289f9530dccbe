//! Seeding the palette search: variance-minimising median cut and k-means++ on weighted points.
//!
//! Both work on the points of a colour histogram (cell means in the chosen colour space) with their pixel counts as
//! weights. Determinism: the seeding loops run over a fixed chunking (`POINT_CHUNK`) and reduce in chunk order, and
//! the random numbers come from a seeded SplitMix64, so the same seed gives the same centres whatever the thread
//! count.

use crate::alloc::{collect, filled, zeroed};
use crate::error::Result;
use rayon::prelude::*;

/// Points per parallel work item in the Lloyd and seeding loops. Fixed, so results do not depend on thread count.
pub(crate) const POINT_CHUNK: usize = 2048;

#[inline(always)]
pub(crate) fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// SplitMix64: a small, well-mixed, seedable generator (the same numbers on every platform).
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The index `i` where the running sum of `w` first exceeds `target` (clamped to the last positive weight).
fn sample(w: &[f64], block_sums: &[f64], block: usize, target: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (b, &s) in block_sums.iter().enumerate() {
        if s > 0.0 {
            last = b;
        }
        if acc + s > target && s > 0.0 {
            let start = b * block;
            let end = (start + block).min(w.len());
            let mut lasti = start;
            for (i, &x) in w[start..end].iter().enumerate() {
                if x > 0.0 {
                    lasti = start + i;
                }
                acc += x;
                if acc > target && x > 0.0 {
                    return start + i;
                }
            }
            return lasti;
        }
        acc += s;
    }
    // Rounding left the target past the end: the last point with weight.
    let start = last * block;
    let end = (start + block).min(w.len());
    (start..end).rev().find(|&i| w[i] > 0.0).unwrap_or(start)
}

/// k-means++ seeding on weighted points: each next centre is drawn with probability proportional to weight times
/// squared distance to the nearest centre so far. Returns fewer than `k` centres only when all points are covered.
pub fn kmeans_plus_plus(points: &[[f32; 3]], weights: &[f64], k: usize, seed: u64) -> Result<Vec<[f32; 3]>> {
    Ok(kmeans_plus_plus_labels(points, weights, k, seed)?.0)
}

/// `kmeans_plus_plus`, and each point's nearest centre.
pub fn kmeans_plus_plus_labels(
    points: &[[f32; 3]],
    weights: &[f64],
    k: usize,
    seed: u64,
) -> Result<(Vec<[f32; 3]>, Vec<u16>)> {
    let n = points.len();
    let mut labels = zeroed::<u16>(n)?;
    if n == 0 || k == 0 {
        return Ok((Vec::new(), labels));
    }
    let mut rng = SplitMix(seed ^ 0x5146_4153_545F_504C);
    let nblocks = n.div_ceil(POINT_CHUNK);
    let total: f64 = weights.iter().sum();
    let wsums: Vec<f64> = weights.chunks(POINT_CHUNK).map(|c| c.iter().sum()).collect();
    let first = sample(weights, &wsums, POINT_CHUNK, rng.next_f64() * total);
    let mut centers = vec![points[first]];
    let mut d2: Vec<f32> = filled(n, f32::INFINITY)?;
    let mut wd: Vec<f64> = zeroed(n)?;
    let mut block_sums = vec![0.0f64; nblocks];
    while centers.len() < k {
        let c = centers[centers.len() - 1];
        let ci = (centers.len() - 1) as u16;
        d2.par_chunks_mut(POINT_CHUNK)
            .zip(wd.par_chunks_mut(POINT_CHUNK))
            .zip(points.par_chunks(POINT_CHUNK).zip(weights.par_chunks(POINT_CHUNK)))
            .zip(block_sums.par_iter_mut().zip(labels.par_chunks_mut(POINT_CHUNK)))
            .for_each(|(((d, wdc), (p, w)), (bs, lab))| {
                let mut s = 0.0;
                for ((((di, wdi), pi), &wi), li) in d.iter_mut().zip(wdc.iter_mut()).zip(p).zip(w).zip(lab.iter_mut()) {
                    let nd = dist2(pi, &c);
                    if nd < *di {
                        *di = nd;
                        *li = ci;
                    }
                    *wdi = wi * *di as f64;
                    s += *wdi;
                }
                *bs = s;
            });
        let pot: f64 = block_sums.iter().sum();
        if pot <= 0.0 {
            break;
        }
        let i = sample(&wd, &block_sums, POINT_CHUNK, rng.next_f64() * pot);
        centers.push(points[i]);
    }
    // The last centre's distances were not folded in yet.
    if let Some(&c) = centers.last() {
        let ci = (centers.len() - 1) as u16;
        for ((di, li), p) in d2.iter_mut().zip(labels.iter_mut()).zip(points) {
            if dist2(p, &c) < *di {
                *di = dist2(p, &c);
                *li = ci;
            }
        }
    }
    Ok((centers, labels))
}

/// Variance-minimising median cut: repeatedly splits the box of points with the largest weighted squared error,
/// across its widest-variance axis, at the position that minimises the two halves' total squared error (the
/// optimal split along that axis, found with prefix sums). Returns the boxes' weighted means.
pub fn median_cut(points: &[[f32; 3]], weights: &[f64], k: usize) -> Result<Vec<[f32; 3]>> {
    Ok(median_cut_labels(points, weights, k)?.0)
}

/// `median_cut`, and each point's box (a good first assignment for `lloyd`).
pub fn median_cut_labels(points: &[[f32; 3]], weights: &[f64], k: usize) -> Result<(Vec<[f32; 3]>, Vec<u16>)> {
    #[derive(Clone, Copy)]
    struct Box {
        start: usize,
        end: usize,
        sse: f64,
        mean: [f32; 3],
    }
    let stats = |idx: &[u32]| -> (f64, [f64; 3], [f64; 3]) {
        let (mut w, mut s, mut q) = (0.0, [0.0; 3], [0.0; 3]);
        for &i in idx {
            let (p, wi) = (points[i as usize], weights[i as usize]);
            w += wi;
            for c in 0..3 {
                s[c] += wi * p[c] as f64;
                q[c] += wi * (p[c] as f64) * (p[c] as f64);
            }
        }
        (w, s, q)
    };
    let make = |idx: &[u32], start: usize| -> Box {
        let (w, s, q) = stats(idx);
        let sse: f64 = (0..3).map(|c| q[c] - s[c] * s[c] / w.max(1e-300)).sum();
        let mean = [0, 1, 2].map(|c| (s[c] / w.max(1e-300)) as f32);
        Box { start, end: start + idx.len(), sse: sse.max(0.0), mean }
    };
    let n = points.len();
    if n == 0 || k == 0 {
        return Ok((Vec::new(), zeroed(n)?));
    }
    let mut idx: Vec<u32> = collect(0..n as u32)?;
    let mut boxes = vec![make(&idx, 0)];
    // The boxes that can still be split, by error (its non-negative f64 bits order like the values) and, among
    // equals, lowest index first: a heap, so k = 65536 costs k log k here rather than k^2.
    let mut heap = std::collections::BinaryHeap::new();
    let splittable = |b: &Box| b.end - b.start > 1 && b.sse > 0.0;
    if splittable(&boxes[0]) {
        heap.push((boxes[0].sse.to_bits(), std::cmp::Reverse(0usize)));
    }
    let mut prefix: Vec<(f64, [f64; 3], f64)> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    while boxes.len() < k {
        // The box with the largest error that can still be split (ties: the first).
        let Some((_, std::cmp::Reverse(bi))) = heap.pop() else {
            break;
        };
        let b = boxes[bi];
        let part = &mut idx[b.start..b.end];
        let (w, s, q) = stats(part);
        let axis = (0..3)
            .max_by(|&x, &y| (q[x] - s[x] * s[x] / w).total_cmp(&(q[y] - s[y] * s[y] / w)).then(y.cmp(&x)))
            .unwrap_or(0);
        // Sort by (coordinate, index) as one integer key: the f32 bits mapped to an order-preserving u32.
        keys.clear();
        keys.extend(part.iter().map(|&i| {
            let bits = points[i as usize][axis].to_bits();
            let ord = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
            (u64::from(ord) << 32) | u64::from(i)
        }));
        keys.sort_unstable();
        for (p, &key) in part.iter_mut().zip(keys.iter()) {
            *p = key as u32;
        }
        // prefix[t]: weight, weighted sums and weighted squared norms of part[..t].
        prefix.clear();
        let mut acc = (0.0, [0.0; 3], 0.0);
        prefix.push(acc);
        for &i in part.iter() {
            let (p, wi) = (points[i as usize], weights[i as usize]);
            acc.0 += wi;
            for (a, &v) in acc.1.iter_mut().zip(&p) {
                *a += wi * v as f64;
            }
            acc.2 += wi * p.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>();
            prefix.push(acc);
        }
        let sse_of = |a: &(f64, [f64; 3], f64)| -> f64 {
            if a.0 <= 0.0 {
                0.0
            } else {
                a.2 - a.1.iter().map(|v| v * v).sum::<f64>() / a.0
            }
        };
        let full = prefix[prefix.len() - 1];
        let mut best = (f64::INFINITY, 1);
        for (t, &l) in prefix.iter().enumerate().take(part.len()).skip(1) {
            let r = (full.0 - l.0, [0, 1, 2].map(|c| full.1[c] - l.1[c]), full.2 - l.2);
            let e = sse_of(&l) + sse_of(&r);
            if e < best.0 {
                best = (e, t);
            }
        }
        let t = best.1;
        let left = make(&idx[b.start..b.start + t], b.start);
        let right = make(&idx[b.start + t..b.end], b.start + t);
        for (i, b) in [(bi, left), (boxes.len(), right)] {
            if splittable(&b) {
                heap.push((b.sse.to_bits(), std::cmp::Reverse(i)));
            }
        }
        boxes[bi] = left;
        boxes.push(right);
    }
    let mut labels = zeroed::<u16>(n)?;
    for (bi, b) in boxes.iter().enumerate() {
        for &i in &idx[b.start..b.end] {
            if let Some(l) = labels.get_mut(i as usize) {
                *l = bi as u16;
            }
        }
    }
    Ok((boxes.into_iter().map(|b| b.mean).collect(), labels))
}
