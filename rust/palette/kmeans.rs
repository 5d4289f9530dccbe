//! Colour palettes: a weighted colour histogram, median-cut or k-means++ seeding, and weighted Lloyd (k-means)
//! iterations with Hamerly's bounds.
//!
//! Why a histogram: a photo has hundreds of thousands of pixels but far fewer distinct colours at the precision that
//! matters, so clustering a histogram is orders of magnitude less work than clustering pixels. The histogram here is
//! a grid of `2^GRID_BITS` levels per channel (`2^FINE_BITS` for large palettes) in which each occupied cell keeps its
//! pixel count and the exact sum of its pixels, so a cell is represented by its mean colour, not its centre. Moving
//! whole cells between clusters is then the only approximation (the final remap is exact per pixel); with 6 bits a
//! cell is 4 levels wide, with 7 bits 2.
//!
//! Determinism: everything that depends on thread scheduling is an integer sum (the histogram) or is computed over a
//! fixed chunking and reduced in chunk order (the Lloyd sums), so the same seed gives the same palette whatever the
//! thread count.

use crate::colorspace::ColorSpace;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::cell::RefCell;

/// Bits per channel of the histogram grid.
pub const GRID_BITS: u32 = 6;
/// Cells in the histogram grid.
pub const GRID_CELLS: usize = 1 << (3 * GRID_BITS);
/// Bits per channel of the finer histogram grid used for large palettes (from `FINE_K` colours).
pub const FINE_BITS: u32 = 7;
/// Palettes of this many colours and more cluster the finer histogram: at k = 256 a 4-level cell is as wide as a
/// cluster, and the 2-level grid gains about 0.07 dB on Kodak (it costs more cells to cluster).
pub const FINE_K: usize = 128;
/// Lloyd rounds on the fine grid after converging on the coarse one.
const FINE_ITERS: u32 = 5;
/// Points per parallel work item in the Lloyd and seeding loops. Fixed, so results do not depend on thread count.
const POINT_CHUNK: usize = 2048;
/// Pixels per histogram work item (at most, so that per-chunk u32 sums cannot overflow: 2^22 * 255 < 2^32).
const PIXEL_CHUNK: usize = 1 << 22;
/// Pixels (about) that `refine_on_pixels` looks at; larger inputs are sampled.
const REFINE_SAMPLE: usize = 1 << 21;
/// Re-sort the centres' neighbour lists once some centre has moved this far (0..255 units) since the last sort.
const REBUILD_DRIFT: f32 = 2.0;
/// How many of each centre's neighbours `lloyd` keeps in order.
const SORTED_NEIGHBOURS: usize = 24;

/// A borrowed interleaved uint8 image: `channels` 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA). Alpha is ignored.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    /// The pixels, `channels` bytes each.
    pub data: &'a [u8],
    /// Bytes per pixel, 1..=4.
    pub channels: usize,
}

impl ImageRef<'_> {
    /// Checks the channel count and length; `arg` names the argument in the error.
    pub fn check(&self, arg: &'static str) -> Result<()> {
        if !(1..=4).contains(&self.channels) {
            return Err(Error::value(arg, format!("expected 1..4 channels, got {}", self.channels)));
        }
        if !self.data.len().is_multiple_of(self.channels) {
            return Err(Error::value(arg, "data length is not a multiple of the channel count"));
        }
        Ok(())
    }

    /// The pixel count.
    pub fn pixels(&self) -> usize {
        self.data.len() / self.channels.max(1)
    }
}

/// The RGB colour of one pixel of `channels` bytes (grey is repeated; alpha is ignored).
#[inline(always)]
pub fn rgb_of(px: &[u8], channels: usize) -> [u8; 3] {
    if channels >= 3 {
        [px[0], px[1], px[2]]
    } else {
        [px[0]; 3]
    }
}

/// The histogram grid cell of a colour.
#[inline(always)]
pub fn cell_of(c: [u8; 3]) -> usize {
    cell_of_bits(c, GRID_BITS)
}

/// The cell of a colour in a grid of `bits` (1..=8) bits per channel.
#[inline(always)]
pub fn cell_of_bits(c: [u8; 3], bits: u32) -> usize {
    let s = 8 - bits;
    ((c[0] as usize >> s) << (2 * bits)) | ((c[1] as usize >> s) << bits) | (c[2] as usize >> s)
}

/// The `GRID_BITS` histogram of a `bits`-bit histogram (`bits >= GRID_BITS`), and for each fine cell the position
/// of its coarse cell in it.
pub fn coarsen(cells: &[Cell], bits: u32) -> (Vec<Cell>, Vec<u32>) {
    let d = bits.saturating_sub(GRID_BITS);
    let m = (1u32 << bits) - 1;
    let mut keyed: Vec<(u32, u32)> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (r, g, b) = (c.index >> (2 * bits), (c.index >> bits) & m, c.index & m);
            (((r >> d) << (2 * GRID_BITS)) | ((g >> d) << GRID_BITS) | (b >> d), i as u32)
        })
        .collect();
    keyed.sort_unstable();
    let mut out: Vec<Cell> = Vec::new();
    let mut parent = vec![0u32; cells.len()];
    for (ci, i) in keyed {
        let Some(c) = cells.get(i as usize) else { continue };
        match out.last_mut() {
            Some(last) if last.index == ci => {
                last.count += c.count;
                for (a, b) in last.sum.iter_mut().zip(c.sum) {
                    *a += b;
                }
            }
            _ => out.push(Cell { index: ci, count: c.count, sum: c.sum }),
        }
        if let Some(p) = parent.get_mut(i as usize) {
            *p = (out.len() - 1) as u32;
        }
    }
    (out, parent)
}

/// The `GRID_BITS` cells of a set of cells of a `bits`-bit grid (`bits >= GRID_BITS`), sorted, without repeats.
pub fn coarse_cells(cells: &[Cell], bits: u32) -> Vec<u32> {
    let d = bits.saturating_sub(GRID_BITS);
    let m = (1u32 << bits) - 1;
    let mut out: Vec<u32> = cells
        .iter()
        .map(|c| {
            let (r, g, b) = (c.index >> (2 * bits), (c.index >> bits) & m, c.index & m);
            ((r >> d) << (2 * GRID_BITS)) | ((g >> d) << GRID_BITS) | (b >> d)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// One occupied histogram cell: its grid index, pixel count and per-channel pixel sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The grid index (`cell_of`).
    pub index: u32,
    /// Pixels in the cell.
    pub count: u64,
    /// Sum of the pixels' R, G and B.
    pub sum: [u64; 3],
}

thread_local! {
    /// A reusable zeroed grid per thread: `[count, r, g, b]` per cell. Zeroed again after each use (only the touched
    /// cells), so repeated calls pay no page faults for a fresh 4 MiB.
    static GRID: RefCell<Vec<[u32; 4]>> = const { RefCell::new(Vec::new()) };
}

/// The occupied cells of a run of pixels (at most `PIXEL_CHUNK`), sorted by cell index.
fn chunk_cells(data: &[u8], channels: usize, bits: u32) -> Vec<Cell> {
    GRID.with(|g| {
        let mut grid = g.borrow_mut();
        let cells = 1usize << (3 * bits);
        if grid.len() < cells {
            *grid = vec![[0u32; 4]; cells];
        }
        let mut touched: Vec<u32> = Vec::new();
        for px in data.chunks_exact(channels) {
            let c = rgb_of(px, channels);
            let i = cell_of_bits(c, bits);
            // `i < 2^(3 bits) <= grid.len()` by construction of `cell_of_bits`.
            let e = &mut grid[i];
            if e[0] == 0 {
                touched.push(i as u32);
            }
            e[0] += 1;
            e[1] += c[0] as u32;
            e[2] += c[1] as u32;
            e[3] += c[2] as u32;
        }
        touched.sort_unstable();
        touched
            .iter()
            .map(|&i| {
                let e = std::mem::take(&mut grid[i as usize]);
                Cell { index: i, count: e[0] as u64, sum: [e[1] as u64, e[2] as u64, e[3] as u64] }
            })
            .collect()
    })
}

/// The weighted colour histogram of a set of images on a grid of `bits` (1..=8) bits per channel: occupied cells
/// sorted by index.
pub fn histogram(images: &[ImageRef<'_>], bits: u32) -> Result<Vec<Cell>> {
    if !(1..=8).contains(&bits) {
        return Err(Error::value("bits", format!("expected 1..8, got {bits}")));
    }
    for im in images {
        im.check("images")?;
    }
    let total: usize = images.iter().map(|im| im.pixels()).sum();
    let threads = rayon::current_num_threads().max(1);
    // A multiple of the thread count of chunks on big inputs (so no thread idles in the last round), none below
    // 256 Ki pixels (merging costs more than it saves) or above PIXEL_CHUNK.
    let rounds = total.div_ceil(threads * PIXEL_CHUNK).max(1);
    let per = total.div_ceil(threads * rounds).clamp(1 << 18, PIXEL_CHUNK);
    let chunks: Vec<(&[u8], usize)> =
        images.iter().flat_map(|im| im.data.chunks(per * im.channels).map(move |d| (d, im.channels))).collect();
    let mut parts: Vec<Vec<Cell>> = chunks.par_iter().map(|&(d, c)| chunk_cells(d, c, bits)).collect();
    if parts.len() == 1 {
        return Ok(parts.pop().unwrap_or_default());
    }
    // Merge: integer sums, so the order does not matter for the result.
    let mut all: Vec<Cell> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|c| c.index);
    let mut out: Vec<Cell> = Vec::with_capacity(all.len());
    for c in all {
        match out.last_mut() {
            Some(last) if last.index == c.index => {
                last.count += c.count;
                for (a, b) in last.sum.iter_mut().zip(c.sum) {
                    *a += b;
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// The exact distinct colours of a set of images with their pixel counts, sorted by colour.
pub fn distinct_colors(images: &[ImageRef<'_>]) -> Result<Vec<([u8; 3], u64)>> {
    let mut keys: Vec<u32> = Vec::new();
    let total: usize = images.iter().map(|im| im.pixels()).sum();
    keys.try_reserve_exact(total).map_err(|_| Error::OutOfMemory { bytes: total * 4 })?;
    for im in images {
        im.check("images")?;
        keys.extend(im.data.chunks_exact(im.channels).map(|px| {
            let c = rgb_of(px, im.channels);
            (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32
        }));
    }
    keys.par_sort_unstable();
    let mut out: Vec<([u8; 3], u64)> = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let k = keys[i];
        let mut j = i;
        while j < keys.len() && keys[j] == k {
            j += 1;
        }
        out.push(([(k >> 16) as u8, (k >> 8) as u8, k as u8], (j - i) as u64));
        i = j;
    }
    Ok(out)
}

/// How the palette is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Median cut seeding refined by weighted Lloyd iterations to convergence (best quality).
    Kmeans,
    /// Variance-minimising median cut on its own (faster, a little worse).
    MedianCut,
    /// k-means++ seeding (uses the seed) refined by weighted Lloyd iterations.
    KmeansPlusPlus,
}

impl Method {
    /// Parses the Python spelling: `"kmeans"`, `"median-cut"` or `"kmeans++"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "kmeans" => Ok(Method::Kmeans),
            "median-cut" => Ok(Method::MedianCut),
            "kmeans++" => Ok(Method::KmeansPlusPlus),
            _ => Err(Error::value("method", format!("expected 'kmeans', 'median-cut' or 'kmeans++', got {s:?}"))),
        }
    }
}

/// Options of `palette`.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Palette size, 1..=256.
    pub k: usize,
    /// Seed of the k-means++ sampling (other methods are deterministic without one).
    pub seed: u64,
    /// Where distances are measured.
    pub space: ColorSpace,
    /// Seeding and refinement.
    pub method: Method,
    /// At most this many Lloyd iterations (0: the seeding alone).
    pub max_iter: u32,
    /// Stop when no centre moves by more than this (in 0..255 units of the space); >= 0.
    pub tol: f64,
}

/// A palette of at most `params.k` colours for a set of images (fewer only when they hold fewer distinct colours).
pub fn palette(images: &[ImageRef<'_>], params: &Params) -> Result<Vec<[u8; 3]>> {
    Ok(palette_and_cells(images, params)?.0)
}

/// `palette`, and the sorted grid cells the images occupy (for preparing a `remap::Nearest`).
pub fn palette_and_cells(images: &[ImageRef<'_>], params: &Params) -> Result<(Vec<[u8; 3]>, Vec<u32>)> {
    if !(1..=256).contains(&params.k) {
        return Err(Error::value("k", format!("expected 1..256, got {}", params.k)));
    }
    if images.is_empty() {
        return Err(Error::value("images", "expected at least one image"));
    }
    if !(params.tol >= 0.0 && params.tol.is_finite()) {
        return Err(Error::value("tol", format!("expected a finite number >= 0, got {}", params.tol)));
    }
    let k = params.k;
    let bits = if k >= FINE_K { FINE_BITS } else { GRID_BITS };
    let cells = histogram(images, bits)?;
    let occupied = coarse_cells(&cells, bits);
    let (points, weights): (Vec<[f32; 3]>, Vec<f64>) = if cells.len() > k {
        cells
            .iter()
            .map(|c| {
                let n = c.count as f64;
                let mean = c.sum.map(|s| (s as f64 / n) as f32);
                (params.space.point(mean), n)
            })
            .unzip()
    } else {
        // Few cells: work on the exact colours, and return them when there are no more than k.
        let colours = distinct_colors(images)?;
        if colours.len() <= k {
            return Ok((colours.into_iter().map(|(c, _)| c).collect(), occupied));
        }
        colours.iter().map(|&(c, n)| (params.space.point(c.map(f32::from)), n as f64)).unzip()
    };
    // With the fine grid, seed and iterate on the coarse one first (a quarter of the points or fewer), then finish
    // with a few rounds on the fine cells, each starting in its parent's cluster.
    let coarse = if bits > GRID_BITS && cells.len() > k { Some(coarsen(&cells, bits)) } else { None };
    let coarse = coarse.filter(|(c, _)| c.len() > k);
    let cell_points = |cs: &[Cell]| -> (Vec<[f32; 3]>, Vec<f64>) {
        cs.iter()
            .map(|c| {
                let n = c.count as f64;
                (params.space.point(c.sum.map(|s| (s as f64 / n) as f32)), n)
            })
            .unzip()
    };
    let (seed_points, seed_weights) = match &coarse {
        Some((c, _)) => cell_points(c),
        None => (points.clone(), weights.clone()),
    };
    let (seeds, labels) = match params.method {
        Method::KmeansPlusPlus => kmeans_plus_plus_labels(&seed_points, &seed_weights, k, params.seed),
        Method::Kmeans | Method::MedianCut => median_cut_labels(&seed_points, &seed_weights, k),
    };
    if params.method == Method::MedianCut {
        return Ok((seeds.into_iter().map(|c| params.space.to_rgb8(c)).collect(), occupied));
    }
    let tol = params.tol as f32;
    let centers = match &coarse {
        Some((_, parent)) => {
            let (c, a) = lloyd(&seed_points, &seed_weights, seeds, Some(&labels), params.max_iter, tol);
            let init: Vec<u16> = parent.iter().map(|&p| a.get(p as usize).copied().unwrap_or(0)).collect();
            lloyd(&points, &weights, c, Some(&init), params.max_iter.min(FINE_ITERS), tol).0
        }
        None => lloyd(&points, &weights, seeds, Some(&labels), params.max_iter, tol).0,
    };
    let mut pal: Vec<[u8; 3]> = centers.into_iter().map(|c| params.space.to_rgb8(c)).collect();
    if params.space == ColorSpace::Rgb && params.max_iter > 0 {
        // Lloyd steps on the pixels themselves: the histogram moves whole cells between clusters, the pixels can
        // split a cell. Measured on Kodak: +0.002 dB at k = 16, +0.01 dB at k = 32 and 64; each costs about one
        // remap, so only those sizes get one (from FINE_K the finer grid does better for less).
        let rounds = if (32..FINE_K).contains(&k) { 1 } else { 0 };
        for _ in 0..rounds {
            pal = refine_on_pixels(images, pal, &occupied)?;
        }
    }
    Ok((pal, occupied))
}

/// One exact Lloyd step on the pixels: each pixel to its nearest palette colour, then each colour to the rounded
/// mean of its pixels (colours without pixels stay). Above `REFINE_SAMPLE` pixels, every n-th pixel (a fixed
/// stride) stands for the rest. Integer sums, so the result does not depend on thread count.
pub fn refine_on_pixels(images: &[ImageRef<'_>], pal: Vec<[u8; 3]>, occupied: &[u32]) -> Result<Vec<[u8; 3]>> {
    let mut nearest = crate::remap::Nearest::new(&pal, ColorSpace::Rgb)?;
    nearest.prepare(occupied);
    let k = pal.len();
    let nr = &nearest;
    let mut sums = vec![[0u64; 4]; k];
    // Means need no more than a few million pixels: big images are sampled with a fixed stride.
    let total: usize = images.iter().map(|im| im.pixels()).sum();
    let step = (total / REFINE_SAMPLE).max(1);
    for im in images {
        let ch = im.channels;
        let parts: Vec<Vec<[u64; 4]>> = im
            .data
            .par_chunks(POINT_CHUNK * 16 * ch)
            .map(|d| {
                let mut s = vec![[0u64; 4]; k];
                for px in d.chunks_exact(ch).step_by(step) {
                    let c = rgb_of(px, ch);
                    if let Some(e) = s.get_mut(nr.nearest_u8(c) as usize) {
                        e[0] += 1;
                        e[1] += c[0] as u64;
                        e[2] += c[1] as u64;
                        e[3] += c[2] as u64;
                    }
                }
                s
            })
            .collect();
        for p in parts {
            for (a, b) in sums.iter_mut().zip(p) {
                for t in 0..4 {
                    a[t] += b[t];
                }
            }
        }
    }
    Ok(pal
        .iter()
        .zip(&sums)
        .map(|(&c, s)| if s[0] == 0 { c } else { [1, 2, 3].map(|t| ((s[t] as f64 / s[0] as f64).round()) as u8) })
        .collect())
}

#[inline(always)]
fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// SplitMix64: a small, well-mixed, seedable generator (the same numbers on every platform).
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
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
pub fn kmeans_plus_plus(points: &[[f32; 3]], weights: &[f64], k: usize, seed: u64) -> Vec<[f32; 3]> {
    kmeans_plus_plus_labels(points, weights, k, seed).0
}

/// `kmeans_plus_plus`, and each point's nearest centre.
pub fn kmeans_plus_plus_labels(points: &[[f32; 3]], weights: &[f64], k: usize, seed: u64) -> (Vec<[f32; 3]>, Vec<u16>) {
    let n = points.len();
    if n == 0 || k == 0 {
        return (Vec::new(), vec![0; n]);
    }
    let mut labels = vec![0u16; n];
    let mut rng = SplitMix(seed ^ 0x5146_4153_545F_504C);
    let nblocks = n.div_ceil(POINT_CHUNK);
    let total: f64 = weights.iter().sum();
    let wsums: Vec<f64> = weights.chunks(POINT_CHUNK).map(|c| c.iter().sum()).collect();
    let first = sample(weights, &wsums, POINT_CHUNK, rng.next_f64() * total);
    let mut centers = vec![points[first]];
    let mut d2: Vec<f32> = vec![f32::INFINITY; n];
    let mut wd: Vec<f64> = vec![0.0; n];
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
    (centers, labels)
}

/// Variance-minimising median cut: repeatedly splits the box of points with the largest weighted squared error,
/// across its widest-variance axis, at the position that minimises the two halves' total squared error (the
/// optimal split along that axis, found with prefix sums). Returns the boxes' weighted means.
pub fn median_cut(points: &[[f32; 3]], weights: &[f64], k: usize) -> Vec<[f32; 3]> {
    median_cut_labels(points, weights, k).0
}

/// `median_cut`, and each point's box (a good first assignment for `lloyd`).
pub fn median_cut_labels(points: &[[f32; 3]], weights: &[f64], k: usize) -> (Vec<[f32; 3]>, Vec<u16>) {
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
        return (Vec::new(), vec![0; n]);
    }
    let mut idx: Vec<u32> = (0..n as u32).collect();
    let mut boxes = vec![make(&idx, 0)];
    let mut prefix: Vec<(f64, [f64; 3], f64)> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    while boxes.len() < k {
        // The box with the largest error that can still be split (ties: the first).
        let Some((bi, _)) = boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.end - b.start > 1 && b.sse > 0.0)
            .max_by(|a, b| a.1.sse.total_cmp(&b.1.sse).then(b.0.cmp(&a.0)))
        else {
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
        boxes[bi] = left;
        boxes.push(right);
    }
    let mut labels = vec![0u16; n];
    for (bi, b) in boxes.iter().enumerate() {
        for &i in &idx[b.start..b.end] {
            if let Some(l) = labels.get_mut(i as usize) {
                *l = bi as u16;
            }
        }
    }
    (boxes.into_iter().map(|b| b.mean).collect(), labels)
}

/// Weighted Lloyd iterations from `centers` with Hamerly's bounds (an upper bound on the distance to the assigned
/// centre and a lower bound on the distance to every other one), which skip most distance work once clusters settle.
/// A point that does need a search scans the other centres in order of their distance from its current centre and
/// stops at the first one at least twice as far as the point's own distance (no centre beyond can be nearer), so
/// with 256 centres a search typically looks at a handful. Returns the centres and each point's cluster. Empty
/// clusters are moved to the point with the largest weighted error. Stops after `max_iter` rounds, when no point
/// changes cluster, or when no centre moves more than `tol`.
pub fn lloyd(
    points: &[[f32; 3]],
    weights: &[f64],
    mut centers: Vec<[f32; 3]>,
    init: Option<&[u16]>,
    max_iter: u32,
    tol: f32,
) -> (Vec<[f32; 3]>, Vec<u16>) {
    let n = points.len();
    let k = centers.len();
    let mut assign = vec![0u16; n];
    if n == 0 || k == 0 {
        return (centers, assign);
    }
    if let Some(l) = init.filter(|l| l.len() == n && l.iter().all(|&a| (a as usize) < k)) {
        assign.copy_from_slice(l);
    }
    let mut upper = vec![f32::INFINITY; n];
    let mut lower = vec![0.0f32; n];
    let mut moved = vec![0.0f32; k];
    let mut max_moved = 0.0f32;
    let mut first = true;
    let mut half_gap = vec![0.0f32; k];
    let mut between = vec![0.0f32; k * k];
    let mut order: Vec<std::sync::OnceLock<Vec<(f32, u16)>>> = Vec::new();
    let mut drift = vec![0.0f32; k];
    let mut max_drift = 0.0f32;
    for _ in 0..max_iter.max(1) {
        // between[a*k+j]: distance between centres a and j; half_gap[c]: half the distance from c to its nearest
        // other centre (a point closer than that to its own centre cannot be closer to another).
        let (xs, ys, zs): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            centers.iter().map(|c| c[0]).collect(),
            centers.iter().map(|c| c[1]).collect(),
            centers.iter().map(|c| c[2]).collect(),
        );
        between.par_chunks_mut(k).zip(half_gap.par_iter_mut()).enumerate().for_each(|(a, (row, hg))| {
            let c = centers[a];
            // Plain loops over arrays, so the compiler vectorises them.
            for (((r, x), y), z) in row.iter_mut().zip(&xs).zip(&ys).zip(&zs) {
                let (dx, dy, dz) = (x - c[0], y - c[1], z - c[2]);
                *r = (dx * dx + dy * dy + dz * dz).sqrt();
            }
            if let Some(r) = row.get_mut(a) {
                *r = f32::INFINITY;
            }
            let mut m = f32::INFINITY;
            for &r in row.iter() {
                m = if r < m { r } else { m };
            }
            *hg = 0.5 * m;
        });
        // The other centres of each centre by increasing distance, sorted on first use and kept while the centres
        // move little: `drift[c]` is how far c moved since the rows were sorted, so the true distance between a and
        // j is at least the stored one minus drift[a] + drift[j] <= drift[a] + max_drift.
        if max_drift > REBUILD_DRIFT || first {
            order = (0..k).map(|_| std::sync::OnceLock::new()).collect();
            drift.fill(0.0);
            max_drift = 0.0;
        }
        let (cref, hg, mv, bt, ord) = (&centers, &half_gap, &moved, &between, &order);
        let row_of = |a: usize| -> &Vec<(f32, u16)> {
            ord[a].get_or_init(|| {
                // (distance bits, index) as integers: non-negative f32 order like their bit patterns. Only the
                // nearest SORTED_NEIGHBOURS + 1 are put in order (the last of them is the nearest of the rest); a
                // search rarely goes further, and past them it looks at the rest without early exit.
                let mut keys: Vec<u64> =
                    (0..k).filter(|&j| j != a).map(|j| (u64::from(bt[a * k + j].to_bits()) << 16) | j as u64).collect();
                if keys.len() > SORTED_NEIGHBOURS + 1 {
                    keys.select_nth_unstable(SORTED_NEIGHBOURS);
                    keys[..SORTED_NEIGHBOURS].sort_unstable();
                } else {
                    keys.sort_unstable();
                }
                keys.iter().map(|&x| (f32::from_bits((x >> 16) as u32), (x & 0xFFFF) as u16)).collect()
            })
        };
        let (dr, mdr) = (&drift, max_drift);
        let parts: Vec<(Vec<[f64; 4]>, usize)> = points
            .par_chunks(POINT_CHUNK)
            .zip(weights.par_chunks(POINT_CHUNK))
            .zip(assign.par_chunks_mut(POINT_CHUNK))
            .zip(upper.par_chunks_mut(POINT_CHUNK).zip(lower.par_chunks_mut(POINT_CHUNK)))
            .map(|(((p, w), a), (u, l))| {
                let mut sums = vec![[0.0f64; 4]; k];
                let mut changed = 0usize;
                for i in 0..p.len() {
                    let pi = p[i];
                    let ai = a[i] as usize;
                    if !first {
                        u[i] += mv[ai];
                        l[i] -= max_moved;
                    }
                    let m = hg[ai].max(l[i]);
                    if u[i] > m {
                        let ua = dist2(&pi, &cref[ai]).sqrt();
                        u[i] = ua;
                        if ua > m {
                            let (mut b1, mut d1, mut d2) = (ai, ua, f32::INFINITY);
                            let slack = dr[ai] + mdr;
                            for (t, &(dj, j)) in row_of(ai).iter().enumerate() {
                                let dj = dj - slack;
                                if t <= SORTED_NEIGHBOURS && dj >= 2.0 * ua {
                                    // Every centre from here on is at least dj - ua away.
                                    d2 = d2.min(dj - ua);
                                    break;
                                }
                                let d = dist2(&pi, &cref[j as usize]).sqrt();
                                if d < d1 {
                                    d2 = d1;
                                    d1 = d;
                                    b1 = j as usize;
                                } else if d < d2 {
                                    d2 = d;
                                }
                            }
                            if b1 != ai {
                                changed += 1;
                                a[i] = b1 as u16;
                            }
                            u[i] = d1;
                            l[i] = d2;
                        }
                    }
                    let s = &mut sums[a[i] as usize];
                    let wi = w[i];
                    s[0] += wi;
                    s[1] += wi * pi[0] as f64;
                    s[2] += wi * pi[1] as f64;
                    s[3] += wi * pi[2] as f64;
                }
                (sums, changed)
            })
            .collect();
        // Reduce in chunk order: the same floating-point result whatever the thread count.
        let mut sums = vec![[0.0f64; 4]; k];
        let mut changed = 0;
        for (s, c) in &parts {
            changed += c;
            for (a, b) in sums.iter_mut().zip(s) {
                for t in 0..4 {
                    a[t] += b[t];
                }
            }
        }
        if !first && changed == 0 {
            break;
        }
        first = false;
        let mut reset = false;
        max_moved = 0.0;
        for c in 0..k {
            let s = sums[c];
            let new = if s[0] > 0.0 {
                [(s[1] / s[0]) as f32, (s[2] / s[0]) as f32, (s[3] / s[0]) as f32]
            } else {
                // An empty cluster: move it to the point with the largest weighted error. Every bound is then stale,
                // so the next round starts from scratch.
                reset = true;
                let far = (0..n)
                    .max_by(|&i, &j| {
                        let ei = weights[i] * dist2(&points[i], &centers[assign[i] as usize]) as f64;
                        let ej = weights[j] * dist2(&points[j], &centers[assign[j] as usize]) as f64;
                        ei.total_cmp(&ej).then(j.cmp(&i))
                    })
                    .unwrap_or(0);
                points[far]
            };
            moved[c] = dist2(&new, &centers[c]).sqrt();
            max_moved = max_moved.max(moved[c]);
            drift[c] += moved[c];
            max_drift = max_drift.max(drift[c]);
            centers[c] = new;
        }
        if reset {
            upper.fill(f32::INFINITY);
            lower.fill(0.0);
            first = true;
        }
        if !reset && max_moved <= tol {
            break;
        }
    }
    (centers, assign)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut r = SplitMix(seed);
        (0..n).map(|_| r.next_u64() as u8).collect()
    }

    fn sse(points: &[[f32; 3]], weights: &[f64], centers: &[[f32; 3]]) -> f64 {
        points
            .iter()
            .zip(weights)
            .map(|(p, w)| w * centers.iter().map(|c| dist2(p, c)).fold(f32::INFINITY, f32::min) as f64)
            .sum()
    }

    #[test]
    fn histogram_counts_every_pixel_exactly() {
        let data = noise(3 * 100_000, 1);
        let cells = histogram(&[ImageRef { data: &data, channels: 3 }], GRID_BITS).unwrap();
        assert_eq!(cells.iter().map(|c| c.count).sum::<u64>(), 100_000);
        for ch in 0..3 {
            let want: u64 = data.iter().skip(ch).step_by(3).map(|&v| v as u64).sum();
            assert_eq!(cells.iter().map(|c| c.sum[ch]).sum::<u64>(), want);
        }
        assert!(cells.windows(2).all(|w| w[0].index < w[1].index));
    }

    #[test]
    fn histogram_of_many_chunks_equals_one() {
        let a = noise(4 * 300_000, 2);
        let b = noise(200_000, 3);
        let both =
            histogram(&[ImageRef { data: &a, channels: 4 }, ImageRef { data: &b, channels: 1 }], GRID_BITS).unwrap();
        let mut want = vec![[0u64; 4]; GRID_CELLS];
        for px in a.chunks(4) {
            let c = [px[0], px[1], px[2]];
            let e = &mut want[cell_of(c)];
            e[0] += 1;
            (0..3).for_each(|t| e[t + 1] += c[t] as u64);
        }
        for &v in &b {
            let e = &mut want[cell_of([v; 3])];
            e[0] += 1;
            (0..3).for_each(|t| e[t + 1] += v as u64);
        }
        let got: Vec<Cell> = want
            .iter()
            .enumerate()
            .filter(|(_, e)| e[0] > 0)
            .map(|(i, e)| Cell { index: i as u32, count: e[0], sum: [e[1], e[2], e[3]] })
            .collect();
        assert_eq!(both, got);
    }

    #[test]
    fn few_colours_come_back_exactly() {
        let data = [10u8, 20, 30, 10, 20, 30, 11, 20, 30, 200, 0, 0];
        let p = Params { k: 8, seed: 0, space: ColorSpace::Rgb, method: Method::Kmeans, max_iter: 10, tol: 0.0 };
        let pal = palette(&[ImageRef { data: &data, channels: 3 }], &p).unwrap();
        assert_eq!(pal, vec![[10, 20, 30], [11, 20, 30], [200, 0, 0]]);
    }

    #[test]
    fn k_one_is_the_mean() {
        let data = noise(3 * 50_000, 4);
        let p = Params { k: 1, seed: 0, space: ColorSpace::Rgb, method: Method::Kmeans, max_iter: 10, tol: 0.0 };
        let pal = palette(&[ImageRef { data: &data, channels: 3 }], &p).unwrap();
        for ch in 0..3 {
            let mean = data.iter().skip(ch).step_by(3).map(|&v| v as f64).sum::<f64>() / 50_000.0;
            assert!((pal[0][ch] as f64 - mean).abs() <= 0.5 + 1e-9, "{pal:?} {mean}");
        }
    }

    #[test]
    fn lloyd_never_raises_the_error_and_beats_seeding() {
        let data = noise(3 * 20_000, 5);
        let pts: Vec<[f32; 3]> = data.chunks(3).map(|c| [c[0] as f32, c[1] as f32, c[2] as f32]).collect();
        let w = vec![1.0; pts.len()];
        for k in [2, 7, 64] {
            let seeds = kmeans_plus_plus(&pts, &w, k, 9);
            assert_eq!(seeds.len(), k);
            let (c, _) = lloyd(&pts, &w, seeds.clone(), None, 50, 0.0);
            assert!(sse(&pts, &w, &c) <= sse(&pts, &w, &seeds));
            // Run to convergence, the assignment is each point's nearest centre.
            let (c, a) = lloyd(&pts, &w, c, None, 1000, 0.0);
            for (p, &ai) in pts.iter().zip(&a).take(2000) {
                let best = c.iter().map(|q| dist2(p, q)).fold(f32::INFINITY, f32::min);
                assert!(dist2(p, &c[ai as usize]) <= best * (1.0 + 1e-5) + 1e-3);
            }
            let mc = median_cut(&pts, &w, k);
            assert_eq!(mc.len(), k);
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        let data = [0u8; 3];
        let im = [ImageRef { data: &data, channels: 3 }];
        let mut p = Params { k: 0, seed: 0, space: ColorSpace::Rgb, method: Method::Kmeans, max_iter: 10, tol: 0.0 };
        assert!(palette(&im, &p).unwrap_err().to_string().starts_with("k:"));
        p.k = 257;
        assert!(palette(&im, &p).unwrap_err().to_string().starts_with("k:"));
        p.k = 4;
        assert!(palette(&[], &p).unwrap_err().to_string().starts_with("images:"));
        p.tol = f64::NAN;
        assert!(palette(&im, &p).unwrap_err().to_string().starts_with("tol:"));
        assert!(Method::parse("octree").unwrap_err().to_string().starts_with("method:"));
    }

    #[test]
    fn coarsen_sums_children_into_parents() {
        let data = noise(3 * 100_000, 8);
        let im = [ImageRef { data: &data, channels: 3 }];
        let fine = histogram(&im, FINE_BITS).unwrap();
        let (coarse, parent) = coarsen(&fine, FINE_BITS);
        assert_eq!(coarse, histogram(&im, GRID_BITS).unwrap());
        for (f, &p) in fine.iter().zip(&parent) {
            let c = &coarse[p as usize];
            let [r, g, b] = f.sum.map(|s| (s / f.count) as u8);
            assert_eq!(c.index as usize, cell_of([r, g, b]));
        }
        assert_eq!(coarse_cells(&fine, FINE_BITS), coarse.iter().map(|c| c.index).collect::<Vec<_>>());
    }

    #[test]
    fn large_palettes_use_the_fine_grid_and_stay_deterministic() {
        let data = noise(3 * 150_000, 9);
        let im = [ImageRef { data: &data, channels: 3 }];
        let p = Params { k: 200, seed: 1, space: ColorSpace::Rgb, method: Method::Kmeans, max_iter: 10, tol: 0.0 };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let a = one.install(|| palette(&im, &p)).unwrap();
        assert_eq!(a.len(), 200);
        assert_eq!(a, three.install(|| palette(&im, &p)).unwrap());
    }

    #[test]
    fn same_seed_same_palette_on_any_pool() {
        let data = noise(3 * 200_000, 6);
        let im = [ImageRef { data: &data, channels: 3 }];
        for method in [Method::Kmeans, Method::KmeansPlusPlus] {
            let p = Params { k: 32, seed: 3, space: ColorSpace::Oklab, method, max_iter: 30, tol: 0.0 };
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
            let a = one.install(|| palette(&im, &p)).unwrap();
            let b = three.install(|| palette(&im, &p)).unwrap();
            assert_eq!(a, b);
        }
    }
}
