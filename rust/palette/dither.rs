//! Dithering onto a palette: error diffusion (Floyd-Steinberg, Atkinson) and ordered (Bayer 4x4, 8x8).
//!
//! Error diffusion is sequential by nature (each pixel depends on its left and upper neighbours' errors); it keeps the
//! error in f32 in sRGB units and finds each nearest colour through the same candidate grid as `remap`. Ordered
//! dithering adds a fixed threshold pattern, scaled by the palette's typical spacing, and is then a plain exact
//! remap of the offset image, in parallel.

use crate::alloc::zeroed;
use crate::bayer::bayer;
use crate::error::{Error, Result};
use crate::palette::color_space::ColorSpace;
use crate::palette::histogram::{rgb_of, ImageRef};
use crate::palette::remap::{self, Nearest};
use rayon::prelude::*;

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
) -> Result<Vec<u8>> {
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

/// `(dx, dy, weight)` of an error-diffusion kernel; weights over the divisor.
type Kernel = [(isize, usize, f32)];
const FLOYD_STEINBERG: [(isize, usize, f32); 4] = [(1, 0, 7.0), (-1, 1, 3.0), (0, 1, 5.0), (1, 1, 1.0)];
const ATKINSON: [(isize, usize, f32); 6] =
    [(1, 0, 1.0), (2, 0, 1.0), (-1, 1, 1.0), (0, 1, 1.0), (1, 1, 1.0), (0, 2, 1.0)];

fn diffuse(
    img: ImageRef<'_>,
    width: usize,
    palette: &[[u8; 3]],
    space: ColorSpace,
    kernel: &Kernel,
    divisor: f32,
) -> Result<Vec<u8>> {
    let ch = img.channels;
    let mut nearest = Nearest::for_floats(palette, space)?;
    let pal: Vec<[f32; 3]> = palette.iter().map(|c| c.map(f32::from)).collect();
    let mut out = zeroed::<u8>(img.pixels())?;
    // Three rows of error (this one and the next two), padded by two pixels on each side.
    let stride = width + 4;
    let mut err = zeroed::<[f32; 3]>(stride.saturating_mul(3))?;
    for (y, (row, o)) in img.data.chunks_exact(width * ch).zip(out.chunks_exact_mut(width)).enumerate() {
        let _ = y;
        for (x, (px, oi)) in row.chunks_exact(ch).zip(o.iter_mut()).enumerate() {
            let c = rgb_of(px, ch);
            let e = err[x + 2];
            let v = [0, 1, 2].map(|t| (c[t] as f32 + e[t]).clamp(0.0, 255.0));
            let i = nearest.nearest_f32(v);
            *oi = i;
            let p = pal.get(i as usize).copied().unwrap_or_default();
            let q = [0, 1, 2].map(|t| (v[t] - p[t]) / divisor);
            for &(dx, dy, w) in kernel {
                let at = dy * stride + (x as isize + 2 + dx) as usize;
                if let Some(slot) = err.get_mut(at) {
                    for t in 0..3 {
                        slot[t] += q[t] * w;
                    }
                }
            }
        }
        // Shift the rows up and clear the last one.
        err.copy_within(stride.., 0);
        let n = err.len();
        err[n - stride..].fill([0.0; 3]);
        // Error pushed into the padding never comes back: the image's edges absorb it, as usual.
        for r in 0..3 {
            err[r * stride..r * stride + 2].fill([0.0; 3]);
            err[r * stride + width + 2..(r + 1) * stride].fill([0.0; 3]);
        }
    }
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

fn ordered(img: ImageRef<'_>, width: usize, palette: &[[u8; 3]], space: ColorSpace, n: usize) -> Result<Vec<u8>> {
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

    fn mean_of(idx: &[u8], pal: &[[u8; 3]]) -> [f64; 3] {
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

    #[test]
    fn spacing_of_a_grey_ramp() {
        let pal: Vec<[u8; 3]> = (0..5).map(|i| [i * 50; 3]).collect();
        let s = spacing(&pal);
        assert!((s - 50.0).abs() < 1e-3, "{s}");
    }
}
