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

/// The occupied cells of a run of pixels (at most `PIXEL_CHUNK`), sorted by cell index.
fn chunk_cells(data: &[u8], channels: usize, bits: u32) -> Result<Vec<Cell>> {
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
}
