//! Colour transforms of the codec: the reversible YCoCg-R lifting transform (on integer index planes) and JPEG's
//! full-range YCbCr (on 8-bit values, not reversible), with 4:2:0 chroma subsampling.

use crate::alloc::with_capacity;
use crate::error::Result;

/// Forward YCoCg-R of one integer RGB triple: `(y, co, cg)`. Exact for all integers; for inputs in `0..=m`,
/// `y` is in `0..=m` and `co`, `cg` in `-m..=m`.
#[inline(always)]
pub fn ycocg_r(r: i32, g: i32, b: i32) -> (i32, i32, i32) {
    let co = r - b;
    let t = b + (co >> 1);
    let cg = g - t;
    let y = t + (cg >> 1);
    (y, co, cg)
}

/// Inverse YCoCg-R: `(r, g, b)`.
#[inline(always)]
pub fn ycocg_r_inverse(y: i32, co: i32, cg: i32) -> (i32, i32, i32) {
    let t = y - (cg >> 1);
    let g = cg + t;
    let b = t - (co >> 1);
    let r = b + co;
    (r, g, b)
}

#[inline(always)]
fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// RGB to full-range YCbCr (JPEG / BT.601 coefficients), 16-bit fixed point, rounded.
#[inline(always)]
pub fn rgb_to_ycbcr(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
    let cb = ((-11059 * r - 21709 * g + 32768 * b + 32768) >> 16) + 128;
    let cr = ((32768 * r - 27439 * g - 5329 * b + 32768) >> 16) + 128;
    (clamp_u8(y), clamp_u8(cb), clamp_u8(cr))
}

/// Full-range YCbCr back to RGB, rounded and clamped.
#[inline(always)]
pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> (u8, u8, u8) {
    let (y, cb, cr) = (y as i32, cb as i32 - 128, cr as i32 - 128);
    let r = y + ((91881 * cr + 32768) >> 16);
    let g = y - ((22554 * cb + 46802 * cr - 32768) >> 16);
    let b = y + ((116130 * cb + 32768) >> 16);
    (clamp_u8(r), clamp_u8(g), clamp_u8(b))
}

/// The size of a 4:2:0 chroma plane for a `width x height` image: halves, rounded up.
pub fn half(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// Mean of each 2x2 block (fewer at the right and bottom edges), rounded.
pub fn downsample(src: &[u8], width: usize, height: usize) -> Result<Vec<u8>> {
    let (hw, hh) = half(width, height);
    let mut out = with_capacity(hw * hh)?;
    for y in 0..hh {
        for x in 0..hw {
            let (mut sum, mut n) = (0u32, 0u32);
            for yy in 2 * y..(2 * y + 2).min(height) {
                for xx in 2 * x..(2 * x + 2).min(width) {
                    sum += src[yy * width + xx] as u32;
                    n += 1;
                }
            }
            out.push(((sum + n / 2) / n) as u8);
        }
    }
    Ok(out)
}

/// Bilinear upsampling of a half-size plane to `width x height`, the chroma samples sitting at the centres of their
/// 2x2 blocks (weights 3/4 and 1/4, as libjpeg's "fancy" upsampling).
pub fn upsample(src: &[u8], width: usize, height: usize) -> Result<Vec<u8>> {
    let mut out = crate::alloc::zeroed::<u8>(width * height)?;
    for (y, row) in out.chunks_exact_mut(width.max(1)).enumerate().take(height) {
        upsample_row(src, width, height, y, row);
    }
    Ok(out)
}

/// Row `y` of [`upsample`] into `out` (`width` values): the decoder's form, one output row at a time.
pub fn upsample_row(src: &[u8], width: usize, height: usize, y: usize, out: &mut [u8]) {
    let (hw, hh) = half(width, height);
    let at = |x: isize, y: isize| -> i32 {
        let x = x.clamp(0, hw as isize - 1) as usize;
        let y = y.clamp(0, hh as isize - 1) as usize;
        src.get(y * hw + x).copied().unwrap_or(0) as i32
    };
    let (cy, ny) = ((y / 2) as isize, if y.is_multiple_of(2) { -1 } else { 1 });
    for (x, o) in out.iter_mut().enumerate().take(width) {
        let (cx, nx) = ((x / 2) as isize, if x % 2 == 0 { -1 } else { 1 });
        let v = 9 * at(cx, cy) + 3 * at(cx + nx, cy) + 3 * at(cx, cy + ny) + at(cx + nx, cy + ny);
        *o = ((v + 8) >> 4) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ycocg_r_is_exact_and_in_range() {
        for m in [1, 7, 85, 255] {
            for r in 0..=m {
                for g in (0..=m).step_by(((m / 13) + 1) as usize) {
                    for b in 0..=m {
                        let (y, co, cg) = ycocg_r(r, g, b);
                        assert!((0..=m).contains(&y) && (-m..=m).contains(&co) && (-m..=m).contains(&cg));
                        assert_eq!(ycocg_r_inverse(y, co, cg), (r, g, b));
                    }
                }
            }
        }
    }

    #[test]
    fn ycbcr_round_trip_is_close() {
        for r in (0..=255u8).step_by(15) {
            for g in (0..=255u8).step_by(17) {
                for b in (0..=255u8).step_by(5) {
                    let (y, cb, cr) = rgb_to_ycbcr(r, g, b);
                    let (r2, g2, b2) = ycbcr_to_rgb(y, cb, cr);
                    assert!((r as i32 - r2 as i32).abs() <= 2 && (g as i32 - g2 as i32).abs() <= 2);
                    assert!((b as i32 - b2 as i32).abs() <= 2, "{r} {g} {b}");
                }
            }
        }
        assert_eq!(rgb_to_ycbcr(255, 255, 255), (255, 128, 128));
    }

    #[test]
    fn subsampling_keeps_flat_planes() {
        let src = vec![77u8; 5 * 3];
        let d = downsample(&src, 5, 3).unwrap();
        assert_eq!(d, vec![77; 3 * 2]);
        assert_eq!(upsample(&d, 5, 3).unwrap(), src);
    }
}
