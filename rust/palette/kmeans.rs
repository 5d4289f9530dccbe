//! k-means palettes: weighted Lloyd (k-means) iterations with Hamerly's bounds over the colour histogram, from
//! median-cut or k-means++ seeds, and an exact Lloyd step on the pixels.
//!
//! Determinism: everything that depends on thread scheduling is an integer sum (the histogram) or is computed over a
//! fixed chunking and reduced in chunk order (the Lloyd sums), so the same seed gives the same palette whatever the
//! thread count.

use crate::alloc::{collect, filled, with_capacity, zeroed};
use crate::error::{Error, Result};
use crate::palette::color_space::ColorSpace;
use crate::palette::histogram::{
    cell_of_bits, coarse_cells, coarsen, distinct_colors, histogram, rgb_of, unpack_rgb, Cell, ColorCounts, ImageRef,
    FINE_BITS, GRID_BITS,
};
use crate::palette::remap::MAX_COLORS;
use crate::palette::seeding::{dist2, kmeans_plus_plus_labels, median_cut_labels, POINT_CHUNK};
use rayon::prelude::*;

/// Palettes of this many colours and more cluster the finer histogram: at k = 256 a 4-level cell is as wide as a
/// cluster, and the 2-level grid gains about 0.07 dB on Kodak (it costs more cells to cluster).
pub const FINE_K: usize = 128;
/// Palettes of this many colours and more finish with Lloyd rounds on the exact colours.
pub const EXACT_K: usize = 1024;
/// Lloyd rounds on the fine grid after converging on the coarse one.
const FINE_ITERS: u32 = 5;
/// Re-sort the centres' neighbour lists once some centre has moved this far (0..255 units) since the last sort.
const REBUILD_DRIFT: f32 = 2.0;
/// How many of each centre's neighbours `lloyd` keeps in order.
const SORTED_NEIGHBOURS: usize = 48;

/// Above this many centres `lloyd` finds each centre's nearest others through a `CentreGrid` (below, by scanning
/// all: exact either way, and below it the scan is cheaper).
const GRID_K: usize = 1024;

/// Centres bucketed in a uniform grid (about two a cell), for nearest-neighbour queries among many centres.
struct CentreGrid {
    lo: [f32; 3],
    /// Cell width.
    w: f32,
    g: usize,
    /// Cell c holds `ids[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl CentreGrid {
    fn build(centres: &[[f32; 3]]) -> Result<Self> {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for c in centres {
            for t in 0..3 {
                lo[t] = lo[t].min(c[t]);
                hi[t] = hi[t].max(c[t]);
            }
        }
        let extent = (0..3).map(|t| hi[t] - lo[t]).fold(0.0f32, f32::max).max(1e-3);
        let g = ((centres.len() as f64 / 2.0).cbrt().ceil() as usize).clamp(1, 128);
        // A little wider than extent / g, so that the largest coordinate falls in the last cell.
        let w = extent / g as f32 * (1.0 + 1e-4) + 1e-6;
        let mut grid = CentreGrid { lo, w, g, starts: zeroed(g * g * g + 1)?, ids: zeroed(centres.len())? };
        let cells: Vec<usize> = collect(centres.iter().map(|c| grid.cell_index(grid.coords(c))))?;
        for &c in &cells {
            grid.starts[c + 1] += 1;
        }
        for i in 1..grid.starts.len() {
            grid.starts[i] += grid.starts[i - 1];
        }
        let mut fill = collect(grid.starts.iter().copied())?;
        for (i, &c) in cells.iter().enumerate() {
            grid.ids[fill[c] as usize] = i as u32;
            fill[c] += 1;
        }
        Ok(grid)
    }

    fn coords(&self, p: &[f32; 3]) -> [usize; 3] {
        [0, 1, 2].map(|t| (((p[t] - self.lo[t]) / self.w).max(0.0) as usize).min(self.g - 1))
    }

    fn cell_index(&self, c: [usize; 3]) -> usize {
        (c[0] * self.g + c[1]) * self.g + c[2]
    }

    /// The `m` nearest centres to centre `a` (itself excluded) as sorted keys `distance bits << 16 | index`, the
    /// distance computed as `lloyd`'s scan computes it. Rings of cells around `a`'s are visited outwards until the
    /// m-th nearest so far is nearer than anything in the next rings can be (r cells away: at least r w).
    fn nearest(&self, centres: &[[f32; 3]], a: usize, m: usize, out: &mut Vec<u64>) {
        out.clear();
        let c = centres[a];
        let cc = self.coords(&c);
        let g = self.g as isize;
        for r in 0..=g {
            for dx in -r..=r {
                for dy in -r..=r {
                    for dz in -r..=r {
                        if dx.abs().max(dy.abs()).max(dz.abs()) != r {
                            continue;
                        }
                        let p = [cc[0] as isize + dx, cc[1] as isize + dy, cc[2] as isize + dz];
                        if p.iter().any(|&v| v < 0 || v >= g) {
                            continue;
                        }
                        let cell = self.cell_index(p.map(|v| v as usize));
                        let (s, e) = (self.starts[cell] as usize, self.starts[cell + 1] as usize);
                        for &j in &self.ids[s..e] {
                            let j = j as usize;
                            if j == a {
                                continue;
                            }
                            let q = centres[j];
                            let (x, y, z) = (q[0] - c[0], q[1] - c[1], q[2] - c[2]);
                            out.push((u64::from((x * x + y * y + z * z).sqrt().to_bits()) << 16) | j as u64);
                        }
                    }
                }
            }
            if out.len() > m {
                out.select_nth_unstable(m - 1);
                out.truncate(m);
            }
            let reach = r as f32 * self.w;
            // Strictly nearer: then no centre left out can tie, and the keys are exactly the m smallest.
            if out.len() == m && out.iter().all(|&x| f32::from_bits((x >> 16) as u32) < reach) {
                break;
            }
        }
        out.sort_unstable();
    }
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
    /// Palette size, 1..=`MAX_COLORS` (65536).
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

/// The Lloyd iterations the API runs when none are given: 10 for palettes of 128 colours or more (each costs more,
/// and the exact step after them does the fine work), 20 below.
pub fn default_max_iter(k: usize) -> u32 {
    if k >= 128 {
        10
    } else {
        20
    }
}

/// A palette of at most `params.k` colours for a set of images (fewer only when they hold fewer distinct colours).
pub fn palette(images: &[ImageRef<'_>], params: &Params) -> Result<Vec<[u8; 3]>> {
    Ok(palette_and_cells(images, params)?.0)
}

/// What a palette is computed from: the pixels of a set of images, or the exact colour counts of a set of pixels.
/// Both give the same palette for the same pixels: every step below needs only the colours and their counts.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The images themselves.
    Images(&'a [ImageRef<'a>]),
    /// Their colour counts (`ColorCounts::of_images`, possibly merged from many).
    Counts(&'a ColorCounts),
    /// Their colour counts as a dense table of `DENSE_COLORS` counts (`ColorCounts::add_to_dense`): a dataset's sum,
    /// clustered without a list of its colours.
    Dense(&'a [u64]),
}

impl Source<'_> {
    fn cells(&self, bits: u32) -> Result<Vec<Cell>> {
        match self {
            Source::Images(im) => histogram(im, bits),
            Source::Counts(c) => c.cells(bits),
            Source::Dense(d) => ColorCounts::dense_cells(d, bits),
        }
    }

    fn distinct(&self) -> Result<Vec<([u8; 3], u64)>> {
        match self {
            Source::Images(im) => distinct_colors(im),
            Source::Counts(c) => collect(c.colors().iter().zip(c.counts()).map(|(&c, &n)| (unpack_rgb(c), n))),
            Source::Dense(d) => {
                let c = ColorCounts::from_dense(d)?;
                collect(c.colors().iter().zip(c.counts()).map(|(&c, &n)| (unpack_rgb(c), n)))
            }
        }
    }

    fn refine(&self, pal: Vec<[u8; 3]>, occupied: &[u32]) -> Result<Vec<[u8; 3]>> {
        match self {
            Source::Images(im) => refine_on_pixels(im, pal, occupied),
            Source::Counts(c) => refine_on_counts(c, pal, occupied),
            Source::Dense(d) => refine_on_dense(d, pal, occupied),
        }
    }
}

/// A palette of at most `params.k` colours for the pixels a `ColorCounts` counted: the same palette as `palette` of
/// those pixels.
pub fn palette_of_counts(counts: &ColorCounts, params: &Params) -> Result<Vec<[u8; 3]>> {
    Ok(palette_from(Source::Counts(counts), params)?.0)
}

/// `palette`, and the sorted grid cells the images occupy (for preparing a `remap::Nearest`).
pub fn palette_and_cells(images: &[ImageRef<'_>], params: &Params) -> Result<(Vec<[u8; 3]>, Vec<u32>)> {
    palette_from(Source::Images(images), params)
}

/// The palette of a source and the sorted `GRID_BITS` cells it occupies.
pub fn palette_from(src: Source<'_>, params: &Params) -> Result<(Vec<[u8; 3]>, Vec<u32>)> {
    if !(1..=MAX_COLORS).contains(&params.k) {
        return Err(Error::value("k", format!("expected 1..{MAX_COLORS}, got {}", params.k)));
    }
    match src {
        Source::Images([]) => return Err(Error::value("images", "expected at least one image")),
        Source::Counts(c) if c.is_empty() => {
            return Err(Error::value("histogram", "expected a histogram of at least one pixel"))
        }
        Source::Dense(d) if d.par_iter().all(|&n| n == 0) => {
            return Err(Error::value("histogram", "expected a histogram of at least one pixel"))
        }
        _ => {}
    }
    if !(params.tol >= 0.0 && params.tol.is_finite()) {
        return Err(Error::value("tol", format!("expected a finite number >= 0, got {}", params.tol)));
    }
    let k = params.k;
    let bits = if k >= FINE_K { FINE_BITS } else { GRID_BITS };
    let cells = src.cells(bits)?;
    let occupied = coarse_cells(&cells, bits)?;
    let cell_points = |cs: &[Cell]| {
        unzip_points(cs.iter().map(|c| {
            let n = c.count as f64;
            (params.space.point(c.sum.map(|s| (s as f64 / n) as f32)), n)
        }))
    };
    let (points, weights) = if cells.len() > k {
        cell_points(&cells)?
    } else {
        // Few cells: work on the exact colours, and return them when there are no more than k.
        let colours = src.distinct()?;
        if colours.len() <= k {
            return Ok((colours.into_iter().map(|(c, _)| c).collect(), occupied));
        }
        unzip_points(colours.iter().map(|&(c, n)| (params.space.point(c.map(f32::from)), n as f64)))?
    };
    // With the fine grid, seed and iterate on the coarse one first (a quarter of the points or fewer), then finish
    // with a few rounds on the fine cells, each starting in its parent's cluster.
    let coarse = if bits > GRID_BITS && cells.len() > k { Some(coarsen(&cells, bits)?) } else { None };
    // From EXACT_K colours the coarse grid has too few cells per cluster to seed well (each sparse cell would get a
    // cluster of its own): seed on it only when it holds several cells per colour.
    let coarse = coarse.filter(|(c, _)| c.len() > if k >= EXACT_K { 8 * k } else { k });
    let coarse_points = match &coarse {
        Some((c, _)) => Some(cell_points(c)?),
        None => None,
    };
    let (seed_points, seed_weights) = match &coarse_points {
        Some((p, w)) => (p.as_slice(), w.as_slice()),
        None => (points.as_slice(), weights.as_slice()),
    };
    let (seeds, labels) = match params.method {
        Method::KmeansPlusPlus => kmeans_plus_plus_labels(seed_points, seed_weights, k, params.seed)?,
        Method::Kmeans | Method::MedianCut => median_cut_labels(seed_points, seed_weights, k)?,
    };
    if params.method == Method::MedianCut {
        return Ok((seeds.into_iter().map(|c| params.space.to_rgb8(c)).collect(), occupied));
    }
    let tol = params.tol as f32;
    let (mut centers, assign) = match &coarse {
        Some((_, parent)) => {
            let (c, a) = lloyd(seed_points, seed_weights, seeds, Some(&labels), params.max_iter, tol)?;
            let init: Vec<u16> = collect(parent.iter().map(|&p| a.get(p as usize).copied().unwrap_or(0)))?;
            lloyd(&points, &weights, c, Some(&init), params.max_iter.min(FINE_ITERS), tol)?
        }
        None => lloyd(&points, &weights, seeds, Some(&labels), params.max_iter, tol)?,
    };
    if k >= EXACT_K && cells.len() > k && params.max_iter > 0 {
        // Thousands of colours are as fine as the grid's cells: finish on the exact colours (each weighing its
        // count), each starting in its cell's cluster. With the seeding above, on Kodak's kodim01: 48.9 -> 52.5 dB
        // at k = 4096, 46.6 -> 46.9 dB at k = 1024.
        let colours = src.distinct()?;
        let mut at: Vec<(u32, u32)> = collect(cells.iter().enumerate().map(|(i, c)| (c.index, i as u32)))?;
        at.sort_unstable();
        let label = |c: [u8; 3]| {
            let cell = cell_of_bits(c, bits) as u32;
            at.binary_search_by_key(&cell, |x| x.0).ok().and_then(|i| assign.get(at[i].1 as usize)).copied()
        };
        let init: Vec<u16> = collect(colours.iter().map(|&(c, _)| label(c).unwrap_or(0)))?;
        let (cp, cw) = unzip_points(colours.iter().map(|&(c, n)| (params.space.point(c.map(f32::from)), n as f64)))?;
        centers = lloyd(&cp, &cw, centers, Some(&init), params.max_iter.min(FINE_ITERS), tol)?.0;
    }
    let mut pal: Vec<[u8; 3]> = centers.into_iter().map(|c| params.space.to_rgb8(c)).collect();
    if params.space == ColorSpace::Rgb && params.max_iter > 0 {
        // Lloyd steps on the pixels themselves: the histogram moves whole cells between clusters, the pixels can
        // split a cell. Measured on Kodak: +0.002 dB at k = 16, +0.01 dB at k = 32 and 64; each costs about one
        // remap, so only those sizes get one (from FINE_K the finer grid does better for less).
        let rounds = if (32..FINE_K).contains(&k) { 1 } else { 0 };
        for _ in 0..rounds {
            pal = src.refine(pal, &occupied)?;
        }
    }
    Ok((pal, occupied))
}

/// Weighted points and their weights in two vectors allocated up front.
fn unzip_points(items: impl ExactSizeIterator<Item = ([f32; 3], f64)>) -> Result<(Vec<[f32; 3]>, Vec<f64>)> {
    let (mut points, mut weights) = (with_capacity(items.len())?, with_capacity(items.len())?);
    for (p, w) in items {
        points.push(p);
        weights.push(w);
    }
    Ok((points, weights))
}

/// One exact Lloyd step on the pixels: each pixel to its nearest palette colour, then each colour to the rounded
/// mean of its pixels (colours without pixels stay). Every pixel takes part (no sampling, so that the colour counts
/// of the same pixels give the same step: `refine_on_counts`). Integer sums, so the result does not depend on
/// thread count.
pub fn refine_on_pixels(images: &[ImageRef<'_>], pal: Vec<[u8; 3]>, occupied: &[u32]) -> Result<Vec<[u8; 3]>> {
    let mut nearest = crate::palette::remap::Nearest::new(&pal, ColorSpace::Rgb)?;
    nearest.prepare(occupied)?;
    let k = pal.len();
    let nr = &nearest;
    let mut sums = vec![[0u64; 4]; k];
    for im in images {
        let ch = im.channels;
        let parts: Vec<Vec<[u64; 4]>> = im
            .data
            .par_chunks(POINT_CHUNK * 16 * ch)
            .map(|d| {
                let mut s = vec![[0u64; 4]; k];
                for px in d.chunks_exact(ch) {
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
        add_sums(&mut sums, parts);
    }
    Ok(rounded_means(&pal, &sums))
}

/// `refine_on_pixels` from the colour counts of the pixels: each colour weighs its count, the same integer sums.
pub fn refine_on_counts(counts: &ColorCounts, pal: Vec<[u8; 3]>, occupied: &[u32]) -> Result<Vec<[u8; 3]>> {
    refine_weighted(pal, occupied, |nr, k| {
        counts
            .colors()
            .par_chunks(POINT_CHUNK * 16)
            .zip(counts.counts().par_chunks(POINT_CHUNK * 16))
            .map(|(cs, ns)| weighted_sums(nr, k, cs.iter().zip(ns).map(|(&c, &n)| (unpack_rgb(c), n))))
            .collect()
    })
}

/// `refine_on_counts` from a dense table of counts (`Source::Dense`): the same integer sums, colour by colour.
fn refine_on_dense(dense: &[u64], pal: Vec<[u8; 3]>, occupied: &[u32]) -> Result<Vec<[u8; 3]>> {
    refine_weighted(pal, occupied, |nr, k| {
        dense
            .par_chunks(1 << 16)
            .enumerate()
            .map(|(r, row)| {
                let colours = row.iter().enumerate().filter(|(_, n)| **n > 0);
                weighted_sums(nr, k, colours.map(|(gb, &n)| (unpack_rgb(((r << 16) | gb) as u32), n)))
            })
            .collect()
    })
}

/// One exact Lloyd step from weighted colours: `parts(nearest, k)` gives the `weighted_sums` of chunks of them, in a
/// fixed chunk order.
fn refine_weighted(
    pal: Vec<[u8; 3]>,
    occupied: &[u32],
    parts: impl FnOnce(&crate::palette::remap::Nearest, usize) -> Vec<Vec<[u64; 4]>>,
) -> Result<Vec<[u8; 3]>> {
    let mut nearest = crate::palette::remap::Nearest::new(&pal, ColorSpace::Rgb)?;
    nearest.prepare(occupied)?;
    let k = pal.len();
    let mut sums = vec![[0u64; 4]; k];
    add_sums(&mut sums, parts(&nearest, k));
    Ok(rounded_means(&pal, &sums))
}

/// `[count, sum r, sum g, sum b]` of each of the `k` palette colours over weighted colours, each to its nearest.
fn weighted_sums(
    nr: &crate::palette::remap::Nearest,
    k: usize,
    colours: impl Iterator<Item = ([u8; 3], u64)>,
) -> Vec<[u64; 4]> {
    let mut s = vec![[0u64; 4]; k];
    for (c, n) in colours {
        if let Some(e) = s.get_mut(nr.nearest_u8(c) as usize) {
            e[0] += n;
            e[1] += c[0] as u64 * n;
            e[2] += c[1] as u64 * n;
            e[3] += c[2] as u64 * n;
        }
    }
    s
}

/// Adds chunks' `[count, sum r, sum g, sum b]` per colour into `sums`, in chunk order (integers: exact).
fn add_sums(sums: &mut [[u64; 4]], parts: Vec<Vec<[u64; 4]>>) {
    for p in parts {
        for (a, b) in sums.iter_mut().zip(p) {
            for t in 0..4 {
                a[t] += b[t];
            }
        }
    }
}

/// Each colour moved to the rounded mean of its pixels (`sums[i]`: count and channel sums); colours without any
/// stay.
fn rounded_means(pal: &[[u8; 3]], sums: &[[u64; 4]]) -> Vec<[u8; 3]> {
    pal.iter()
        .zip(sums)
        .map(|(&c, s)| if s[0] == 0 { c } else { [1, 2, 3].map(|t| ((s[t] as f64 / s[0] as f64).round()) as u8) })
        .collect()
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
) -> Result<(Vec<[f32; 3]>, Vec<u16>)> {
    let n = points.len();
    let k = centers.len();
    let mut assign = zeroed::<u16>(n)?;
    if n == 0 || k == 0 {
        return Ok((centers, assign));
    }
    if let Some(l) = init.filter(|l| l.len() == n && l.iter().all(|&a| (a as usize) < k)) {
        assign.copy_from_slice(l);
    }
    let mut upper = filled(n, f32::INFINITY)?;
    let mut lower = zeroed::<f32>(n)?;
    let mut moved = vec![0.0f32; k];
    let mut max_moved = 0.0f32;
    let mut first = true;
    let mut half_gap = vec![0.0f32; k];
    let mut order: Vec<std::sync::OnceLock<Vec<(f32, u16)>>> = Vec::new();
    let mut drift = vec![0.0f32; k];
    let mut max_drift = 0.0f32;
    for _ in 0..max_iter.max(1) {
        // half_gap[c]: half the distance from c to its nearest other centre (a point closer than that to its own
        // centre cannot be closer to another). No k x k table: at k = 65536 it would take 16 GiB.
        let (xs, ys, zs): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            centers.iter().map(|c| c[0]).collect(),
            centers.iter().map(|c| c[1]).collect(),
            centers.iter().map(|c| c[2]).collect(),
        );
        let (xr, yr, zr) = (&xs, &ys, &zs);
        // Above GRID_K the k x k scans would dominate (at k = 65536, 4 billion distances a round): the neighbours
        // come from a grid of the centres instead (the same distances, so the same nearest ones).
        let grid = if k > GRID_K { Some(CentreGrid::build(&centers)?) } else { None };
        let gr = grid.as_ref();
        half_gap.par_iter_mut().enumerate().with_min_len(16).for_each(|(a, hg)| {
            if let Some(g) = gr {
                let mut keys = Vec::new();
                g.nearest(&centers, a, 1, &mut keys);
                *hg = keys.first().map_or(f32::INFINITY, |&x| 0.5 * f32::from_bits((x >> 16) as u32));
                return;
            }
            let c = centers[a];
            // A plain loop over arrays, so the compiler vectorises it; sqrt is monotone, so the square root of the
            // smallest square is the smallest distance.
            let mut m = f32::INFINITY;
            for (j, ((x, y), z)) in xr.iter().zip(yr).zip(zr).enumerate() {
                let (dx, dy, dz) = (x - c[0], y - c[1], z - c[2]);
                let d = if j == a { f32::INFINITY } else { dx * dx + dy * dy + dz * dz };
                m = if d < m { d } else { m };
            }
            *hg = 0.5 * m.sqrt();
        });
        // The nearest other centres of each centre by increasing distance, found on first use and kept while the
        // centres move little: `drift[c]` is how far c moved since the rows were sorted, so the true distance
        // between a and j is at least the stored one minus drift[a] + drift[j] <= drift[a] + max_drift.
        if max_drift > REBUILD_DRIFT || first {
            order = (0..k).map(|_| std::sync::OnceLock::new()).collect();
            drift.fill(0.0);
            max_drift = 0.0;
        }
        let (cref, hg, mv, ord) = (&centers, &half_gap, &moved, &order);
        let row_of = |a: usize| -> &Vec<(f32, u16)> {
            ord[a].get_or_init(|| {
                // (distance bits, index) as integers: non-negative f32 order like their bit patterns. Only the
                // nearest SORTED_NEIGHBOURS + 1 are kept, in order (the last of them is the nearest of the rest); a
                // search rarely goes further, and past them it looks at every centre.
                let c = cref[a];
                if let Some(g) = gr {
                    let mut keys = Vec::new();
                    g.nearest(cref, a, SORTED_NEIGHBOURS + 1, &mut keys);
                    return keys.iter().map(|&x| (f32::from_bits((x >> 16) as u32), (x & 0xFFFF) as u16)).collect();
                }
                let mut keys: Vec<u64> = (0..k)
                    .filter(|&j| j != a)
                    .map(|j| {
                        let (dx, dy, dz) = (xr[j] - c[0], yr[j] - c[1], zr[j] - c[2]);
                        (u64::from((dx * dx + dy * dy + dz * dz).sqrt().to_bits()) << 16) | j as u64
                    })
                    .collect();
                if keys.len() > SORTED_NEIGHBOURS + 1 {
                    keys.select_nth_unstable(SORTED_NEIGHBOURS);
                    keys.truncate(SORTED_NEIGHBOURS + 1);
                }
                keys.sort_unstable();
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
                            let row = row_of(ai);
                            let mut bounded = false;
                            for &(dj, j) in row {
                                let dj = dj - slack;
                                if dj >= 2.0 * ua {
                                    // Every centre from here on is at least dj - ua away.
                                    d2 = d2.min(dj - ua);
                                    bounded = true;
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
                            if !bounded && row.len() + 1 < k {
                                // Past the sorted neighbours: every centre (those already seen change nothing).
                                for (j, cj) in cref.iter().enumerate() {
                                    if j == b1 {
                                        continue;
                                    }
                                    let d = dist2(&pi, cj).sqrt();
                                    if d < d1 {
                                        d2 = d1;
                                        d1 = d;
                                        b1 = j;
                                    } else if d < d2 {
                                        d2 = d;
                                    }
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
        // Several empty clusters (common with thousands of colours): the points with the largest weighted errors,
        // one each, largest first (ties: the lowest index), rather than all to the same point.
        let empty = sums.iter().filter(|s| s[0] <= 0.0).count();
        let mut far_points: Vec<usize> = Vec::new();
        if empty > 1 {
            let mut errs: Vec<(f64, usize)> =
                collect((0..n).map(|i| (weights[i] * dist2(&points[i], &centers[assign[i] as usize]) as f64, i)))?;
            let by = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            if empty < errs.len() {
                errs.select_nth_unstable_by(empty, by);
                errs.truncate(empty);
            }
            errs.sort_unstable_by(by);
            far_points = errs.into_iter().map(|e| e.1).collect();
        }
        let mut next_far = far_points.into_iter();
        for c in 0..k {
            let s = sums[c];
            let new = if s[0] > 0.0 {
                [(s[1] / s[0]) as f32, (s[2] / s[0]) as f32, (s[3] / s[0]) as f32]
            } else if empty > 1 {
                reset = true;
                next_far.next().map_or(centers[c], |i| points[i])
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
    Ok((centers, assign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palette::seeding::{kmeans_plus_plus, median_cut, SplitMix};

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
            let seeds = kmeans_plus_plus(&pts, &w, k, 9).unwrap();
            assert_eq!(seeds.len(), k);
            let (c, _) = lloyd(&pts, &w, seeds.clone(), None, 50, 0.0).unwrap();
            assert!(sse(&pts, &w, &c) <= sse(&pts, &w, &seeds));
            // Run to convergence, the assignment is each point's nearest centre.
            let (c, a) = lloyd(&pts, &w, c, None, 1000, 0.0).unwrap();
            for (p, &ai) in pts.iter().zip(&a).take(2000) {
                let best = c.iter().map(|q| dist2(p, q)).fold(f32::INFINITY, f32::min);
                assert!(dist2(p, &c[ai as usize]) <= best * (1.0 + 1e-5) + 1e-3);
            }
            let mc = median_cut(&pts, &w, k).unwrap();
            assert_eq!(mc.len(), k);
        }
    }

    #[test]
    fn centre_grid_finds_the_brute_force_neighbours() {
        let mut r = SplitMix(12);
        for (k, spread) in [(2usize, 255.0f32), (9, 255.0), (5000, 255.0), (3000, 3.0)] {
            let mut c: Vec<[f32; 3]> =
                (0..k).map(|_| [0, 1, 2].map(|_| (r.next_u64() % 10_000) as f32 / 10_000.0 * spread)).collect();
            c[k / 2] = c[0]; // a duplicate: distance 0
            let grid = CentreGrid::build(&c).unwrap();
            let mut got = Vec::new();
            for a in (0..k).step_by((k / 97).max(1)) {
                for m in [1, 49] {
                    grid.nearest(&c, a, m, &mut got);
                    let mut want: Vec<u64> = (0..k)
                        .filter(|&j| j != a)
                        .map(|j| {
                            let (x, y, z) = (c[j][0] - c[a][0], c[j][1] - c[a][1], c[j][2] - c[a][2]);
                            (u64::from((x * x + y * y + z * z).sqrt().to_bits()) << 16) | j as u64
                        })
                        .collect();
                    want.sort_unstable();
                    want.truncate(m);
                    assert_eq!(got, want, "k={k} a={a} m={m}");
                }
            }
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        let data = [0u8; 3];
        let im = [ImageRef { data: &data, channels: 3 }];
        let mut p = Params { k: 0, seed: 0, space: ColorSpace::Rgb, method: Method::Kmeans, max_iter: 10, tol: 0.0 };
        assert!(palette(&im, &p).unwrap_err().to_string().starts_with("k:"));
        p.k = MAX_COLORS + 1;
        assert!(palette(&im, &p).unwrap_err().to_string().starts_with("k:"));
        p.k = 4;
        assert!(palette(&[], &p).unwrap_err().to_string().starts_with("images:"));
        p.tol = f64::NAN;
        assert!(palette(&im, &p).unwrap_err().to_string().starts_with("tol:"));
        assert!(Method::parse("octree").unwrap_err().to_string().starts_with("method:"));
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

    #[test]
    fn counts_give_the_palette_of_the_pixels() {
        let a = noise(3 * 120_000, 21);
        let b: Vec<u8> = noise(80_000, 22).iter().map(|v| v & 0xe0).collect();
        let (ia, ib) = (ImageRef { data: &a, channels: 3 }, ImageRef { data: &b, channels: 1 });
        let counts = ColorCounts::of_images(&[ia]).unwrap().merge(&ColorCounts::of_images(&[ib]).unwrap()).unwrap();
        for (k, method, space) in [
            (1, Method::Kmeans, ColorSpace::Rgb),
            (16, Method::Kmeans, ColorSpace::Rgb),
            (40, Method::Kmeans, ColorSpace::Rgb),
            (200, Method::Kmeans, ColorSpace::Rgb),
            (1500, Method::Kmeans, ColorSpace::Rgb),
            (1100, Method::Kmeans, ColorSpace::Oklab),
            (24, Method::KmeansPlusPlus, ColorSpace::Oklab),
            (8, Method::MedianCut, ColorSpace::Rgb),
        ] {
            let params = Params { k, seed: 3, space, method, max_iter: 20, tol: 0.0 };
            assert_eq!(palette_of_counts(&counts, &params).unwrap(), palette(&[ia, ib], &params).unwrap(), "k={k}");
        }
        let few = ColorCounts::of_images(&[ib]).unwrap();
        let params = Params { k: 16, seed: 0, space: ColorSpace::Rgb, method: Method::Kmeans, max_iter: 20, tol: 0.0 };
        assert_eq!(palette_of_counts(&few, &params).unwrap(), palette(&[ib], &params).unwrap());
        assert!(palette_of_counts(&ColorCounts::default(), &params).is_err());
    }
}
