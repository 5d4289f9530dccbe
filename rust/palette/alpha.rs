//! RGBA palettes: alpha as a channel of its own, in premultiplied space.
//!
//! A colour `(r, g, b, a)` is the point `(c0 * a, c1 * a, c2 * a, 255 * a)`, where `c` is the colour in the chosen
//! space (the sRGB bytes, or Oklab times 255 as in `color_space`). Euclidean distance there weighs colour error by
//! alpha, as libimagequant does: two invisible pixels are the same point whatever their colour, and a pixel at half
//! alpha pays a quarter of the colour error an opaque one does. Alpha itself counts on the same 0..255 scale as a
//! colour channel. In sRGB every coordinate is an integer below 2^16, so squared distances are exact in f64 and the
//! nearest entry (ties to the lowest index) is exactly a brute-force argmin.
//!
//! The palette: every alpha-0 pixel becomes `(0, 0, 0, 0)`, which gets an entry of its own (index 0) whenever there
//! is one and `k >= 2`; the other `k - 1` entries come from a weighted histogram of the distinct colours (coarsened
//! to cells of 6 bits per channel when there are many), a variance-minimising median cut in 4-D (or k-means++ from a
//! seed), weighted Lloyd iterations, and two exact Lloyd steps on the distinct colours. Entries are sorted by alpha
//! (the transparent one first, so a PNG's `tRNS` chunk stays short). Mapping is exact; error diffusion works in the
//! same 4-D space, on all cores in the strips of `pipeline`, and leaves fully transparent pixels out (they neither
//! take nor pass on error).
//!
//! Determinism: sums run over a fixed chunking and are reduced in chunk order; sorting breaks ties by index.

use crate::alloc::{collect, with_capacity, zeroed};
use crate::bayer::bayer;
use crate::error::{Error, Result};
use crate::palette::color_space::ColorSpace;
use crate::palette::dither::Dither;
use crate::palette::pipeline;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// An RGBA colour (straight, not premultiplied), bytes 0..255.
pub type Rgba = [u8; 4];
/// A point of the premultiplied space.
pub type Point = [f64; 4];

/// Above this many distinct colours the Lloyd iterations run on cells (`CELL_BITS` per channel).
const CELLS_AFTER: usize = 1 << 15;
/// Exact Lloyd steps on the distinct colours after the iterations on cells or colours.
const REFINE_ROUNDS: usize = 2;
/// Points per parallel work item (fixed, so sums do not depend on thread count).
const CHUNK: usize = 4096;
/// Pixels per parallel work item of a remap.
const PIXEL_CHUNK: usize = 1 << 14;

/// The RGBA colour of one pixel of `channels` bytes (2: grey and alpha; 4: RGBA). Alpha 0 is always `(0, 0, 0, 0)`.
#[inline]
pub fn rgba_of(px: &[u8], channels: usize) -> Rgba {
    let c = match (channels, px) {
        (4, [r, g, b, a, ..]) => [*r, *g, *b, *a],
        (2, [v, a, ..]) => [*v, *v, *v, *a],
        (3, [r, g, b, ..]) => [*r, *g, *b, 255],
        (_, [v, ..]) => [*v, *v, *v, 255],
        _ => [0; 4],
    };
    if c[3] == 0 {
        [0; 4]
    } else {
        c
    }
}

/// The premultiplied point of an RGBA colour in `space`.
#[inline]
pub fn point(c: Rgba, space: ColorSpace) -> Point {
    let a = c[3] as f64;
    let p = space.point([c[0], c[1], c[2]].map(f32::from));
    [p[0] as f64 * a, p[1] as f64 * a, p[2] as f64 * a, 255.0 * a]
}

#[inline]
fn dist2(a: &Point, b: &Point) -> f64 {
    let (x, y, z, w) = (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]);
    x * x + y * y + z * z + w * w
}

/// The RGBA bytes nearest (by rounding) to point `p`: alpha first, then the colour `p / alpha`.
pub fn color_of(p: Point, space: ColorSpace, grey: bool) -> Rgba {
    let a = (p[3] / 255.0).round().clamp(0.0, 255.0);
    if a == 0.0 {
        return [0; 4];
    }
    let c = space.to_rgb8([p[0] / a, p[1] / a, p[2] / a].map(|v| v as f32));
    let c = if grey {
        let v = ((c[0] as u32 + c[1] as u32 + c[2] as u32 + 1) / 3) as u8;
        [v; 3]
    } else {
        c
    };
    [c[0], c[1], c[2], a as u8]
}

/// Checks an image of `channels` bytes per pixel for this module: 2 (grey and alpha) or 4 (RGBA), or 1 and 3
/// (opaque) for mapping onto an RGBA palette.
fn check_image(data: &[u8], channels: usize, arg: &'static str) -> Result<()> {
    if !(1..=4).contains(&channels) {
        return Err(Error::value(arg, format!("expected 1..4 channels, got {channels}")));
    }
    if data.is_empty() || !data.len().is_multiple_of(channels) {
        return Err(Error::value(arg, "expected a non-empty image whose length is a multiple of the channel count"));
    }
    Ok(())
}

/// Checks a palette: 1..=256 RGBA colours.
pub fn check_palette(palette: &[Rgba]) -> Result<()> {
    if palette.is_empty() || palette.len() > 256 {
        return Err(Error::value("palette", format!("expected 1..256 colours, got {}", palette.len())));
    }
    Ok(())
}

/// Bits per channel of the cells the Lloyd iterations run on when there are many colours.
const CELL_BITS: u32 = 6;
/// The bits of each channel below its cell's.
const LOW_BITS: u32 = 8 - CELL_BITS;

/// The sort key of a colour: the cell (`CELL_BITS` of each channel) in the high bits, the low bits of each channel
/// below, so that a sorted list of keys is sorted by cell too.
#[inline]
fn key_of(c: Rgba) -> u32 {
    let (mut hi, mut lo) = (0u32, 0u32);
    for v in c {
        hi = (hi << CELL_BITS) | (v as u32 >> LOW_BITS);
        lo = (lo << LOW_BITS) | (v as u32 & ((1 << LOW_BITS) - 1));
    }
    (hi << (4 * LOW_BITS)) | lo
}

/// The cell of a key.
#[inline]
fn cell_of_key(k: u32) -> u32 {
    k >> (4 * LOW_BITS)
}

#[inline]
fn color_of_key(k: u32) -> Rgba {
    let (hi, lo) = (cell_of_key(k), k & ((1 << (4 * LOW_BITS)) - 1));
    let ch = |i: u32| {
        let h = (hi >> ((3 - i) * CELL_BITS)) & ((1 << CELL_BITS) - 1);
        let l = (lo >> ((3 - i) * LOW_BITS)) & ((1 << LOW_BITS) - 1);
        ((h << LOW_BITS) | l) as u8
    };
    [ch(0), ch(1), ch(2), ch(3)]
}

/// The distinct colours of a set of images (`(data, channels)`), sorted by key, with their pixel counts.
pub fn distinct_colors(images: &[(&[u8], usize)]) -> Result<Vec<(Rgba, u64)>> {
    let total: usize = images.iter().map(|(d, c)| d.len() / (*c).max(1)).sum();
    let mut keys: Vec<u32> = with_capacity(total)?;
    for &(data, ch) in images {
        check_image(data, ch, "images")?;
        keys.extend(data.chunks_exact(ch).map(|px| key_of(rgba_of(px, ch))));
    }
    keys.par_sort_unstable();
    let mut out: Vec<(Rgba, u64)> = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let k = keys[i];
        let mut j = i + 1;
        while j < keys.len() && keys[j] == k {
            j += 1;
        }
        crate::alloc::reserve(&mut out, 1)?;
        out.push((color_of_key(k), (j - i) as u64));
        i = j;
    }
    Ok(out)
}

/// How the clustering starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeding {
    /// Variance-minimising median cut (deterministic).
    MedianCut,
    /// k-means++ from a seed: each next centre drawn with probability proportional to weight times squared distance.
    KmeansPlusPlus,
}

/// Options of `palette`.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Palette size, 1..=256.
    pub k: usize,
    /// Where colour distances are measured.
    pub space: ColorSpace,
    /// The seeding.
    pub seeding: Seeding,
    /// Seed of the k-means++ sampling.
    pub seed: u64,
    /// The seeding alone (no Lloyd iterations).
    pub median_cut_only: bool,
    /// At most this many Lloyd iterations.
    pub max_iter: u32,
    /// Stop once no centre moves more than this (0..255 units of the space, times 255 as the points are).
    pub tol: f64,
}

/// An RGBA palette of at most `params.k` colours for a set of images (`(data, channels)` with 2 or 4 channels; 1
/// and 3 count as opaque). Fewer only when the images hold fewer distinct colours; then they are those colours.
/// Grey-and-alpha images (every image with 2 channels) give grey entries.
pub fn palette(images: &[(&[u8], usize)], params: &Params) -> Result<Vec<Rgba>> {
    if !(1..=256).contains(&params.k) {
        return Err(Error::value("k", format!("expected 1..256 for an RGBA palette, got {}", params.k)));
    }
    if images.is_empty() {
        return Err(Error::value("images", "expected at least one image"));
    }
    if !(params.tol >= 0.0 && params.tol.is_finite()) {
        return Err(Error::value("tol", format!("expected a finite number >= 0, got {}", params.tol)));
    }
    let grey = images.iter().all(|(_, c)| *c <= 2);
    let space = params.space;
    let mut colours = distinct_colors(images)?;
    let transparent = colours.first().is_some_and(|(c, _)| *c == [0; 4]);
    let k = params.k;
    if colours.len() <= k {
        let mut pal: Vec<Rgba> = colours.iter().map(|(c, _)| *c).collect();
        sort_by_alpha(&mut pal);
        return Ok(pal);
    }
    // The transparent entry is reserved (k >= 2): the other entries cluster the visible colours.
    let reserve = transparent && k >= 2;
    if reserve {
        colours.remove(0);
    }
    let kk = if reserve { k - 1 } else { k };
    let mut pal: Vec<Rgba> = if colours.len() <= kk {
        colours.iter().map(|(c, _)| *c).collect()
    } else {
        let (points, weights) =
            if colours.len() > CELLS_AFTER { cells(&colours, space)? } else { exact(&colours, space)? };
        let (mut centers, labels) = match params.seeding {
            Seeding::MedianCut => median_cut(&points, &weights, kk)?,
            Seeding::KmeansPlusPlus => kmeans_plus_plus(&points, &weights, kk, params.seed)?,
        };
        if !params.median_cut_only {
            centers = lloyd(&points, &weights, centers, &labels, params.max_iter, params.tol * 255.0)?;
        }
        let mut pal: Vec<Rgba> = centers.iter().map(|&p| color_of(p, space, grey)).collect();
        if !params.median_cut_only && params.max_iter > 0 {
            for _ in 0..REFINE_ROUNDS {
                pal = refine(&colours, &pal, space, grey)?;
            }
        }
        pal
    };
    if reserve {
        pal.insert(0, [0; 4]);
    }
    sort_by_alpha(&mut pal);
    Ok(pal)
}

/// Transparent `(0, 0, 0, 0)` first, then by increasing alpha (stable).
fn sort_by_alpha(pal: &mut [Rgba]) {
    pal.sort_by_key(|c| (*c != [0; 4], c[3]));
}

fn exact(colours: &[(Rgba, u64)], space: ColorSpace) -> Result<(Vec<Point>, Vec<f64>)> {
    let points = collect(colours.iter().map(|&(c, _)| point(c, space)))?;
    let weights = collect(colours.iter().map(|&(_, n)| n as f64))?;
    Ok((points, weights))
}

/// The mean point and count of each cell (the colours are sorted by key, so a cell is a run).
fn cells(colours: &[(Rgba, u64)], space: ColorSpace) -> Result<(Vec<Point>, Vec<f64>)> {
    let (mut points, mut weights): (Vec<Point>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < colours.len() {
        let cell = cell_of_key(key_of(colours[i].0));
        let (mut s, mut n) = ([0.0f64; 4], 0.0f64);
        while i < colours.len() && cell_of_key(key_of(colours[i].0)) == cell {
            let (c, w) = colours[i];
            let p = point(c, space);
            for t in 0..4 {
                s[t] += p[t] * w as f64;
            }
            n += w as f64;
            i += 1;
        }
        crate::alloc::reserve(&mut points, 1)?;
        crate::alloc::reserve(&mut weights, 1)?;
        points.push(s.map(|v| v / n));
        weights.push(n);
    }
    Ok((points, weights))
}

/// Weighted sum of squared distances to the mean of `idx`'s points.
fn sse_of(points: &[Point], weights: &[f64], idx: &[u32]) -> f64 {
    let (mut w, mut s, mut q) = (0.0, [0.0f64; 4], 0.0);
    for &i in idx {
        let (p, wi) = (points[i as usize], weights[i as usize]);
        w += wi;
        for t in 0..4 {
            s[t] += wi * p[t];
            q += wi * p[t] * p[t];
        }
    }
    if w <= 0.0 {
        return 0.0;
    }
    (q - s.iter().map(|v| v * v).sum::<f64>() / w).max(0.0)
}

fn mean_of(points: &[Point], weights: &[f64], idx: &[u32]) -> Point {
    let (mut w, mut s) = (0.0, [0.0f64; 4]);
    for &i in idx {
        let (p, wi) = (points[i as usize], weights[i as usize]);
        w += wi;
        for t in 0..4 {
            s[t] += wi * p[t];
        }
    }
    if w > 0.0 {
        s.map(|v| v / w)
    } else {
        s
    }
}

/// Variance-minimising median cut in 4-D: the box with the largest weighted squared error is split along its axis of
/// largest variance, where the two halves' errors sum least. Returns `k` centres (fewer only with fewer points) and
/// each point's box.
fn median_cut(points: &[Point], weights: &[f64], k: usize) -> Result<(Vec<Point>, Vec<u16>)> {
    let n = points.len();
    let mut order: Vec<u32> = collect(0..n as u32)?;
    // Boxes as (start, end, sse) ranges of `order`.
    let mut boxes: Vec<(usize, usize, f64)> = vec![(0, n, sse_of(points, weights, &order))];
    let mut pre: Vec<(f64, [f64; 4], f64)> = with_capacity(n + 1)?;
    while boxes.len() < k {
        let Some((bi, _)) = boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.1 - b.0 >= 2 && b.2 > 0.0)
            .max_by(|a, b| a.1 .2.total_cmp(&b.1 .2).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        let (s, e, _) = boxes[bi];
        let idx = &mut order[s..e];
        // The axis of largest weighted variance.
        let m = mean_of(points, weights, idx);
        let mut var = [0.0f64; 4];
        for &i in idx.iter() {
            let p = points[i as usize];
            for t in 0..4 {
                var[t] += weights[i as usize] * (p[t] - m[t]).powi(2);
            }
        }
        let axis = (0..4).max_by(|&a, &b| var[a].total_cmp(&var[b]).then(b.cmp(&a))).unwrap_or(0);
        idx.sort_unstable_by(|&a, &b| points[a as usize][axis].total_cmp(&points[b as usize][axis]).then(a.cmp(&b)));
        // Prefix sums: weight, weighted coordinates, weighted squared norms.
        pre.clear();
        pre.push((0.0, [0.0; 4], 0.0));
        for &i in idx.iter() {
            let (p, w) = (points[i as usize], weights[i as usize]);
            let last = pre[pre.len() - 1];
            let mut sx = last.1;
            let mut q = last.2;
            for t in 0..4 {
                sx[t] += w * p[t];
                q += w * p[t] * p[t];
            }
            pre.push((last.0 + w, sx, q));
        }
        let total = pre[pre.len() - 1];
        let sse =
            |w: f64, sx: &[f64; 4], q: f64| if w > 0.0 { q - sx.iter().map(|v| v * v).sum::<f64>() / w } else { 0.0 };
        let mut best = (f64::INFINITY, 1usize);
        for cut in 1..idx.len() {
            // Only cut between different values along the axis.
            let (a, b) = (points[idx[cut - 1] as usize][axis], points[idx[cut] as usize][axis]);
            if a == b {
                continue;
            }
            let l = pre[cut];
            let r = (total.0 - l.0, [0, 1, 2, 3].map(|t| total.1[t] - l.1[t]), total.2 - l.2);
            let v = sse(l.0, &l.1, l.2) + sse(r.0, &r.1, r.2);
            if v < best.0 {
                best = (v, cut);
            }
        }
        if !best.0.is_finite() {
            // Every point of the box has the same value on its widest axis: split in the middle of the order.
            best.1 = idx.len() / 2;
        }
        let cut = s + best.1;
        let left = sse_of(points, weights, &order[s..cut]);
        let right = sse_of(points, weights, &order[cut..e]);
        boxes[bi] = (s, cut, left);
        boxes.push((cut, e, right));
    }
    let mut labels = zeroed::<u16>(n)?;
    let mut centers = with_capacity(boxes.len())?;
    for (b, &(s, e, _)) in boxes.iter().enumerate() {
        centers.push(mean_of(points, weights, &order[s..e]));
        for &i in &order[s..e] {
            if let Some(l) = labels.get_mut(i as usize) {
                *l = b as u16;
            }
        }
    }
    Ok((centers, labels))
}

/// SplitMix64, for the k-means++ draws (the same numbers on every platform).
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The first index where the running sum of `w` exceeds `target` (the last positive one if rounding runs past).
fn draw(w: &[f64], target: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &x) in w.iter().enumerate() {
        if x > 0.0 {
            last = i;
            acc += x;
            if acc > target {
                return i;
            }
        }
    }
    last
}

/// Weighted k-means++ seeding in 4-D from `seed`. Returns the centres (fewer than `k` only when every point is
/// covered) and each point's nearest centre.
fn kmeans_plus_plus(points: &[Point], weights: &[f64], k: usize, seed: u64) -> Result<(Vec<Point>, Vec<u16>)> {
    let n = points.len();
    let mut labels = zeroed::<u16>(n)?;
    let mut centers: Vec<Point> = with_capacity(k)?;
    if n == 0 || k == 0 {
        return Ok((centers, labels));
    }
    let mut rng = SplitMix(seed ^ 0x5146_4153_545F_4150);
    let total: f64 = weights.iter().sum();
    centers.push(points[draw(weights, rng.next_f64() * total)]);
    let mut d2: Vec<f64> = collect(points.iter().map(|p| dist2(p, &centers[0])))?;
    let mut wd: Vec<f64> = collect(d2.iter().zip(weights).map(|(d, w)| d * w))?;
    while centers.len() < k {
        let pot: f64 = wd.iter().sum();
        if pot <= 0.0 {
            break;
        }
        let c = points[draw(&wd, rng.next_f64() * pot)];
        let ci = centers.len() as u16;
        centers.push(c);
        d2.par_chunks_mut(CHUNK)
            .zip(wd.par_chunks_mut(CHUNK))
            .zip(points.par_chunks(CHUNK).zip(weights.par_chunks(CHUNK)))
            .zip(labels.par_chunks_mut(CHUNK))
            .for_each(|(((d, wdc), (p, w)), lab)| {
                for i in 0..p.len() {
                    let nd = dist2(&p[i], &c);
                    if nd < d[i] {
                        d[i] = nd;
                        lab[i] = ci;
                    }
                    wdc[i] = w[i] * d[i];
                }
            });
    }
    Ok((centers, labels))
}

/// The nearest centre of `p` (lowest index on ties) by brute force.
#[inline]
fn nearest_brute(p: &Point, centers: &[Point]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centers.iter().enumerate() {
        let d = dist2(p, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// Weighted Lloyd iterations from `centers`. A point stays in its cluster without a search when it is within half
/// the distance from its centre to that centre's nearest other one (no other centre can be nearer). Empty clusters
/// move to the point with the largest weighted error.
fn lloyd(
    points: &[Point],
    weights: &[f64],
    mut centers: Vec<Point>,
    labels: &[u16],
    max_iter: u32,
    tol: f64,
) -> Result<Vec<Point>> {
    let k = centers.len();
    let n = points.len();
    if k == 0 || n == 0 {
        return Ok(centers);
    }
    let mut assign: Vec<u16> = if labels.len() == n { collect(labels.iter().copied())? } else { zeroed(n)? };
    for _ in 0..max_iter {
        let half: Vec<f64> = (0..k)
            .map(|a| {
                let m =
                    (0..k).filter(|&j| j != a).map(|j| dist2(&centers[a], &centers[j])).fold(f64::INFINITY, f64::min);
                0.25 * m // (half the distance)^2
            })
            .collect();
        let cref = &centers;
        let parts: Vec<(Vec<[f64; 5]>, usize)> = points
            .par_chunks(CHUNK)
            .zip(weights.par_chunks(CHUNK))
            .zip(assign.par_chunks_mut(CHUNK))
            .map(|((p, w), a)| {
                let mut sums = vec![[0.0f64; 5]; k];
                let mut changed = 0;
                for i in 0..p.len() {
                    let ai = a[i] as usize;
                    let d = dist2(&p[i], &cref[ai]);
                    if d > half[ai] {
                        let (b, db) = nearest_brute(&p[i], cref);
                        if b != ai && db < d {
                            a[i] = b as u16;
                            changed += 1;
                        }
                    }
                    let s = &mut sums[a[i] as usize];
                    s[0] += w[i];
                    for t in 0..4 {
                        s[t + 1] += w[i] * p[i][t];
                    }
                }
                (sums, changed)
            })
            .collect();
        let mut sums = vec![[0.0f64; 5]; k];
        let mut changed = 0;
        for (s, c) in &parts {
            changed += c;
            for (a, b) in sums.iter_mut().zip(s) {
                for t in 0..5 {
                    a[t] += b[t];
                }
            }
        }
        let mut moved = 0.0f64;
        for c in 0..k {
            let s = sums[c];
            let new = if s[0] > 0.0 {
                [s[1] / s[0], s[2] / s[0], s[3] / s[0], s[4] / s[0]]
            } else {
                let far = (0..n)
                    .max_by(|&i, &j| {
                        let ei = weights[i] * dist2(&points[i], &centers[assign[i] as usize]);
                        let ej = weights[j] * dist2(&points[j], &centers[assign[j] as usize]);
                        ei.total_cmp(&ej).then(j.cmp(&i))
                    })
                    .unwrap_or(0);
                assign[far] = c as u16;
                points[far]
            };
            moved = moved.max(dist2(&new, &centers[c]).sqrt());
            centers[c] = new;
        }
        if changed == 0 || moved <= tol {
            break;
        }
    }
    Ok(centers)
}

/// The exact Lloyd step: each distinct colour to its nearest entry (exact), each entry to the mean of its colours
/// (entries without colours stay).
fn refine(colours: &[(Rgba, u64)], pal: &[Rgba], space: ColorSpace, grey: bool) -> Result<Vec<Rgba>> {
    let nearest = Nearest::new(pal, space)?;
    let k = pal.len();
    let parts: Vec<Vec<[f64; 5]>> = colours
        .par_chunks(CHUNK)
        .map(|cs| {
            let mut s = vec![[0.0f64; 5]; k];
            for &(c, n) in cs {
                let p = point(c, space);
                if let Some(e) = s.get_mut(nearest.nearest(&p) as usize) {
                    e[0] += n as f64;
                    for t in 0..4 {
                        e[t + 1] += n as f64 * p[t];
                    }
                }
            }
            s
        })
        .collect();
    let mut sums = vec![[0.0f64; 5]; k];
    for p in parts {
        for (a, b) in sums.iter_mut().zip(p) {
            for t in 0..5 {
                a[t] += b[t];
            }
        }
    }
    Ok(pal
        .iter()
        .zip(&sums)
        .map(
            |(&c, s)| {
                if s[0] == 0.0 {
                    c
                } else {
                    color_of([s[1] / s[0], s[2] / s[0], s[3] / s[0], s[4] / s[0]], space, grey)
                }
            },
        )
        .collect())
}

/// Exact nearest entry of an RGBA palette: the entries sorted along the coordinate on which they spread most, and a
/// search outwards from the query's position that stops on each side once that coordinate alone is farther than
/// the best distance so far. Ties go to the lowest index, as a brute-force argmin.
pub struct Nearest {
    space: ColorSpace,
    points: Vec<Point>,
    axis: usize,
    /// `(coordinate on axis, index)`, sorted.
    sorted: Vec<(f64, u16)>,
}

impl Nearest {
    /// A searcher for `palette` (1..=256 colours) in `space`.
    pub fn new(palette: &[Rgba], space: ColorSpace) -> Result<Self> {
        check_palette(palette)?;
        let points: Vec<Point> = palette.iter().map(|&c| point(c, space)).collect();
        let n = points.len() as f64;
        let axis = (0..4)
            .max_by(|&a, &b| {
                let var = |t: usize| {
                    let m = points.iter().map(|p| p[t]).sum::<f64>() / n;
                    points.iter().map(|p| (p[t] - m).powi(2)).sum::<f64>()
                };
                var(a).total_cmp(&var(b)).then(b.cmp(&a))
            })
            .unwrap_or(0);
        let mut sorted: Vec<(f64, u16)> = points.iter().enumerate().map(|(i, p)| (p[axis], i as u16)).collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(Nearest { space, points, axis, sorted })
    }

    /// The palette's points.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The index of the entry nearest to point `q` (lowest index on ties).
    pub fn nearest(&self, q: &Point) -> u8 {
        let x = q[self.axis];
        let start = self.sorted.partition_point(|e| e.0 < x);
        let mut best = (f64::INFINITY, u16::MAX);
        let consider = |best: &mut (f64, u16), i: u16| {
            if let Some(p) = self.points.get(i as usize) {
                let d = dist2(q, p);
                if d < best.0 || (d == best.0 && i < best.1) {
                    *best = (d, i);
                }
            }
        };
        let (mut lo, mut hi) = (start, start);
        let (mut lo_open, mut hi_open) = (true, true);
        while lo_open || hi_open {
            if hi_open {
                match self.sorted.get(hi) {
                    Some(&(v, i)) if (v - x) * (v - x) <= best.0 => {
                        consider(&mut best, i);
                        hi += 1;
                    }
                    _ => hi_open = false,
                }
            }
            if lo_open {
                match lo.checked_sub(1).and_then(|j| self.sorted.get(j)) {
                    Some(&(v, i)) if (v - x) * (v - x) <= best.0 => {
                        consider(&mut best, i);
                        lo -= 1;
                    }
                    _ => lo_open = false,
                }
            }
        }
        let best_i = best.1;
        if best_i == u16::MAX {
            0
        } else {
            best_i as u8
        }
    }

    /// The index of the entry nearest to the colour `c`.
    pub fn nearest_color(&self, c: Rgba) -> u8 {
        self.nearest(&point(c, self.space))
    }
}

/// Palette indices of an image (`channels` bytes per pixel, `width` pixels per row) on an RGBA palette. Images
/// without alpha (1 or 3 channels) count as opaque.
pub fn remap(
    data: &[u8],
    channels: usize,
    width: usize,
    palette: &[Rgba],
    space: ColorSpace,
    dither: Dither,
) -> Result<Vec<u8>> {
    check_image(data, channels, "image")?;
    let n = data.len() / channels;
    if width == 0 || !n.is_multiple_of(width) {
        return Err(Error::value("image", format!("{n} pixels do not fill rows of width {width}")));
    }
    let nearest = Nearest::new(palette, space)?;
    match dither {
        Dither::None => remap_exact(data, channels, &nearest),
        Dither::FloydSteinberg => diffuse(data, channels, width, &nearest, &FLOYD_STEINBERG, 16.0),
        Dither::Atkinson => diffuse(data, channels, width, &nearest, &ATKINSON, 8.0),
        Dither::Bayer4 => ordered(data, channels, width, &nearest, 4),
        Dither::Bayer8 => ordered(data, channels, width, &nearest, 8),
    }
}

fn remap_exact(data: &[u8], ch: usize, nearest: &Nearest) -> Result<Vec<u8>> {
    let mut out = zeroed::<u8>(data.len() / ch)?;
    out.par_chunks_mut(PIXEL_CHUNK).zip(data.par_chunks(PIXEL_CHUNK * ch)).for_each(|(o, d)| {
        let mut last: Option<(Rgba, u8)> = None;
        for (oi, px) in o.iter_mut().zip(d.chunks_exact(ch)) {
            let c = rgba_of(px, ch);
            let i = match last {
                Some((lc, li)) if lc == c => li,
                _ => nearest.nearest_color(c),
            };
            last = Some((c, i));
            *oi = i;
        }
    });
    Ok(out)
}

type Kernel = [(isize, usize, f64)];
const FLOYD_STEINBERG: [(isize, usize, f64); 4] = [(1, 0, 7.0), (-1, 1, 3.0), (0, 1, 5.0), (1, 1, 1.0)];
const ATKINSON: [(isize, usize, f64); 6] =
    [(1, 0, 1.0), (2, 0, 1.0), (-1, 1, 1.0), (0, 1, 1.0), (1, 1, 1.0), (0, 2, 1.0)];

/// Keeps a point inside the premultiplied space: alpha in 0..255 (times 255), sRGB colour in 0..alpha; in Oklab the
/// lightness in 0..alpha and the other two within +-alpha.
fn clamp_point(q: &mut Point, space: ColorSpace) {
    q[3] = q[3].clamp(0.0, 65025.0);
    let a = q[3];
    match space {
        ColorSpace::Rgb => {
            for v in q.iter_mut().take(3) {
                *v = v.clamp(0.0, a);
            }
        }
        ColorSpace::Oklab => {
            q[0] = q[0].clamp(0.0, a);
            q[1] = q[1].clamp(-a, a);
            q[2] = q[2].clamp(-a, a);
        }
    }
}

/// Error diffusion in premultiplied space, on all the pool's threads in the strips of `pipeline`, with the result
/// of the plain sequential loop bit for bit (the test's `sequential`).
fn diffuse(data: &[u8], ch: usize, width: usize, nearest: &Nearest, kernel: &Kernel, divisor: f64) -> Result<Vec<u8>> {
    let threads = rayon::current_num_threads();
    diffuse_in(data, ch, width, nearest, kernel, divisor, threads, pipeline::strip_for(threads))
}

/// `diffuse` on `threads` tasks, in strips `strip` columns wide. The error is kept as in `dither.rs` (shares from
/// the rows above in `below`, from the same row apart in `own`, so they are added in the sequential order); a fully
/// transparent pixel takes the transparent entry and passes no error on, as in the sequential loop, where its
/// shares were never made: it marks its same-row slots `NONE` and only clears its own slot.
#[allow(clippy::too_many_arguments)]
fn diffuse_in(
    data: &[u8],
    ch: usize,
    width: usize,
    nearest: &Nearest,
    kernel: &Kernel,
    divisor: f64,
    threads: usize,
    strip: usize,
) -> Result<Vec<u8>> {
    /// An empty same-row slot (a NaN no share can be).
    const NONE: u64 = u64::MAX;
    let space = nearest.space;
    let clear = nearest.points.iter().position(|p| p[3] == 0.0);
    let height = data.len() / ch / width.max(1);
    let same: Vec<(usize, f64)> = kernel.iter().filter(|t| t.1 == 0).map(|t| (t.0 as usize, t.2)).collect();
    let down: Vec<(isize, usize, f64)> = kernel.iter().copied().filter(|t| t.1 > 0).collect();
    let below: Vec<[AtomicU64; 4]> = collect((0..pipeline::RING * width).map(|_| Default::default()))?;
    let own: Vec<[AtomicU64; 4]> = collect((0..pipeline::RING * 2 * width).map(|_| Default::default()))?;
    let load = |a: &[AtomicU64; 4]| a.each_ref().map(|t| f64::from_bits(t.load(Ordering::Relaxed)));
    let store = |a: &[AtomicU64; 4], v: [f64; 4]| {
        for t in 0..4 {
            a[t].store(v[t].to_bits(), Ordering::Relaxed);
        }
    };
    let row = |y: usize, x0: usize, o: &mut [u8]| {
        let src = data.get(y * width * ch..(y + 1) * width * ch).unwrap_or_default();
        let (bel, own_row) = ((y % pipeline::RING) * width, (y % pipeline::RING) * 2 * width);
        for (x, oi) in (x0..).zip(o.iter_mut()) {
            let c = rgba_of(src.get(x * ch..(x + 1) * ch).unwrap_or(&[0, 0, 0, 0]), ch);
            // The slot is read once, then zeroed for the row that uses it next.
            let mut e = below.get(bel + x).map_or([0.0; 4], |s| {
                let e = load(s);
                store(s, [0.0; 4]);
                e
            });
            if let (0, Some(t)) = (c[3], clear) {
                // Fully transparent: the transparent entry, and the error stops here.
                *oi = t as u8;
                for &(d, _) in &same {
                    if let Some(s) = own.get(own_row + 2 * (x + d) + d - 1) {
                        s.iter().for_each(|v| v.store(NONE, Ordering::Relaxed));
                    }
                }
                continue;
            }
            for d in [2, 1] {
                if x >= d && same.iter().any(|s| s.0 == d) {
                    if let Some(s) = own.get(own_row + 2 * x + d - 1) {
                        if s[0].load(Ordering::Relaxed) != NONE {
                            let s = load(s);
                            for t in 0..4 {
                                e[t] += s[t];
                            }
                        }
                    }
                }
            }
            let mut q = point(c, space);
            for t in 0..4 {
                q[t] += e[t];
            }
            clamp_point(&mut q, space);
            let i = nearest.nearest(&q);
            *oi = i;
            let p = nearest.points.get(i as usize).copied().unwrap_or_default();
            let d = [0, 1, 2, 3].map(|t| (q[t] - p[t]) / divisor);
            for &(dx, w) in &same {
                if x + dx < width {
                    if let Some(s) = own.get(own_row + 2 * (x + dx) + dx - 1) {
                        store(s, d.map(|v| v * w));
                    }
                }
            }
            for &(dx, dy, w) in &down {
                let tx = x as isize + dx;
                if tx < 0 || tx as usize >= width || y + dy >= height {
                    // Error pushed past the edges never comes back: the edges absorb it.
                    continue;
                }
                if let Some(slot) = below.get(((y + dy) % pipeline::RING) * width + tx as usize) {
                    let old = load(slot);
                    store(slot, [0, 1, 2, 3].map(|t| old[t] + d[t] * w));
                }
            }
        }
    };
    let mut out = zeroed::<u8>(data.len() / ch)?;
    pipeline::run(&mut out, width, threads, strip, &row)?;
    Ok(out)
}

/// The palette's typical spacing: over the entries, the mean of the largest per-coordinate difference to the
/// nearest other entry (0 for one entry), in point units.
fn spacing(points: &[Point]) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let total: f64 = points
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            points
                .iter()
                .enumerate()
                .filter(|&(j, b)| j != i && b != a)
                .min_by(|x, y| dist2(a, x.1).total_cmp(&dist2(a, y.1)))
                .map(|(_, b)| (0..4).map(|t| (a[t] - b[t]).abs()).fold(0.0, f64::max))
        })
        .sum();
    total / points.len() as f64
}

/// Ordered dithering: a Bayer threshold, scaled by the palette's spacing (in point units, so already premultiplied),
/// added to the colour coordinates and to alpha where it is strictly between 0 and 255; then the exact nearest.
fn ordered(data: &[u8], ch: usize, width: usize, nearest: &Nearest, n: usize) -> Result<Vec<u8>> {
    let space = nearest.space;
    let m = bayer(n);
    let s = spacing(&nearest.points);
    let offs: Vec<f64> = m.iter().map(|&v| ((v as f64 + 0.5) / (n * n) as f64 - 0.5) * s).collect();
    let mut out = zeroed::<u8>(data.len() / ch)?;
    out.par_chunks_mut(width).zip(data.par_chunks(width * ch)).enumerate().for_each(|(y, (o, row))| {
        for (x, (oi, px)) in o.iter_mut().zip(row.chunks_exact(ch)).enumerate() {
            let c = rgba_of(px, ch);
            let mut q = point(c, space);
            if c[3] > 0 {
                let off = offs.get((y % n) * n + x % n).copied().unwrap_or(0.0);
                for v in q.iter_mut().take(3) {
                    *v += off;
                }
                if c[3] < 255 {
                    q[3] += off;
                }
                clamp_point(&mut q, space);
            }
            *oi = nearest.nearest(&q);
        }
    });
    Ok(out)
}

/// The palette and the indices of one image, in one call.
pub fn quantize(
    data: &[u8],
    channels: usize,
    width: usize,
    params: &Params,
    dither: Dither,
) -> Result<(Vec<Rgba>, Vec<u8>)> {
    let pal = palette(&[(data, channels)], params)?;
    let idx = remap(data, channels, width, &pal, params.space, dither)?;
    Ok((pal, idx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    fn params(k: usize) -> Params {
        Params {
            k,
            space: ColorSpace::Rgb,
            seeding: Seeding::MedianCut,
            seed: 0,
            median_cut_only: false,
            max_iter: 10,
            tol: 0.0,
        }
    }

    #[test]
    fn keys_round_trip() {
        for c in [[0u8, 0, 0, 0], [255, 255, 255, 255], [1, 2, 3, 4], [200, 17, 99, 128]] {
            assert_eq!(color_of_key(key_of(c)), c);
        }
    }

    #[test]
    fn nearest_is_the_brute_force_argmin() {
        let pal: Vec<Rgba> = noise(4 * 200, 3).chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
        let pal = [vec![[0u8; 4], [0, 0, 0, 0]], pal].concat();
        let nr = Nearest::new(&pal, ColorSpace::Rgb).unwrap();
        for px in noise(4 * 5000, 4).chunks(4) {
            let c = rgba_of(px, 4);
            let p = point(c, ColorSpace::Rgb);
            let (b, _) = nearest_brute(&p, nr.points());
            assert_eq!(nr.nearest_color(c) as usize, b, "{c:?}");
        }
    }

    #[test]
    fn transparent_pixels_share_the_reserved_entry() {
        let mut data = noise(4 * 20_000, 5);
        for px in data.chunks_mut(4).step_by(3) {
            px[3] = 0;
        }
        let pal = palette(&[(&data, 4)], &params(16)).unwrap();
        assert_eq!(pal.len(), 16);
        assert_eq!(pal[0], [0, 0, 0, 0]);
        assert_eq!(pal.iter().filter(|c| c[3] == 0).count(), 1);
        let idx = remap(&data, 4, 100, &pal, ColorSpace::Rgb, Dither::FloydSteinberg).unwrap();
        for (px, &i) in data.chunks(4).zip(&idx) {
            if px[3] == 0 {
                assert_eq!(i, 0);
            }
        }
    }

    #[test]
    fn few_colours_come_back_exactly_and_bad_arguments_are_errors() {
        let data = [10u8, 20, 30, 255, 10, 20, 30, 255, 1, 2, 3, 0, 9, 9, 9, 100];
        let pal = palette(&[(&data, 4)], &params(8)).unwrap();
        assert_eq!(pal, vec![[0, 0, 0, 0], [9, 9, 9, 100], [10, 20, 30, 255]]);
        assert!(palette(&[(&data, 4)], &params(0)).unwrap_err().to_string().starts_with("k:"));
        assert!(palette(&[(&data, 4)], &params(257)).unwrap_err().to_string().starts_with("k:"));
        assert!(palette(&[], &params(4)).is_err());
        assert!(remap(&data, 4, 3, &pal, ColorSpace::Rgb, Dither::None).is_err());
        assert!(remap(&data, 4, 2, &[], ColorSpace::Rgb, Dither::None).is_err());
        assert!(Dither::parse("ordered").is_err());
    }

    #[test]
    fn same_palette_on_any_pool() {
        let data = noise(4 * 100_000, 6);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let a = one.install(|| palette(&[(&data, 4)], &params(64))).unwrap();
        let b = three.install(|| palette(&[(&data, 4)], &params(64))).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let pp = Params { seeding: Seeding::KmeansPlusPlus, seed: 7, ..params(64) };
        let a = one.install(|| palette(&[(&data, 4)], &pp)).unwrap();
        assert_eq!(a, three.install(|| palette(&[(&data, 4)], &pp)).unwrap());
        assert_eq!(a.len(), 64);
    }

    /// The plain sequential loop (three rows of error, raster order) the strips must reproduce bit for bit.
    fn sequential(data: &[u8], ch: usize, width: usize, nearest: &Nearest, kernel: &Kernel, divisor: f64) -> Vec<u8> {
        let space = nearest.space;
        let clear = nearest.points.iter().position(|p| p[3] == 0.0);
        let mut out = vec![0u8; data.len() / ch];
        let stride = width + 4;
        let mut err = vec![[0.0f64; 4]; stride * 3];
        for (row, o) in data.chunks_exact(width * ch).zip(out.chunks_exact_mut(width)) {
            for (x, (px, oi)) in row.chunks_exact(ch).zip(o.iter_mut()).enumerate() {
                let c = rgba_of(px, ch);
                if let (0, Some(t)) = (c[3], clear) {
                    // Fully transparent: the transparent entry, and the error stops here.
                    *oi = t as u8;
                    continue;
                }
                let e = err.get(x + 2).copied().unwrap_or_default();
                let mut q = point(c, space);
                for t in 0..4 {
                    q[t] += e[t];
                }
                clamp_point(&mut q, space);
                let i = nearest.nearest(&q);
                *oi = i;
                let p = nearest.points.get(i as usize).copied().unwrap_or_default();
                let d = [0, 1, 2, 3].map(|t| (q[t] - p[t]) / divisor);
                for &(dx, dy, w) in kernel {
                    let at = dy * stride + (x as isize + 2 + dx) as usize;
                    if let Some(slot) = err.get_mut(at) {
                        for t in 0..4 {
                            slot[t] += d[t] * w;
                        }
                    }
                }
            }
            err.copy_within(stride.., 0);
            let n = err.len();
            err[n - stride..].fill([0.0; 4]);
            for r in 0..3 {
                err[r * stride..r * stride + 2].fill([0.0; 4]);
                err[r * stride + width + 2..(r + 1) * stride].fill([0.0; 4]);
            }
        }
        out
    }

    #[test]
    fn strips_are_the_sequential_loop_on_any_pool() {
        let pools: Vec<rayon::ThreadPool> =
            [1, 2, 7].iter().map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()).collect();
        for (w, h, k, ch) in
            [(1, 1, 3, 4), (1, 9, 4, 4), (3, 7, 16, 4), (17, 33, 40, 2), (130, 40, 200, 4), (150, 190, 64, 4)]
        {
            let mut data = noise(w * h * ch, (w * h) as u64);
            // Runs of fully transparent pixels (the error stops there) and of partial alpha.
            for (i, px) in data.chunks_mut(ch).enumerate() {
                if (i / 5) % 4 == 0 {
                    px[ch - 1] = 0;
                }
            }
            let mut pal: Vec<Rgba> = noise(4 * k, 9).chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
            pal[0] = [0, 0, 0, 0];
            for space in [ColorSpace::Rgb, ColorSpace::Oklab] {
                let nearest = Nearest::new(&pal, space).unwrap();
                for (kernel, div) in [(&FLOYD_STEINBERG[..], 16.0), (&ATKINSON[..], 8.0)] {
                    let want = sequential(&data, ch, w, &nearest, kernel, div);
                    for (pool, tasks) in pools.iter().zip([2, 2, 9]) {
                        for strip in [2, 3, 64, w + h] {
                            let got = pool.install(|| diffuse_in(&data, ch, w, &nearest, kernel, div, tasks, strip));
                            assert_eq!(
                                got.unwrap(),
                                want,
                                "{w}x{h}x{ch} k={k} {space:?}, {tasks} tasks, strips of {strip}"
                            );
                        }
                    }
                }
            }
        }
    }
}
