//! The colour histogram: a weighted grid of the colours of a set of images, the data the palette search clusters.
//!
//! Why a histogram: a photo has hundreds of thousands of pixels but far fewer distinct colours at the precision that
//! matters, so clustering a histogram is orders of magnitude less work than clustering pixels. The histogram here is
//! a grid of `2^GRID_BITS` levels per channel (`2^FINE_BITS` for large palettes) in which each occupied cell keeps its
//! pixel count and the exact sum of its pixels, so a cell is represented by its mean colour, not its centre. Moving
//! whole cells between clusters is then the only approximation (the final remap is exact per pixel); with 6 bits a
//! cell is 4 levels wide, with 7 bits 2.
//!
//! Determinism: the histogram is an integer sum, so it does not depend on thread scheduling.

use crate::alloc::{collect, with_capacity, zeroed};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::cell::RefCell;

/// Bits per channel of the histogram grid.
pub const GRID_BITS: u32 = 6;
/// Cells in the histogram grid.
pub const GRID_CELLS: usize = 1 << (3 * GRID_BITS);
/// Bits per channel of the finer histogram grid used for large palettes (from `FINE_K` colours).
pub const FINE_BITS: u32 = 7;
/// Pixels per histogram work item (at most, so that per-chunk u32 sums cannot overflow: 2^22 * 255 < 2^32).
const PIXEL_CHUNK: usize = 1 << 22;

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
pub fn coarsen(cells: &[Cell], bits: u32) -> Result<(Vec<Cell>, Vec<u32>)> {
    let d = bits.saturating_sub(GRID_BITS);
    let m = (1u32 << bits) - 1;
    let mut keyed: Vec<(u32, u32)> = collect(cells.iter().enumerate().map(|(i, c)| {
        let (r, g, b) = (c.index >> (2 * bits), (c.index >> bits) & m, c.index & m);
        (((r >> d) << (2 * GRID_BITS)) | ((g >> d) << GRID_BITS) | (b >> d), i as u32)
    }))?;
    keyed.sort_unstable();
    let mut out: Vec<Cell> = with_capacity(cells.len())?;
    let mut parent = zeroed::<u32>(cells.len())?;
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
    Ok((out, parent))
}

/// The `GRID_BITS` cells of a set of cells of a `bits`-bit grid (`bits >= GRID_BITS`), sorted, without repeats.
pub fn coarse_cells(cells: &[Cell], bits: u32) -> Result<Vec<u32>> {
    let d = bits.saturating_sub(GRID_BITS);
    let m = (1u32 << bits) - 1;
    let mut out: Vec<u32> = collect(cells.iter().map(|c| {
        let (r, g, b) = (c.index >> (2 * bits), (c.index >> bits) & m, c.index & m);
        ((r >> d) << (2 * GRID_BITS)) | ((g >> d) << GRID_BITS) | (b >> d)
    }))?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
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

thread_local! {
    /// The finer grids' table per thread (`fine_chunk_cells`): for each `GRID_BITS` cell, 0 or 1 + the block of its
    /// sub-cells in the pool; and the pool of blocks. Kept for the next call, as `GRID`.
    static FINE: RefCell<(Vec<u32>, Vec<[u32; 4]>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The occupied cells of a run of pixels (at most `PIXEL_CHUNK`), sorted by cell index.
fn chunk_cells(data: &[u8], channels: usize, bits: u32) -> Result<Vec<Cell>> {
    if bits > GRID_BITS {
        return fine_chunk_cells(data, channels, bits);
    }
    GRID.with(|g| {
        let mut grid = g.borrow_mut();
        let cells = 1usize << (3 * bits);
        if grid.len() < cells {
            *grid = zeroed::<[u32; 4]>(cells)?;
        }
        let mut touched: Vec<u32> = with_capacity((data.len() / channels.max(1)).min(cells))?;
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
        collect(touched.iter().map(|&i| {
            let e = std::mem::take(&mut grid[i as usize]);
            Cell { index: i, count: e[0] as u64, sum: [e[1] as u64, e[2] as u64, e[3] as u64] }
        }))
    })
}

/// `chunk_cells` for a grid finer than `GRID_BITS` (7 or 8 bits): a dense table would be 32 MiB (7 bits) or 256 MiB
/// of cells, whose first use alone costs thousands of page faults (about 25 ms for a Kodak image on this project's
/// machine, more than the whole quantization), so the cells live in blocks of sub-cells, one block per occupied
/// `GRID_BITS` cell, found through a 1 MiB table: memory in proportion to the colours the pixels occupy.
fn fine_chunk_cells(data: &[u8], channels: usize, bits: u32) -> Result<Vec<Cell>> {
    FINE.with(|f| {
        let mut fine = f.borrow_mut();
        let (slots, pool) = &mut *fine;
        if slots.len() < GRID_CELLS {
            *slots = zeroed::<u32>(GRID_CELLS)?;
        }
        let mut used: Vec<u32> = Vec::new();
        let cells = fine_cells_into(data, channels, bits, slots, pool, &mut used);
        // The table is all zeros again for the next call, whatever happened (an allocation may have failed).
        for &c in &used {
            if let Some(s) = slots.get_mut(c as usize) {
                *s = 0;
            }
        }
        cells
    })
}

/// `fine_chunk_cells`' work on a zeroed table; `used` gets every `GRID_BITS` cell whose slot it sets.
fn fine_cells_into(
    data: &[u8],
    channels: usize,
    bits: u32,
    slots: &mut [u32],
    pool: &mut Vec<[u32; 4]>,
    used: &mut Vec<u32>,
) -> Result<Vec<Cell>> {
    let sub = bits - GRID_BITS;
    let (kids, m, shift) = (1usize << (3 * sub), (1usize << sub) - 1, 8 - bits);
    pool.clear();
    for px in data.chunks_exact(channels) {
        let c = rgb_of(px, channels);
        let coarse = cell_of(c);
        let f = c.map(|v| (v >> shift) as usize & m);
        let child = (f[0] << (2 * sub)) | (f[1] << sub) | f[2];
        let Some(slot) = slots.get_mut(coarse) else { continue };
        if *slot == 0 {
            crate::alloc::reserve(pool, kids)?;
            crate::alloc::reserve(used, 1)?;
            pool.extend(std::iter::repeat_n([0u32; 4], kids));
            *slot = (pool.len() / kids) as u32;
            used.push(coarse as u32);
        }
        if let Some(e) = pool.get_mut((*slot as usize - 1) * kids + child) {
            e[0] += 1;
            e[1] += c[0] as u32;
            e[2] += c[1] as u32;
            e[3] += c[2] as u32;
        }
    }
    let occupied = pool.iter().filter(|e| e[0] > 0).count();
    let mut out: Vec<Cell> = with_capacity(occupied)?;
    let g = (1usize << GRID_BITS) - 1;
    for (block, &coarse) in used.iter().enumerate() {
        let coarse = coarse as usize;
        let (r, gg, b) = (coarse >> (2 * GRID_BITS), (coarse >> GRID_BITS) & g, coarse & g);
        for child in 0..kids {
            let e = pool.get(block * kids + child).copied().unwrap_or_default();
            if e[0] > 0 {
                let (rc, gc, bc) = (child >> (2 * sub), (child >> sub) & m, child & m);
                let index = (((r << sub) | rc) << (2 * bits)) | (((gg << sub) | gc) << bits) | ((b << sub) | bc);
                out.push(Cell {
                    index: index as u32,
                    count: e[0] as u64,
                    sum: [e[1] as u64, e[2] as u64, e[3] as u64],
                });
            }
        }
    }
    out.sort_unstable_by_key(|c| c.index);
    Ok(out)
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
    let mut parts: Vec<Vec<Cell>> = chunks.par_iter().map(|&(d, c)| chunk_cells(d, c, bits)).collect::<Result<_>>()?;
    if parts.len() == 1 {
        return Ok(parts.pop().unwrap_or_default());
    }
    // Merge: integer sums, so the order does not matter for the result.
    let mut all: Vec<Cell> = with_capacity(parts.iter().map(Vec::len).sum())?;
    for p in parts {
        all.extend(p);
    }
    all.sort_unstable_by_key(|c| c.index);
    let mut out: Vec<Cell> = with_capacity(all.len())?;
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
    let distinct = keys.windows(2).filter(|w| w[0] != w[1]).count() + usize::from(!keys.is_empty());
    let mut out: Vec<([u8; 3], u64)> = with_capacity(distinct)?;
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

/// The exact colour counts of a set of pixels: every distinct RGB colour (packed `r << 16 | g << 8 | b`, sorted,
/// without repeats) with its pixel count (>= 1). Sums of counts merge exactly, in any order, so the counts of a
/// dataset can be built image by image, on many machines, and still give the palette clustering all its pixels
/// together gives (`kmeans::palette_of_counts`): the grid cells with their exact sums, the distinct colours and the
/// exact Lloyd step on the pixels can all be computed from the colours and their counts.
///
/// Size: 12 bytes per distinct colour in memory, at most 2^24 colours (192 MiB) whatever the pixel count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColorCounts {
    colors: Vec<u32>,
    counts: Vec<u64>,
}

/// The number of RGB colours, the length of a dense count table (`ColorCounts::add_to_dense`).
pub const DENSE_COLORS: usize = 1 << 24;

/// Magic of `ColorCounts::to_bytes` (version 1).
const COUNTS_MAGIC: &[u8; 5] = b"QFCH\x01";

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = data.get(*pos) else {
            return Err(Error::value("data", "truncated colour histogram"));
        };
        *pos += 1;
        let part = u64::from(b & 0x7f);
        if shift == 63 && part > 1 {
            return Err(Error::value("data", "varint overflows 64 bits"));
        }
        v |= part << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Error::value("data", "varint overflows 64 bits"))
}

impl ColorCounts {
    /// The counts of the pixels of a set of images (alpha ignored, grey as `[v, v, v]`).
    pub fn of_images(images: &[ImageRef<'_>]) -> Result<Self> {
        let pairs = distinct_colors(images)?;
        let colors = collect(pairs.iter().map(|&(c, _)| pack_rgb(c)))?;
        let counts = collect(pairs.iter().map(|&(_, n)| n))?;
        Ok(ColorCounts { colors, counts })
    }

    /// Counts from sorted distinct packed colours (< 2^24) and counts (>= 1) of the same length.
    pub fn from_parts(colors: Vec<u32>, counts: Vec<u64>) -> Result<Self> {
        if colors.len() != counts.len() {
            return Err(Error::value("counts", "expected as many counts as colours"));
        }
        if colors.iter().any(|&c| c >= 1 << 24) || !colors.windows(2).all(|w| w[0] < w[1]) {
            return Err(Error::value("colors", "expected distinct sorted colours below 2^24"));
        }
        if counts.contains(&0) {
            return Err(Error::value("counts", "expected counts >= 1"));
        }
        Ok(ColorCounts { colors, counts })
    }

    /// The packed colours, sorted.
    pub fn colors(&self) -> &[u32] {
        &self.colors
    }

    /// The pixel count of each colour.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of distinct colours.
    pub fn len(&self) -> usize {
        self.colors.len()
    }

    /// Whether no pixel has been counted.
    pub fn is_empty(&self) -> bool {
        self.colors.is_empty()
    }

    /// The number of pixels counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// The sum of two histograms: a merge of two sorted lists, adding the counts of shared colours.
    pub fn merge(&self, other: &ColorCounts) -> Result<Self> {
        let n = self.len() + other.len();
        let (mut colors, mut counts): (Vec<u32>, Vec<u64>) = (with_capacity(n)?, with_capacity(n)?);
        let (mut i, mut j) = (0, 0);
        while i < self.len() || j < other.len() {
            let a = self.colors.get(i).copied().unwrap_or(u32::MAX);
            let b = other.colors.get(j).copied().unwrap_or(u32::MAX);
            let (c, n) = if a < b {
                i += 1;
                (a, self.counts[i - 1])
            } else if b < a {
                j += 1;
                (b, other.counts[j - 1])
            } else {
                i += 1;
                j += 1;
                let s = self.counts[i - 1].checked_add(other.counts[j - 1]);
                (a, s.ok_or_else(|| Error::value("histogram", "pixel count overflows 64 bits"))?)
            };
            colors.push(c);
            counts.push(n);
        }
        Ok(ColorCounts { colors, counts })
    }

    /// Adds the counts into a dense table of `2^24` counts, one per colour (`DENSE_COLORS`): summing many
    /// histograms this way costs one pass over each and a fixed 128 MiB, however many there are.
    pub fn add_to_dense(&self, dense: &mut [u64]) -> Result<()> {
        if dense.len() != DENSE_COLORS {
            return Err(Error::value("dense", format!("expected {DENSE_COLORS} counts, got {}", dense.len())));
        }
        for (&c, &n) in self.colors.iter().zip(&self.counts) {
            // `c < 2^24 = dense.len()` is an invariant of `ColorCounts`.
            let e = &mut dense[c as usize];
            *e = e.checked_add(n).ok_or_else(|| Error::value("histogram", "pixel count overflows 64 bits"))?;
        }
        Ok(())
    }

    /// The counts of a dense table of `2^24` counts (the colours with a non-zero count).
    pub fn from_dense(dense: &[u64]) -> Result<Self> {
        if dense.len() != DENSE_COLORS {
            return Err(Error::value("dense", format!("expected {DENSE_COLORS} counts, got {}", dense.len())));
        }
        let n = dense.par_iter().filter(|&&v| v > 0).count();
        let (mut colors, mut counts): (Vec<u32>, Vec<u64>) = (with_capacity(n)?, with_capacity(n)?);
        for (c, &v) in dense.iter().enumerate().filter(|(_, v)| **v > 0) {
            colors.push(c as u32);
            counts.push(v);
        }
        Ok(ColorCounts { colors, counts })
    }

    /// The occupied cells of a grid of `bits` (1..=8) bits per channel, sorted by index: equal to `histogram` of the
    /// pixels counted.
    pub fn cells(&self, bits: u32) -> Result<Vec<Cell>> {
        if !(1..=8).contains(&bits) {
            return Err(Error::value("bits", format!("expected 1..8, got {bits}")));
        }
        let mut keyed: Vec<(u32, u32)> = collect(
            self.colors.iter().enumerate().map(|(i, &c)| (cell_of_bits(unpack_rgb(c), bits) as u32, i as u32)),
        )?;
        keyed.par_sort_unstable();
        let mut out: Vec<Cell> = with_capacity(keyed.len())?;
        for (ci, i) in keyed {
            let (c, n) = (unpack_rgb(self.colors[i as usize]), self.counts[i as usize]);
            let add = [0, 1, 2].map(|t| c[t] as u64 * n);
            match out.last_mut() {
                Some(last) if last.index == ci => {
                    last.count += n;
                    for (a, b) in last.sum.iter_mut().zip(add) {
                        *a += b;
                    }
                }
                _ => out.push(Cell { index: ci, count: n, sum: add }),
            }
        }
        Ok(out)
    }

    /// The occupied cells of a dense table of `DENSE_COLORS` counts (`add_to_dense`) on a grid of `bits` (1..=8)
    /// bits per channel, sorted by index: `cells` of the same counts, without listing the colours (so a palette of a
    /// dataset's sum costs the table and the cells, however many colours it holds). One sequential pass over the
    /// table, a slab of red values per task.
    pub fn dense_cells(dense: &[u64], bits: u32) -> Result<Vec<Cell>> {
        if dense.len() != DENSE_COLORS {
            return Err(Error::value("dense", format!("expected {DENSE_COLORS} counts, got {}", dense.len())));
        }
        if !(1..=8).contains(&bits) {
            return Err(Error::value("bits", format!("expected 1..8, got {bits}")));
        }
        let (side, shift) = (1usize << bits, 8 - bits);
        let slabs: Vec<Result<Vec<Cell>>> = (0..side)
            .into_par_iter()
            .map(|ri| {
                // [count, sum r, sum g, sum b] of each (g, b) cell of this red slab.
                let mut acc = zeroed::<[u64; 4]>(side * side)?;
                for r in ri << shift..(ri + 1) << shift {
                    for (gb, &n) in dense[r << 16..(r + 1) << 16].iter().enumerate() {
                        if n > 0 {
                            let (g, b) = (gb >> 8, gb & 255);
                            let a = &mut acc[((g >> shift) << bits) | (b >> shift)];
                            a[0] += n;
                            a[1] += r as u64 * n;
                            a[2] += g as u64 * n;
                            a[3] += b as u64 * n;
                        }
                    }
                }
                let occupied = acc.iter().filter(|a| a[0] > 0).count();
                let mut out = with_capacity(occupied)?;
                for (i, a) in acc.iter().enumerate().filter(|(_, a)| a[0] > 0) {
                    out.push(Cell { index: ((ri << (2 * bits)) | i) as u32, count: a[0], sum: [a[1], a[2], a[3]] });
                }
                Ok(out)
            })
            .collect();
        let mut cells = Vec::new();
        for slab in slabs {
            let slab = slab?;
            crate::alloc::reserve(&mut cells, slab.len())?;
            cells.extend(slab);
        }
        Ok(cells)
    }

    /// Compact bytes: a magic, the colour count, then per colour the gap to the previous one and the count, as
    /// LEB128 varints (about 2 to 4 bytes per colour for a photo).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out: Vec<u8> = with_capacity(COUNTS_MAGIC.len() + 10 + 4 * self.len())?;
        out.extend_from_slice(COUNTS_MAGIC);
        put_varint(&mut out, self.len() as u64);
        let mut prev = 0u32;
        for (i, (&c, &n)) in self.colors.iter().zip(&self.counts).enumerate() {
            put_varint(&mut out, u64::from(if i == 0 { c } else { c - prev }));
            put_varint(&mut out, n);
            prev = c;
        }
        Ok(out)
    }

    /// Parses `to_bytes`; every byte is checked (sizes before allocating, colours increasing below 2^24, counts >= 1,
    /// no trailing bytes).
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        if !data.starts_with(COUNTS_MAGIC) {
            return Err(Error::value("data", "not a qfast colour histogram (bad magic or version)"));
        }
        let mut pos = COUNTS_MAGIC.len();
        let n = get_varint(data, &mut pos)?;
        // Each colour takes at least 2 bytes, so a count beyond that is a lie: check before allocating.
        if n > (data.len() - pos) as u64 / 2 || n > 1 << 24 {
            return Err(Error::value("data", format!("colour count {n} does not fit the data")));
        }
        let n = n as usize;
        let (mut colors, mut counts): (Vec<u32>, Vec<u64>) = (with_capacity(n)?, with_capacity(n)?);
        let mut prev = 0u64;
        for i in 0..n {
            let gap = get_varint(data, &mut pos)?;
            if i > 0 && gap == 0 {
                return Err(Error::value("data", "colours are not increasing"));
            }
            let c = prev.saturating_add(gap);
            if c >= 1 << 24 {
                return Err(Error::value("data", "colour out of range"));
            }
            let count = get_varint(data, &mut pos)?;
            if count == 0 {
                return Err(Error::value("data", "zero count"));
            }
            colors.push(c as u32);
            counts.push(count);
            prev = c;
        }
        if pos != data.len() {
            return Err(Error::value("data", "trailing bytes after the colour histogram"));
        }
        Ok(ColorCounts { colors, counts })
    }
}

/// A colour packed as `r << 16 | g << 8 | b`.
#[inline(always)]
pub fn pack_rgb(c: [u8; 3]) -> u32 {
    (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32
}

/// The colour of `pack_rgb`.
#[inline(always)]
pub fn unpack_rgb(c: u32) -> [u8; 3] {
    [(c >> 16) as u8, (c >> 8) as u8, c as u8]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palette::seeding::SplitMix;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut r = SplitMix(seed);
        (0..n).map(|_| r.next_u64() as u8).collect()
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
    fn coarsen_sums_children_into_parents() {
        let data = noise(3 * 100_000, 8);
        let im = [ImageRef { data: &data, channels: 3 }];
        let fine = histogram(&im, FINE_BITS).unwrap();
        let (coarse, parent) = coarsen(&fine, FINE_BITS).unwrap();
        assert_eq!(coarse, histogram(&im, GRID_BITS).unwrap());
        for (f, &p) in fine.iter().zip(&parent) {
            let c = &coarse[p as usize];
            let [r, g, b] = f.sum.map(|s| (s / f.count) as u8);
            assert_eq!(c.index as usize, cell_of([r, g, b]));
        }
        assert_eq!(coarse_cells(&fine, FINE_BITS).unwrap(), coarse.iter().map(|c| c.index).collect::<Vec<_>>());
    }

    #[test]
    fn counts_give_the_histogram_and_merge_exactly() {
        let a = noise(3 * 50_000, 11).iter().map(|v| v & 0xf8).collect::<Vec<u8>>();
        let b = noise(4 * 30_000, 12).iter().map(|v| v & 0xf0).collect::<Vec<u8>>();
        let (ia, ib) = (ImageRef { data: &a, channels: 3 }, ImageRef { data: &b, channels: 4 });
        let sum = ColorCounts::of_images(&[ia]).unwrap().merge(&ColorCounts::of_images(&[ib]).unwrap()).unwrap();
        assert_eq!(sum.total(), 80_000);
        for bits in [GRID_BITS, FINE_BITS, 8] {
            let direct = histogram(&[ia, ib], bits).unwrap();
            assert_eq!(sum.cells(bits).unwrap(), direct);
        }
        let want: Vec<u32> = distinct_colors(&[ia, ib]).unwrap().iter().map(|&(c, _)| pack_rgb(c)).collect();
        assert_eq!(sum.colors(), want.as_slice());
        assert_eq!(ColorCounts::from_bytes(&sum.to_bytes().unwrap()).unwrap(), sum);
        let mut dense = zeroed::<u64>(DENSE_COLORS).unwrap();
        ColorCounts::of_images(&[ia]).unwrap().add_to_dense(&mut dense).unwrap();
        ColorCounts::of_images(&[ib]).unwrap().add_to_dense(&mut dense).unwrap();
        assert_eq!(ColorCounts::from_dense(&dense).unwrap(), sum);
        for bits in [1, GRID_BITS, FINE_BITS, 8] {
            assert_eq!(ColorCounts::dense_cells(&dense, bits).unwrap(), histogram(&[ia, ib], bits).unwrap());
        }
        assert!(ColorCounts::dense_cells(&dense, 0).is_err() && ColorCounts::dense_cells(&dense[1..], 6).is_err());
        assert!(sum.add_to_dense(&mut dense[1..]).is_err());
    }

    #[test]
    fn counts_bytes_reject_hostile_input() {
        let h = ColorCounts::from_parts(vec![1, 5, 0xffffff], vec![3, 1, 7]).unwrap();
        let good = h.to_bytes().unwrap();
        assert!(ColorCounts::from_bytes(&good[..good.len() - 1]).is_err());
        assert!(ColorCounts::from_bytes(b"QFCH\x02\x00").is_err());
        assert!(ColorCounts::from_bytes(b"QFCH\x01\xff\xff\xff\x7f").is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(ColorCounts::from_bytes(&trailing).is_err());
        assert!(ColorCounts::from_bytes(b"QFCH\x01\x02\x01\x01\x00\x01").is_err()); // repeated colour
        assert!(ColorCounts::from_parts(vec![2, 1], vec![1, 1]).is_err());
        assert!(ColorCounts::from_parts(vec![1], vec![0]).is_err());
        assert_eq!(ColorCounts::from_bytes(&ColorCounts::default().to_bytes().unwrap()).unwrap().len(), 0);
    }
}
