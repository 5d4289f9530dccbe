//! Dithering onto a palette: error diffusion (Floyd-Steinberg, Atkinson) and ordered (Bayer 4x4, 8x8).
//!
//! Error diffusion is sequential by nature (each pixel depends on its left and upper neighbours' errors); it runs in
//! diagonal strips pipelined across the cores with the sequential loop's result bit for bit (`diffuse_traced`),
//! keeps the error in f32 in sRGB units and finds each nearest colour through the same candidate grid as `remap`.
//! Ordered dithering adds a fixed threshold pattern, scaled by the palette's typical spacing, and is then a plain
//! exact remap of the offset image, in parallel.

use crate::alloc::{collect, with_capacity, zeroed};
use crate::bayer::bayer;
use crate::error::{Error, Result};
use crate::palette::color_space::ColorSpace;
use crate::palette::histogram::{rgb_of, ImageRef, GRID_BITS, GRID_CELLS};
use crate::palette::pipeline;
use crate::palette::remap::{self, Nearest};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// How pixels are mapped onto the palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dither {
    /// Each pixel's nearest colour.
    None,
    /// Floyd-Steinberg error diffusion (7/16 right, 3/16, 5/16, 1/16 on the next row).
    FloydSteinberg,
    /// Atkinson error diffusion (1/8 to six neighbours; 1/4 of the error is dropped, which keeps contrast).
    Atkinson,
    /// Ordered dithering with the 4x4 Bayer matrix.
    Bayer4,
    /// Ordered dithering with the 8x8 Bayer matrix.
    Bayer8,
}

impl Dither {
    /// Parses the Python spelling: `"none"`, `"floyd-steinberg"`, `"atkinson"`, `"bayer4"`, `"bayer8"`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "none" => Dither::None,
            "floyd-steinberg" => Dither::FloydSteinberg,
            "atkinson" => Dither::Atkinson,
            "bayer4" => Dither::Bayer4,
            "bayer8" => Dither::Bayer8,
            _ => {
                return Err(Error::value(
                    "dither",
                    format!("expected 'none', 'floyd-steinberg', 'atkinson', 'bayer4' or 'bayer8', got {s:?}"),
                ))
            }
        })
    }
}

/// Palette indices of an image `width` pixels wide, mapped with `dither`.
pub fn remap_dithered(
    img: ImageRef<'_>,
    width: usize,
    palette: &[[u8; 3]],
    space: ColorSpace,
    dither: Dither,
) -> Result<Vec<u16>> {
    img.check("image")?;
    remap::check_palette(palette)?;
    if width == 0 || !img.pixels().is_multiple_of(width) {
        return Err(Error::value("image", format!("{} pixels do not fill rows of width {width}", img.pixels())));
    }
    match dither {
        Dither::None => remap::remap(img, palette, space),
        Dither::FloydSteinberg => diffuse(img, width, palette, space, &FLOYD_STEINBERG, 16.0),
        Dither::Atkinson => diffuse(img, width, palette, space, &ATKINSON, 8.0),
        Dither::Bayer4 => ordered(img, width, palette, space, 4),
        Dither::Bayer8 => ordered(img, width, palette, space, 8),
    }
}

/// `(dx, dy, weight)` of an error-diffusion kernel; weights over the divisor. Taps on the same row (dy = 0) have dx
/// 1 or 2, taps below dy 1 or 2 and dx -1..=1: what the strips below assume.
type Kernel = [(isize, usize, f32)];
const FLOYD_STEINBERG: [(isize, usize, f32); 4] = [(1, 0, 7.0), (-1, 1, 3.0), (0, 1, 5.0), (1, 1, 1.0)];
const ATKINSON: [(isize, usize, f32); 6] =
    [(1, 0, 1.0), (2, 0, 1.0), (-1, 1, 1.0), (0, 1, 1.0), (1, 1, 1.0), (0, 2, 1.0)];

/// Error diffusion prepares the cells around the image's only for palettes of more colours than this.
const PREPARED_ABOVE: usize = 256;

/// Error diffusion in raster order, computed in diagonal strips on all the pool's threads, with the result of the
/// plain sequential loop bit for bit.
fn diffuse(
    img: ImageRef<'_>,
    width: usize,
    palette: &[[u8; 3]],
    space: ColorSpace,
    kernel: &Kernel,
    divisor: f32,
) -> Result<Vec<u16>> {
    let threads = rayon::current_num_threads();
    diffuse_traced(img, width, palette, space, kernel, divisor, threads, pipeline::strip_for(threads), None)
}

/// `diffuse` on `threads` tasks of the pool, in strips `strip` columns wide (`pipeline::run`), writing each pixel's
/// diffused value (f32 bits) into `trace` when given (tests compare them). Error values travel as f32 bits.
#[allow(clippy::too_many_arguments)]
fn diffuse_traced(
    img: ImageRef<'_>,
    width: usize,
    palette: &[[u8; 3]],
    space: ColorSpace,
    kernel: &Kernel,
    divisor: f32,
    threads: usize,
    strip: usize,
    trace: Option<&[[AtomicU32; 3]]>,
) -> Result<Vec<u16>> {
    // Diffused values stray from the pixels by about the palette's spacing. Up to `PREPARED_ABOVE` colours no cell
    // is prepared up front: each box of 4x4x4 cells gets its list once, for all strips (preparing the image's cells
    // and their neighbours cost about a fifth of the time on one thread at 256 colours and scaled worse than the
    // strips). With more colours a box's list grows long, so the cells around the image's get lists of their own
    // first (at 4096 colours the boxes alone took 2.3 times as long).
    let mut base = Nearest::for_floats(palette, space)?;
    let prepared = palette.len() > PREPARED_ABOVE;
    if prepared {
        base.prepare(&dilate(&base.cells_of(img)?)?)?;
    }
    base.share_lazily()?;
    if threads > 1 && !prepared {
        // The boxes of the image's own colours, built on all threads before the strips start: built lazily, they
        // made the first strips, where the pipeline has not filled yet, several times slower, and the strips
        // after them waited (on Kodak, a tenth of the time on two threads). Prepared cells need no box.
        base.build_boxes_of(img)?;
    }
    let mut out = zeroed::<u16>(img.pixels())?;
    let job = Diffusion {
        img,
        width,
        height: img.pixels() / width,
        nearest: &base,
        pal: collect(palette.iter().map(|c| c.map(f32::from)))?,
        same: kernel.iter().filter(|t| t.1 == 0).map(|t| (t.0 as usize, t.2)).collect(),
        down: kernel.iter().copied().filter(|t| t.1 > 0).collect(),
        divisor,
        below: collect((0..pipeline::RING * width).map(|_| Default::default()))?,
        own: collect((0..pipeline::RING * 2 * width).map(|_| Default::default()))?,
        trace,
    };
    pipeline::run(&mut out, width, threads, strip, &|y, x0, o| job.row(y, x0, o))?;
    Ok(out)
}

/// What the strips of one error diffusion share.
struct Diffusion<'a> {
    img: ImageRef<'a>,
    width: usize,
    height: usize,
    nearest: &'a Nearest,
    pal: Vec<[f32; 3]>,
    /// The kernel's taps on the same row, `(dx, weight)`, and below, `(dx, dy, weight)`.
    same: Vec<(usize, f32)>,
    down: Vec<(isize, usize, f32)>,
    divisor: f32,
    /// `below[(y % RING) * width + x]`: the shares from the rows above that slot (x, y) has received so far.
    below: Vec<[AtomicU32; 3]>,
    /// `own[(y % RING) * 2 * width + 2x + d - 1]`: the share of pixel (x - d, y) for pixel (x, y) (d = 1, 2).
    own: Vec<[AtomicU32; 3]>,
    trace: Option<&'a [[AtomicU32; 3]]>,
}

impl Diffusion<'_> {
    /// Diffuses pixels x0.. of row `y`, writing their indices into `o`.
    fn row(&self, y: usize, x0: usize, o: &mut [u16]) {
        let (width, ch) = (self.width, self.img.channels);
        let load = |a: &[AtomicU32; 3]| a.each_ref().map(|t| f32::from_bits(t.load(Ordering::Relaxed)));
        let store = |a: &[AtomicU32; 3], v: [f32; 3]| {
            for t in 0..3 {
                a[t].store(v[t].to_bits(), Ordering::Relaxed);
            }
        };
        let src = self.img.data.get(y * width * ch..(y + 1) * width * ch).unwrap_or_default();
        let (bel, own) = ((y % pipeline::RING) * width, (y % pipeline::RING) * 2 * width);
        for (x, oi) in (x0..).zip(o.iter_mut()) {
            let c = rgb_of(src.get(x * ch..(x + 1) * ch).unwrap_or(&[0, 0, 0]), ch);
            // The slot is read once, then zeroed for the row that uses it next.
            let mut e = self.below.get(bel + x).map_or([0.0; 3], |s| {
                let e = load(s);
                store(s, [0.0; 3]);
                e
            });
            for d in [2, 1] {
                if x >= d && self.same.iter().any(|s| s.0 == d) {
                    let s = self.own.get(own + 2 * x + d - 1).map_or([0.0; 3], load);
                    for t in 0..3 {
                        e[t] += s[t];
                    }
                }
            }
            let v = [0, 1, 2].map(|t| (c[t] as f32 + e[t]).clamp(0.0, 255.0));
            if let Some(tr) = self.trace.and_then(|t| t.get(y * width + x)) {
                store(tr, v);
            }
            let i = self.nearest.nearest_f32_shared(v);
            *oi = i;
            let p = self.pal.get(i as usize).copied().unwrap_or_default();
            let q = [0, 1, 2].map(|t| (v[t] - p[t]) / self.divisor);
            for &(d, w) in &self.same {
                if x + d < width {
                    if let Some(s) = self.own.get(own + 2 * (x + d) + d - 1) {
                        store(s, q.map(|v| v * w));
                    }
                }
            }
            for &(dx, dy, w) in &self.down {
                let tx = x as isize + dx;
                if tx < 0 || tx as usize >= width || y + dy >= self.height {
                    // Error pushed past the edges never comes back: the edges absorb it, as usual.
                    continue;
                }
                if let Some(slot) = self.below.get(((y + dy) % pipeline::RING) * width + tx as usize) {
                    let old = load(slot);
                    store(slot, [0, 1, 2].map(|t| old[t] + q[t] * w));
                }
            }
        }
    }
}

/// Sorted grid cells: `cells` and their 26 neighbours.
fn dilate(cells: &[u32]) -> Result<Vec<u32>> {
    let n = 1i32 << GRID_BITS;
    let mut mark = zeroed::<bool>(GRID_CELLS)?;
    for &c in cells {
        let c = c as i32;
        let (r, g, b) = (c >> (2 * GRID_BITS), (c >> GRID_BITS) & (n - 1), c & (n - 1));
        for dr in -1..=1 {
            for dg in -1..=1 {
                for db in -1..=1 {
                    let (x, y, z) = (r + dr, g + dg, b + db);
                    if (0..n).contains(&x) && (0..n).contains(&y) && (0..n).contains(&z) {
                        if let Some(m) = mark.get_mut(((x << (2 * GRID_BITS)) | (y << GRID_BITS) | z) as usize) {
                            *m = true;
                        }
                    }
                }
            }
        }
    }
    let mut out = with_capacity(mark.iter().filter(|&&m| m).count())?;
    out.extend(mark.iter().enumerate().filter(|(_, &m)| m).map(|(i, _)| i as u32));
    Ok(out)
}

/// The palette's typical spacing per channel: over the colours, the mean of the largest per-channel difference to
/// the nearest other colour (0 for one colour). For black and white this is 255, so a flat grey dithers to its mean.
pub fn spacing(palette: &[[u8; 3]]) -> f32 {
    if palette.len() < 2 {
        return 0.0;
    }
    let d = |a: &[u8; 3], b: &[u8; 3]| (0..3).map(|t| (a[t] as i32 - b[t] as i32).pow(2)).sum::<i32>();
    let cheb = |a: &[u8; 3], b: &[u8; 3]| (0..3).map(|t| (a[t] as i32 - b[t] as i32).abs()).max().unwrap_or(0);
    let total: i64 = palette
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            palette
                .iter()
                .enumerate()
                .filter(|&(j, b)| j != i && b != a)
                .map(|(_, b)| b)
                .min_by_key(|b| d(a, b))
                .map(|b| cheb(a, b) as i64)
        })
        .sum();
    total as f32 / palette.len() as f32
}

fn ordered(img: ImageRef<'_>, width: usize, palette: &[[u8; 3]], space: ColorSpace, n: usize) -> Result<Vec<u16>> {
    let ch = img.channels;
    let m = bayer(n);
    let s = spacing(palette);
    // Threshold offsets centred on zero: (m + 0.5) / n^2 - 0.5, times the spacing.
    let offs: Vec<f32> = m.iter().map(|&v| ((v as f32 + 0.5) / (n * n) as f32 - 0.5) * s).collect();
    let mut shifted = zeroed::<u8>(img.pixels().saturating_mul(3))?;
    shifted.par_chunks_mut(width * 3).zip(img.data.par_chunks(width * ch)).enumerate().for_each(|(y, (o, row))| {
        for (x, (oi, px)) in o.chunks_exact_mut(3).zip(row.chunks_exact(ch)).enumerate() {
            let off = offs.get((y % n) * n + x % n).copied().unwrap_or(0.0);
            let c = rgb_of(px, ch);
            for t in 0..3 {
                oi[t] = (c[t] as f32 + off).round().clamp(0.0, 255.0) as u8;
            }
        }
    });
    remap::remap(ImageRef { data: &shifted, channels: 3 }, palette, space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(idx: &[u16], pal: &[[u8; 3]]) -> [f64; 3] {
        let mut s = [0.0; 3];
        for &i in idx {
            for t in 0..3 {
                s[t] += pal[i as usize][t] as f64;
            }
        }
        s.map(|v| v / idx.len() as f64)
    }

    #[test]
    fn flat_grey_keeps_its_mean() {
        let pal = vec![[0, 0, 0], [255, 255, 255]];
        let (w, h) = (64, 64);
        for v in [30u8, 100, 128, 200] {
            let data = vec![v; w * h * 3];
            for d in [Dither::FloydSteinberg, Dither::Bayer4, Dither::Bayer8] {
                let idx = remap_dithered(ImageRef { data: &data, channels: 3 }, w, &pal, ColorSpace::Rgb, d).unwrap();
                let m = mean_of(&idx, &pal);
                // Bayer 4x4 has 17 grey levels: the mean is within half a step (255 / 16 / 2).
                let tol = if d == Dither::Bayer4 { 8.0 } else { 4.0 };
                assert!((m[0] - v as f64).abs() < tol, "{d:?} {v} -> {m:?}");
            }
        }
    }

    #[test]
    fn no_dither_equals_remap_and_shapes_are_checked() {
        let pal = vec![[0, 0, 0], [255, 0, 0]];
        let data = vec![100u8; 30];
        let a = remap_dithered(ImageRef { data: &data, channels: 3 }, 5, &pal, ColorSpace::Rgb, Dither::None).unwrap();
        assert_eq!(a, remap::remap(ImageRef { data: &data, channels: 3 }, &pal, ColorSpace::Rgb).unwrap());
        let e = remap_dithered(ImageRef { data: &data, channels: 3 }, 3, &pal, ColorSpace::Rgb, Dither::None);
        assert!(e.is_err());
        assert!(Dither::parse("ordered").unwrap_err().to_string().starts_with("dither:"));
    }

    /// The plain sequential loop the strips must reproduce bit for bit (three rows of error, raster order).
    fn sequential(
        img: ImageRef<'_>,
        width: usize,
        palette: &[[u8; 3]],
        kernel: &Kernel,
        divisor: f32,
    ) -> (Vec<u16>, Vec<[u32; 3]>) {
        let ch = img.channels;
        let mut trace = vec![[0u32; 3]; img.pixels()];
        let mut nearest = Nearest::for_floats(palette, ColorSpace::Rgb).unwrap();
        let pal: Vec<[f32; 3]> = palette.iter().map(|c| c.map(f32::from)).collect();
        let mut out = vec![0u16; img.pixels()];
        let stride = width + 4;
        let mut err = vec![[0.0f32; 3]; stride * 3];
        for (y, (row, o)) in img.data.chunks_exact(width * ch).zip(out.chunks_exact_mut(width)).enumerate() {
            for (x, (px, oi)) in row.chunks_exact(ch).zip(o.iter_mut()).enumerate() {
                let c = rgb_of(px, ch);
                let e = err[x + 2];
                let v = [0, 1, 2].map(|t| (c[t] as f32 + e[t]).clamp(0.0, 255.0));
                trace[y * width + x] = v.map(f32::to_bits);
                let i = nearest.nearest_f32(v);
                *oi = i;
                let p = pal[i as usize];
                let q = [0, 1, 2].map(|t| (v[t] - p[t]) / divisor);
                for &(dx, dy, w) in kernel {
                    let slot = &mut err[dy * stride + (x as isize + 2 + dx) as usize];
                    for t in 0..3 {
                        slot[t] += q[t] * w;
                    }
                }
            }
            err.copy_within(stride.., 0);
            let n = err.len();
            err[n - stride..].fill([0.0; 3]);
            for r in 0..3 {
                err[r * stride..r * stride + 2].fill([0.0; 3]);
                err[r * stride + width + 2..(r + 1) * stride].fill([0.0; 3]);
            }
        }
        (out, trace)
    }

    #[test]
    fn strips_are_the_sequential_loop_on_any_pool() {
        let mut s = 99u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (s >> 33) as u8
                })
                .collect()
        };
        let pools: Vec<rayon::ThreadPool> =
            [1, 2, 3, 7].iter().map(|&n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()).collect();
        for (w, h, k) in [
            (1, 1, 3),
            (1, 9, 4),
            (2, 5, 5),
            (3, 1, 6),
            (3, 7, 16),
            (17, 33, 40),
            (130, 40, 300),
            (200, 3, 64),
            // Strips of every shape: triangles at the corners, parallelograms cut by the top and bottom edges.
            (150, 190, 64),
        ] {
            let data = noise(w * h * 3);
            let pal: Vec<[u8; 3]> = noise(3 * k).chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
            let im = ImageRef { data: &data, channels: 3 };
            for (d, kernel, div) in
                [(Dither::FloydSteinberg, &FLOYD_STEINBERG[..], 16.0), (Dither::Atkinson, &ATKINSON[..], 8.0)]
            {
                let (want, want_trace) = sequential(im, w, &pal, kernel, div);
                for pool in &pools {
                    let got = pool.install(|| remap_dithered(im, w, &pal, ColorSpace::Rgb, d)).unwrap();
                    assert_eq!(got, want, "{d:?} {w}x{h} k={k} on {} threads", pool.current_num_threads());
                }
                // Any strip width, down to two columns, and more tasks than the pool has threads (or fewer); the
                // diffused values themselves, bit for bit (indices alone would hide most rounding).
                for (pool, tasks) in pools.iter().zip([2, 1, 3, 9]) {
                    for strip in [2, 3, 7, 64, w + h] {
                        let trace: Vec<[AtomicU32; 3]> = (0..w * h).map(|_| Default::default()).collect();
                        let got = pool.install(|| {
                            diffuse_traced(im, w, &pal, ColorSpace::Rgb, kernel, div, tasks, strip, Some(&trace))
                        });
                        let n = pool.current_num_threads();
                        assert_eq!(got.unwrap(), want, "{d:?} {w}x{h} k={k}, {tasks} tasks on {n}, strips of {strip}");
                        let bits: Vec<[u32; 3]> =
                            trace.iter().map(|v| v.each_ref().map(|a| a.load(Ordering::Relaxed))).collect();
                        let first = bits.iter().zip(&want_trace).position(|(a, b)| a != b);
                        assert_eq!(first, None, "{d:?} {w}x{h} k={k}, {tasks} tasks on {n}, strips of {strip}");
                    }
                }
            }
        }
    }

    #[test]
    fn spacing_of_a_grey_ramp() {
        let pal: Vec<[u8; 3]> = (0..5).map(|i| [i * 50; 3]).collect();
        let s = spacing(&pal);
        assert!((s - 50.0).abs() < 1e-3, "{s}");
    }
}
