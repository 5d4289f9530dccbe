//! Exact nearest-palette-colour mapping, accelerated by a grid of candidate lists.
//!
//! For each histogram grid cell (`histogram::cell_of`) that holds a pixel, the palette colours that can be the nearest
//! to any point of the cell's box are listed once: with `c` the box centre, `r` its half-diagonal and `d0` the
//! distance from `c` to its nearest palette colour, a colour `p` can only win for some `x` in the box if
//! `|c - p| <= d0 + 2r` (triangle inequality). Most cells have one or a few candidates, so a pixel costs a lookup and
//! a handful of integer distances instead of `k`. Ties go to the lowest palette index, as a brute-force argmin.
//!
//! In Oklab the box argument does not hold (the map is not uniformly Lipschitz near black), so pixels are compared
//! with every palette colour there: exact, but slower.

use crate::alloc::{collect, filled, reserve, with_capacity, zeroed};
use crate::error::{Error, Result};
use crate::palette::color_space::ColorSpace;
use crate::palette::histogram::{cell_of, rgb_of, ImageRef, GRID_BITS, GRID_CELLS};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Pixels per parallel work item.
const PIXEL_CHUNK: usize = 1 << 15;
/// How many levels above the cells `nearest_f32_shared` builds the lists of cells that were not prepared (2: boxes
/// of 4x4x4 cells).
const LAZY_UP: u32 = 2;
/// "No candidate list yet" in `Nearest::slot`.
const NONE: u32 = u32::MAX;
/// Marks a `Nearest::slot` entry that holds its one candidate (low 16 bits) instead of a list index.
const SINGLE: u32 = 1 << 31;

/// The most colours a palette may have (indices are u16).
pub const MAX_COLORS: usize = 1 << 16;

/// Checks a palette: 1..=`MAX_COLORS` colours.
pub fn check_palette(palette: &[[u8; 3]]) -> Result<()> {
    if palette.is_empty() || palette.len() > MAX_COLORS {
        return Err(Error::value("palette", format!("expected 1..{MAX_COLORS} colours, got {}", palette.len())));
    }
    Ok(())
}

/// A nearest-colour searcher for one palette.
pub struct Nearest {
    space: ColorSpace,
    rgb: Vec<[u8; 3]>,
    points: Vec<[f32; 3]>,
    /// Per grid cell: the index into `lists` of its candidate list, or `NONE`.
    slot: Vec<u32>,
    /// `(start, len)` of each candidate list in `cands`.
    lists: Vec<(u32, u32)>,
    /// Candidates as `[r, g, b, index]`, so a search reads one contiguous run.
    cands: Vec<[u16; 4]>,
    /// `[r, g, b, i]` for each palette index i: the one-candidate lists.
    cands_single: Vec<[u16; 4]>,
    /// Half the width of a cell's box: 1.5 for exact byte colours, 2 when float colours are rounded into cells.
    half: f32,
    /// Candidates of the parent boxes (2x2x2 cells) that `nearest_f32` has needed: per parent, the index into
    /// `parent_lists` plus one (0: not yet).
    parent_slot: Vec<u32>,
    parent_lists: Vec<Vec<u16>>,
    /// Per box of `LAZY_UP` levels up (4x4x4 cells), its candidates as `[r, g, b, index]`, built on first use by any
    /// thread and searched for every cell of the box that was not prepared (`nearest_f32_shared`; empty until
    /// `share_lazily`).
    lazy_boxes: Vec<OnceLock<Box<[[u16; 4]]>>>,
}

impl Nearest {
    /// A searcher for `palette` (1..=`MAX_COLORS` colours) in `space`. Candidate lists are filled by `prepare` or on demand.
    pub fn new(palette: &[[u8; 3]], space: ColorSpace) -> Result<Self> {
        Self::with_box(palette, space, 1.5)
    }

    /// A searcher for float colours (`nearest_f32`, error diffusion): each cell's box is widened by half a level.
    pub fn for_floats(palette: &[[u8; 3]], space: ColorSpace) -> Result<Self> {
        Self::with_box(palette, space, 2.0)
    }

    fn with_box(palette: &[[u8; 3]], space: ColorSpace, half: f32) -> Result<Self> {
        check_palette(palette)?;
        let points = collect(palette.iter().map(|c| space.point(c.map(f32::from))))?;
        let slot = if space == ColorSpace::Rgb { filled(GRID_CELLS, NONE)? } else { Vec::new() };
        let cands_single =
            collect(palette.iter().enumerate().map(|(i, c)| [c[0].into(), c[1].into(), c[2].into(), i as u16]))?;
        let (lists, cands) = (Vec::new(), Vec::new());
        let (parent_slot, parent_lists) = (Vec::new(), Vec::new());
        Ok(Nearest {
            space,
            rgb: palette.to_vec(),
            points,
            slot,
            lists,
            cands,
            cands_single,
            half,
            parent_slot,
            parent_lists,
            lazy_boxes: Vec::new(),
        })
    }

    /// Makes room for `nearest_f32_shared`: a cell not prepared is searched through the list of the box of 4x4x4
    /// cells around it, built on first use by whichever thread needs it, once for all threads (RGB only; nothing to
    /// do in Oklab).
    pub fn share_lazily(&mut self) -> Result<()> {
        if self.space == ColorSpace::Rgb {
            if self.slot.iter().all(|&s| s == NONE) {
                // Nothing prepared: no cell table to look in first (a miss in a megabyte-sized table a pixel).
                self.slot = Vec::new();
            }
            self.lazy_boxes = collect((0..1usize << (3 * (GRID_BITS - LAZY_UP))).map(|_| OnceLock::new()))?;
        }
        Ok(())
    }

    /// The palette.
    pub fn palette(&self) -> &[[u8; 3]] {
        &self.rgb
    }

    /// The centre of grid cell `cell`'s box of byte values.
    fn cell_centre(cell: usize) -> [f32; 3] {
        let w = (1u32 << (8 - GRID_BITS)) as f32;
        let m = (1 << GRID_BITS) - 1;
        let coord = [cell >> (2 * GRID_BITS), (cell >> GRID_BITS) & m, cell & m];
        coord.map(|i| i as f32 * w + (w - 1.0) / 2.0)
    }

    /// The parent (a grid half as fine: 2x2x2 cells) of grid cell `cell`.
    fn parent_of(cell: u32) -> u32 {
        Self::ancestor_of(cell, 1)
    }

    /// The box `up` levels above grid cell `cell` (a grid 2^up times coarser: 2^up cells a side).
    fn ancestor_of(cell: u32, up: u32) -> u32 {
        let (b, m) = (GRID_BITS - up, (1u32 << GRID_BITS) - 1);
        let (r, g, bl) = (cell >> (2 * GRID_BITS), (cell >> GRID_BITS) & m, cell & m);
        ((r >> up) << (2 * b)) | ((g >> up) << b) | (bl >> up)
    }

    /// The candidates of parent box `p` among all colours (a box covering its 2x2x2 cells' boxes).
    fn parent_candidates(rgb: &[[u8; 3]], half: f32, p: usize) -> Vec<u16> {
        Self::ancestor_candidates(rgb, half, p, 1)
    }

    /// The candidates among all colours of box `p`, `up` levels above the cells, for cells of half-width `half`:
    /// its box covers its cells' boxes, each `2 * half` wide around its centre.
    fn ancestor_candidates(rgb: &[[u8; 3]], half: f32, p: usize, up: u32) -> Vec<u16> {
        let b = GRID_BITS - up;
        let (cw, pw) = ((1u32 << (8 - GRID_BITS)) as f32, (1u32 << (8 - b)) as f32);
        let m = (1 << b) - 1;
        let pc = [p >> (2 * b), (p >> b) & m, p & m].map(|i| i as f32 * pw + (pw - 1.0) / 2.0);
        let all: Vec<u16> = (0..rgb.len()).map(|i| i as u16).collect();
        Self::box_candidates(rgb, &all, pc, half + (pw - cw) / 2.0)
    }

    /// The candidates of grid cell `cell`, from its parent's (found once per parent and kept).
    fn cell_candidates(&mut self, cell: usize) -> Vec<u16> {
        let p = Self::parent_of(cell as u32) as usize;
        if self.parent_slot.is_empty() {
            self.parent_slot = vec![0; 1 << (3 * (GRID_BITS - 1))];
        }
        let at = match self.parent_slot.get(p) {
            Some(&s) if s > 0 => s as usize - 1,
            _ => {
                self.parent_lists.push(Self::parent_candidates(&self.rgb, self.half, p));
                if let Some(s) = self.parent_slot.get_mut(p) {
                    *s = self.parent_lists.len() as u32;
                }
                self.parent_lists.len() - 1
            }
        };
        let among = self.parent_lists.get(at).map_or(&[][..], |l| &l[..]);
        Self::box_candidates(&self.rgb, among, Self::cell_centre(cell), self.half)
    }

    /// Every colour of `among` that can be the nearest (or tie for nearest) to some point of the box with centre
    /// `c` and half-width `half`. `among` must hold every such colour of the palette, in ascending index order
    /// (the result keeps that order).
    fn box_candidates(rgb: &[[u8; 3]], among: &[u16], c: [f32; 3], half: f32) -> Vec<u16> {
        let col = |i: u16| rgb.get(i as usize).copied().unwrap_or_default();
        let r = (3.0f32).sqrt() * half;
        let mut near: Vec<(f32, u16)> = among
            .iter()
            .map(|&i| {
                let p = col(i);
                let (x, y, z) = (p[0] as f32 - c[0], p[1] as f32 - c[1], p[2] as f32 - c[2]);
                (x * x + y * y + z * z, i)
            })
            .collect();
        let d0 = near.iter().map(|x| x.0).fold(f32::INFINITY, f32::min).sqrt();
        let limit = (d0 + 2.0 * r + 1e-3) * (d0 + 2.0 * r + 1e-3);
        near.retain(|x| x.0 <= limit);
        if near.len() <= 1 {
            return near.into_iter().map(|(_, i)| i).collect();
        }
        // Drop a colour p when one of the three colours nearest the centre, q, is strictly nearer than p to every
        // point of the box: |x-p|^2 - |x-q|^2 = |p|^2 - |q|^2 - 2 x.(p-q) is linear in x, so its minimum over the box
        // is at a corner. Exact in f64 (all values are multiples of 0.5), and ties are kept, so the lowest index
        // still wins.
        let lo = c.map(|v| v as f64 - half as f64);
        let hi = c.map(|v| v as f64 + half as f64);
        let colf = |i: u16| col(i).map(f64::from);
        let dominated = |p: [f64; 3], q: [f64; 3]| {
            let mut m: f64 = (0..3).map(|t| p[t] * p[t] - q[t] * q[t]).sum();
            for t in 0..3 {
                let a = -2.0 * (p[t] - q[t]);
                m += (a * lo[t]).min(a * hi[t]);
            }
            m > 0.0
        };
        let mut top = [(f32::INFINITY, 0u16); 3];
        for &(d, i) in &near {
            if d < top[2].0 {
                top[2] = (d, i);
                if top[2].0 < top[1].0 {
                    top.swap(1, 2);
                    if top[1].0 < top[0].0 {
                        top.swap(0, 1);
                    }
                }
            }
        }
        let judges: Vec<[f64; 3]> = top.iter().filter(|t| t.0.is_finite()).map(|&(_, i)| colf(i)).collect();
        // `among` is in ascending index order and so is `near`: a strict `<` scan keeps the lowest index on ties.
        near.iter()
            .filter(|&&(_, i)| {
                let p = colf(i);
                !judges.iter().any(|&q| q != p && dominated(p, q))
            })
            .map(|&(_, i)| i)
            .collect()
    }

    /// Fills the candidate lists of `cells` (grid indices, no duplicates, not yet filled) in parallel.
    ///
    /// Two levels: cells are grouped by their parent in a grid half as fine (2x2x2 cells), the parent's box gets
    /// candidates from the whole palette, and each cell's from its parent's few. With 256 colours this is several
    /// times less work than searching the palette for every cell.
    pub fn prepare(&mut self, cells: &[u32]) -> Result<()> {
        if self.space != ColorSpace::Rgb {
            return Ok(());
        }
        let mut keyed: Vec<(u32, u32)> = collect(cells.iter().map(|&c| (Self::parent_of(c), c)))?;
        keyed.sort_unstable();
        let mut groups: Vec<&[(u32, u32)]> = Vec::new();
        let mut start = 0;
        for i in 1..=keyed.len() {
            if i == keyed.len() || keyed[i].0 != keyed[start].0 {
                groups.push(&keyed[start..i]);
                start = i;
            }
        }
        let (rgb, half) = (&self.rgb, self.half);
        let lists: Vec<Vec<(u32, Vec<u16>)>> = groups
            .par_iter()
            .map(|g| {
                let p = g.first().map(|x| x.0).unwrap_or(0) as usize;
                let plist = Self::parent_candidates(rgb, half, p);
                g.iter()
                    .map(|&(_, c)| (c, Self::box_candidates(rgb, &plist, Self::cell_centre(c as usize), half)))
                    .collect()
            })
            .collect();
        reserve(&mut self.lists, cells.len())?;
        let total: usize = lists.iter().flatten().map(|(_, l)| if l.len() == 1 { 0 } else { l.len() }).sum();
        reserve(&mut self.cands, total)?;
        for (c, l) in lists.into_iter().flatten() {
            self.push_list(c as usize, &l);
        }
        Ok(())
    }

    fn push_list(&mut self, cell: usize, l: &[u16]) {
        if let Some(s) = self.slot.get_mut(cell) {
            if let [only] = l {
                // One candidate: stored in the slot itself.
                *s = SINGLE | u32::from(*only);
                return;
            }
            *s = self.lists.len() as u32;
            self.lists.push((self.cands.len() as u32, l.len() as u32));
            self.cands.extend(Self::entries(&self.rgb, l));
        }
    }

    /// The candidates of a cell if they were prepared.
    #[inline(always)]
    fn list(&self, cell: usize) -> Option<&[[u16; 4]]> {
        let s = *self.slot.get(cell)?;
        if s & SINGLE != 0 && s != NONE {
            let i = (s & 0xFFFF) as usize;
            return self.cands_single.get(i..i + 1);
        }
        let &(start, len) = self.lists.get(s as usize)?;
        self.cands.get(start as usize..(start + len) as usize)
    }

    /// The nearest palette index to an exact colour (ties: the lowest index). In RGB the colour's cell must have
    /// been prepared; an unprepared cell falls back to comparing every colour.
    #[inline]
    pub fn nearest_u8(&self, c: [u8; 3]) -> u16 {
        if self.space == ColorSpace::Rgb {
            if let Some(l) = self.list(cell_of(c)) {
                if let [only] = l {
                    return only[3];
                }
                // Branch-free argmin: squared distance (< 2^18) above the index (16 bits), so the smallest key is
                // the nearest colour and, among equals, the lowest index.
                let mut best = u64::MAX;
                for p in l {
                    let (x, y, z) = (p[0] as i32 - c[0] as i32, p[1] as i32 - c[1] as i32, p[2] as i32 - c[2] as i32);
                    let d = (x * x + y * y + z * z) as u64;
                    best = best.min(d << 16 | p[3] as u64);
                }
                return best as u16;
            }
        }
        self.brute(self.space.point(c.map(f32::from)))
    }

    /// The nearest palette index to a point of the space, comparing every colour (ties: the lowest index).
    #[inline]
    pub fn brute(&self, p: [f32; 3]) -> u16 {
        let (mut best, mut bd) = (0usize, f32::INFINITY);
        for (i, q) in self.points.iter().enumerate() {
            let (x, y, z) = (q[0] - p[0], q[1] - p[1], q[2] - p[2]);
            let d = x * x + y * y + z * z;
            if d < bd {
                bd = d;
                best = i;
            }
        }
        best as u16
    }

    /// The nearest palette index to an sRGB colour given as floats in 0..255 (for error diffusion). In RGB the
    /// candidate list of the rounded colour's cell is filled on first use. Make the searcher with `for_floats`.
    pub fn nearest_f32(&mut self, v: [f32; 3]) -> u16 {
        if self.space != ColorSpace::Rgb {
            return self.brute(self.space.point(v));
        }
        let cell = cell_of(v.map(round_byte));
        if self.list(cell).is_none() {
            let l = self.cell_candidates(cell);
            self.push_list(cell, &l);
        }
        let Some(l) = self.list(cell) else { return self.brute(v) };
        Self::search_f32(l, v)
    }

    /// `nearest_f32` from several threads at once: a cell that was not prepared is searched through the candidates
    /// of the box of 4 x 4 x 4 cells around it, built on first use by whichever thread needs them and kept for all
    /// (after `share_lazily`; without it such a cell is compared with every colour). The same answer as
    /// `nearest_f32`: the box's list holds every colour that can be nearest anywhere in it, in index order.
    ///
    /// Why a box of 4 x 4 x 4 cells rather than the cell: Floyd-Steinberg's values stray into tens of thousands of
    /// cells around the image's, each met a few times (on four Kodak images at K = 256, 40% of the pixels). Lists
    /// of 2 x 2 x 2 cells were 2.8 colours long but each cost about 3.5 us to build, a quarter of the whole
    /// diffusion; a box 8 times larger is built 4 to 8 times less often, and its longer list costs a few ns more a
    /// search.
    pub fn nearest_f32_shared(&self, v: [f32; 3]) -> u16 {
        if self.space != ColorSpace::Rgb {
            return self.brute(self.space.point(v));
        }
        let cell = cell_of(v.map(round_byte));
        let l = match self.list(cell) {
            Some(l) => l,
            None => {
                let p = Self::ancestor_of(cell as u32, LAZY_UP) as usize;
                match self.lazy_boxes.get(p) {
                    Some(once) => once.get_or_init(|| self.box_entries(p)),
                    None => return self.brute(v),
                }
            }
        };
        Self::search_f32(l, v)
    }

    /// Builds, in parallel, the lists `nearest_f32_shared` searches for the colours of `img` (after `share_lazily`;
    /// nothing to do without it, or in Oklab).
    pub fn build_boxes_of(&self, img: ImageRef<'_>) -> Result<()> {
        let count = self.lazy_boxes.len();
        if count == 0 {
            return Ok(());
        }
        let mut seen = zeroed::<bool>(count)?;
        let parts: Vec<Vec<bool>> = img
            .data
            .par_chunks(PIXEL_CHUNK * img.channels)
            .map(|part| {
                let mut seen = vec![false; count];
                for px in part.chunks_exact(img.channels) {
                    let cell = cell_of(rgb_of(px, img.channels)) as u32;
                    if let Some(s) = seen.get_mut(Self::ancestor_of(cell, LAZY_UP) as usize) {
                        *s = true;
                    }
                }
                seen
            })
            .collect();
        for part in parts {
            for (s, p) in seen.iter_mut().zip(part) {
                *s |= p;
            }
        }
        let boxes: Vec<usize> = seen.iter().enumerate().filter(|(_, &s)| s).map(|(i, _)| i).collect();
        boxes.par_iter().for_each(|&p| {
            if let Some(once) = self.lazy_boxes.get(p) {
                once.get_or_init(|| self.box_entries(p));
            }
        });
        Ok(())
    }

    /// The candidates of box `p` (`LAZY_UP` levels up) as `[r, g, b, index]`.
    fn box_entries(&self, p: usize) -> Box<[[u16; 4]]> {
        Self::entries(&self.rgb, &Self::ancestor_candidates(&self.rgb, self.half, p, LAZY_UP)).collect()
    }

    /// Palette indices `ids` as search entries `[r, g, b, index]`.
    fn entries<'a>(rgb: &'a [[u8; 3]], ids: &'a [u16]) -> impl Iterator<Item = [u16; 4]> + 'a {
        ids.iter().filter_map(|&i| rgb.get(i as usize).map(|c| [c[0].into(), c[1].into(), c[2].into(), i]))
    }

    /// The nearest of candidates `l` (in index order) to `v` (ties: the lowest index).
    #[inline(always)]
    fn search_f32(l: &[[u16; 4]], v: [f32; 3]) -> u16 {
        if let [only] = l {
            return only[3];
        }
        // Branch-free argmin: a non-negative f32 orders like its bits, so (distance bits, index) as one integer
        // finds the nearest colour and, among equals, the lowest index (as a strict `<` scan in index order).
        let mut best = u64::MAX;
        for p in l {
            let (x, y, z) = (p[0] as f32 - v[0], p[1] as f32 - v[1], p[2] as f32 - v[2]);
            let d = x * x + y * y + z * z;
            best = best.min(u64::from(d.to_bits()) << 16 | p[3] as u64);
        }
        best as u16
    }

    /// The occupied cells of an image, sorted (RGB only; empty otherwise).
    pub fn cells_of(&self, img: ImageRef<'_>) -> Result<Vec<u32>> {
        if self.space != ColorSpace::Rgb {
            return Ok(Vec::new());
        }
        let mut seen = zeroed::<bool>(GRID_CELLS)?;
        for px in img.data.chunks_exact(img.channels) {
            if let Some(s) = seen.get_mut(cell_of(rgb_of(px, img.channels))) {
                *s = true;
            }
        }
        let mut out = with_capacity(seen.iter().filter(|&&s| s).count())?;
        out.extend(seen.iter().enumerate().filter(|(_, &s)| s).map(|(i, _)| i as u32));
        Ok(out)
    }
}

/// `x.round().clamp(0.0, 255.0) as u8` for a finite `x`, without a call into libm: for `x` in 0..256 the fraction
/// `x - trunc(x)` is exact, so this rounds half away from zero exactly as `round` does.
#[inline(always)]
fn round_byte(x: f32) -> u8 {
    let x = x.clamp(0.0, 255.0);
    let t = x as u32;
    (t + u32::from(x - t as f32 >= 0.5)).min(255) as u8
}

/// Each pixel's nearest palette index (ties: the lowest index), in parallel. `img.channels` 1..=4; alpha ignored.
pub fn remap(img: ImageRef<'_>, palette: &[[u8; 3]], space: ColorSpace) -> Result<Vec<u16>> {
    img.check("image")?;
    let mut nearest = Nearest::new(palette, space)?;
    let cells = nearest.cells_of(img)?;
    nearest.prepare(&cells)?;
    remap_with(img, &nearest)
}

/// `remap` with a prepared searcher (every cell of the image prepared, in RGB).
pub fn remap_with(img: ImageRef<'_>, nearest: &Nearest) -> Result<Vec<u16>> {
    img.check("image")?;
    let ch = img.channels;
    let mut out = zeroed::<u16>(img.pixels())?;
    out.par_chunks_mut(PIXEL_CHUNK).zip(img.data.par_chunks(PIXEL_CHUNK * ch)).for_each(|(o, s)| {
        // Runs of equal pixels (flat areas) are common: reuse the last answer.
        let mut last: Option<([u8; 3], u16)> = None;
        for (oi, px) in o.iter_mut().zip(s.chunks_exact(ch)) {
            let c = rgb_of(px, ch);
            *oi = match last {
                Some((lc, li)) if lc == c => li,
                _ => {
                    let i = nearest.nearest_u8(c);
                    last = Some((c, i));
                    i
                }
            };
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, mut s: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    fn brute_rgb(c: [u8; 3], pal: &[[u8; 3]]) -> u16 {
        let d = |p: &[u8; 3]| (0..3).map(|t| (p[t] as i32 - c[t] as i32).pow(2)).sum::<i32>();
        let mut best = 0;
        for (i, p) in pal.iter().enumerate() {
            if d(p) < d(&pal[best]) {
                best = i;
            }
        }
        best as u16
    }

    #[test]
    fn remap_is_the_brute_force_nearest() {
        for (k, seed) in [(1usize, 1u64), (2, 2), (16, 3), (255, 4), (256, 5), (300, 6), (4096, 7)] {
            let pal: Vec<[u8; 3]> = noise(3 * k, seed).chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
            let data = noise(3 * 50_000, seed + 100);
            let got = remap(ImageRef { data: &data, channels: 3 }, &pal, ColorSpace::Rgb).unwrap();
            for (px, &g) in data.chunks(3).zip(&got) {
                assert_eq!(g, brute_rgb([px[0], px[1], px[2]], &pal));
            }
        }
    }

    #[test]
    fn ties_go_to_the_lowest_index_and_duplicates_are_fine() {
        let pal = vec![[10, 10, 10], [0, 0, 0], [20, 20, 20], [0, 0, 0]];
        let data = [10u8, 10, 10, 5, 5, 5, 15, 15, 15, 0, 0, 0];
        let got = remap(ImageRef { data: &data, channels: 3 }, &pal, ColorSpace::Rgb).unwrap();
        // (5, 5, 5) is as far from 0 as from 1, (15, 15, 15) as from 0 as from 2: the lower index wins.
        assert_eq!(got, vec![0, 0, 0, 1]);
    }

    #[test]
    fn float_search_matches_brute_force() {
        let pal: Vec<[u8; 3]> = noise(3 * 40, 7).chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let mut n = Nearest::for_floats(&pal, ColorSpace::Rgb).unwrap();
        let vals = noise(3 * 5000, 8);
        for (t, v) in vals.chunks(3).enumerate() {
            let f = [v[0] as f32 + 0.49 * ((t % 3) as f32 - 1.0), v[1] as f32 - 0.3, v[2] as f32 + 0.2];
            let f = f.map(|x| x.clamp(0.0, 255.0));
            let got = n.nearest_f32(f);
            assert_eq!(got, n.brute(f), "{f:?}");
        }
    }

    #[test]
    fn shared_float_search_matches_brute_force() {
        for k in [2usize, 40, 256, 300] {
            let pal: Vec<[u8; 3]> = noise(3 * k, 17 + k as u64).chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
            let mut n = Nearest::for_floats(&pal, ColorSpace::Rgb).unwrap();
            n.prepare(&[0, 5, 1000]).unwrap();
            n.share_lazily().unwrap();
            let vals = noise(3 * 5000, 18);
            for (t, v) in vals.chunks(3).enumerate() {
                let f = [v[0] as f32 + 0.49 * ((t % 3) as f32 - 1.0), v[1] as f32 - 0.5, v[2] as f32 + 0.5];
                let f = f.map(|x| x.clamp(0.0, 255.0));
                assert_eq!(n.nearest_f32_shared(f), n.brute(f), "{f:?}");
            }
        }
        // Ties everywhere: a grey ramp 10 apart with every colour twice, probed on the midpoints between them and
        // off the grey axis, through the lazily built boxes only (nothing prepared): the lowest index wins, as in
        // `brute`.
        let pal: Vec<[u8; 3]> = (0..52u8).map(|i| [(i / 2) * 10; 3]).collect();
        let mut n = Nearest::for_floats(&pal, ColorSpace::Rgb).unwrap();
        n.share_lazily().unwrap();
        for i in 0..=510 {
            let x = i as f32 / 2.0;
            for f in [[x; 3], [x, (x + 5.0).min(255.0), x], [(x - 2.5).max(0.0), x, 255.0 - x]] {
                assert_eq!(n.nearest_f32_shared(f), n.brute(f), "{f:?}");
            }
        }
    }

    #[test]
    fn rounding_is_round() {
        for i in 0..=2_600_000u32 {
            let x = i as f32 / 10_000.0 - 2.0;
            assert_eq!(round_byte(x), x.round().clamp(0.0, 255.0) as u8, "{x}");
        }
        for x in [0.5f32, 1.5, 2.5, 254.5, 0.49999997, 255.49998, f32::from_bits(0.5f32.to_bits() - 1)] {
            assert_eq!(round_byte(x), x.round().clamp(0.0, 255.0) as u8, "{x}");
        }
    }

    #[test]
    fn grey_and_alpha_inputs() {
        let pal = vec![[0, 0, 0], [255, 255, 255], [128, 128, 128]];
        let grey = [0u8, 100, 200, 255];
        assert_eq!(remap(ImageRef { data: &grey, channels: 1 }, &pal, ColorSpace::Rgb).unwrap(), vec![0, 2, 1, 1]);
        let la = [0u8, 7, 100, 7, 200, 7, 255, 7];
        assert_eq!(remap(ImageRef { data: &la, channels: 2 }, &pal, ColorSpace::Oklab).unwrap().len(), 4);
    }

    #[test]
    fn rejects_bad_palettes() {
        assert!(Nearest::new(&[], ColorSpace::Rgb).is_err_and(|e| e.to_string().starts_with("palette:")));
        let big = vec![[0u8; 3]; MAX_COLORS + 1];
        assert!(Nearest::new(&big, ColorSpace::Rgb).is_err());
        assert!(Nearest::new(&big[1..], ColorSpace::Rgb).is_ok());
    }
}
