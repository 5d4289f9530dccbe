//! Lossless prediction of index planes: the MED predictor (LOCO-I / JPEG-LS) and residuals reduced modulo the
//! plane's value range, so a residual takes no more values than the plane itself.

use crate::error::{Error, Result};

/// One plane of integer values in `lo..=hi`, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plane {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Smallest value a pixel may take.
    pub lo: i32,
    /// Largest value a pixel may take (`hi - lo < 2^15`).
    pub hi: i32,
    /// `width * height` values.
    pub data: Vec<i16>,
}

impl Plane {
    /// A copy of the plane whose buffer is allocated fallibly (`Error::OutOfMemory`, never an abort).
    pub fn try_clone(&self) -> Result<Plane> {
        let data = crate::alloc::collect(self.data.iter().copied())?;
        Ok(Plane { data, ..*self })
    }

    /// A plane being decoded that keeps only its last two rows (`data` is `2 * width` values, row `y` in slot
    /// `y % 2`): what a row-by-row decoder needs, whatever the height.
    pub fn ring(width: usize, height: usize, lo: i32, hi: i32) -> Result<Plane> {
        let n = width.checked_mul(2).ok_or_else(|| Error::format("plane size overflows"))?;
        Ok(Plane { width, height, lo, hi, data: crate::alloc::zeroed::<i16>(n)? })
    }

    /// Whether `data` holds every row (`width * height` values) or is a two-row ring (`2 * width`): the only two
    /// layouts the row accessors accept.
    pub fn layout_ok(&self) -> bool {
        let whole = self.width.checked_mul(self.height) == Some(self.data.len());
        whole || self.width.checked_mul(2) == Some(self.data.len())
    }

    /// Where row `y` starts in `data`.
    fn start(&self, y: usize) -> usize {
        let whole = self.width.checked_mul(self.height) == Some(self.data.len());
        (if whole { y } else { y % 2 }) * self.width
    }

    /// Row `y` (`layout_ok` planes, `y < height`).
    pub fn row(&self, y: usize) -> &[i16] {
        let s = self.start(y);
        &self.data[s..s + self.width]
    }

    /// Row `y - 1` (empty for `y = 0`) and row `y`, to write (`layout_ok` planes, `y < height`).
    pub fn up_and_row(&mut self, y: usize) -> (&[i16], &mut [i16]) {
        let (w, cur) = (self.width, self.start(y));
        if y == 0 {
            return (&[], &mut self.data[cur..cur + w]);
        }
        let up = self.start(y - 1);
        if up < cur {
            let (a, b) = self.data.split_at_mut(cur);
            (&a[up..up + w], &mut b[..w])
        } else {
            let (a, b) = self.data.split_at_mut(up);
            (&b[..w], &mut a[cur..cur + w])
        }
    }
}

/// The median edge detector: `min(a, b)` or `max(a, b)` at an edge, else the planar `a + b - c`.
/// `a` is the west neighbour, `b` the north, `c` the north-west.
#[inline(always)]
pub fn med(a: i32, b: i32, c: i32) -> i32 {
    // The same as choosing by cases (c >= max(a, b): min(a, b); c <= min(a, b): max(a, b); else a + b - c), since
    // a + b - c falls below min(a, b) exactly when c > max(a, b), and so on; without branches, which mispredict.
    let (mn, mx) = (a.min(b), a.max(b));
    (a + b - c).max(mn).min(mx)
}

#[inline(always)]
fn neighbours(data: &[i16], w: usize, x: usize, y: usize, first: i32) -> (i32, i32, i32) {
    let i = y * w + x;
    if y == 0 {
        let a = if x > 0 { data[i - 1] as i32 } else { first };
        (a, a, a)
    } else {
        let b = data[i - w] as i32;
        if x > 0 {
            (data[i - 1] as i32, b, data[i - w - 1] as i32)
        } else {
            (b, b, b)
        }
    }
}

/// MED residuals of `plane`, each reduced modulo the value range into `0..range` (range = `hi - lo + 1`), ready for a
/// general-purpose compressor.
pub fn residuals(plane: &Plane) -> Result<Vec<u16>> {
    let (w, h) = (plane.width, plane.height);
    let range = plane.hi - plane.lo + 1;
    if range <= 0 || range > 1 << 16 || plane.data.len() != w * h {
        return Err(Error::value("plane", "bad range or size"));
    }
    let first = plane.lo.max(0).min(plane.hi);
    let mut out = Vec::new();
    out.try_reserve_exact(w * h).map_err(|_| Error::OutOfMemory { bytes: w * h * 2 })?;
    for y in 0..h {
        for x in 0..w {
            let (a, b, c) = neighbours(&plane.data, w, x, y, first);
            let e = (plane.data[y * w + x] as i32 - med(a, b, c)).rem_euclid(range);
            out.push(e as u16);
        }
    }
    Ok(out)
}

/// The inverse of [`residuals`]: rebuilds a plane from residuals in `0..range`; any other value is `Error::Format`.
pub fn unresiduals(res: &[u16], width: usize, height: usize, lo: i32, hi: i32) -> Result<Plane> {
    let n = width.checked_mul(height).ok_or_else(|| Error::format("plane size overflows"))?;
    if res.len() != n || hi < lo {
        return Err(Error::format("residual count does not match the plane size"));
    }
    let mut plane = Plane { width, height, lo, hi, data: crate::alloc::zeroed::<i16>(n)? };
    for (y, r) in res.chunks_exact(width.max(1)).enumerate().take(height) {
        unresidual_row(&mut plane, y, r)?;
    }
    Ok(plane)
}

/// Rebuilds row `y` of `plane` (rows before it done; whole or a two-row ring) from its residuals in `0..range`:
/// the row-by-row form of [`unresiduals`], for decoding straight into an image.
pub fn unresidual_row(plane: &mut Plane, y: usize, res: &[u16]) -> Result<()> {
    let (w, lo, hi) = (plane.width, plane.lo, plane.hi);
    let range = hi - lo + 1;
    if res.len() != w || range <= 0 || y >= plane.height || !plane.layout_ok() {
        return Err(Error::format("residual count does not match the plane size"));
    }
    let first = lo.max(0).min(hi);
    let (up, cur) = plane.up_and_row(y);
    for x in 0..w {
        // The neighbours of `neighbours`, from the row above and this one.
        let (a, b, c) = if y == 0 {
            let a = if x > 0 { cur[x - 1] as i32 } else { first };
            (a, a, a)
        } else if x > 0 {
            (cur[x - 1] as i32, up[x] as i32, up[x - 1] as i32)
        } else {
            let b = up[0] as i32;
            (b, b, b)
        };
        let e = res[x] as i32;
        if e >= range {
            return Err(Error::format("residual out of the plane's range"));
        }
        // pred in lo..=hi and e in 0..range: one subtraction brings the sum back into lo..=hi.
        let mut v = med(a, b, c) + e;
        if v > hi {
            v -= range;
        }
        cur[x] = v as i16;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn med_picks_the_edge_or_the_plane() {
        assert_eq!(med(10, 20, 25), 10);
        assert_eq!(med(10, 20, 5), 20);
        assert_eq!(med(10, 20, 15), 15);
        // Against the definition by cases.
        for a in -6..=6 {
            for b in -6..=6 {
                for c in -6..=6 {
                    let (mn, mx) = if a < b { (a, b) } else { (b, a) };
                    let want = if c >= mx {
                        mn
                    } else if c <= mn {
                        mx
                    } else {
                        a + b - c
                    };
                    assert_eq!(med(a, b, c), want, "{a} {b} {c}");
                }
            }
        }
    }

    #[test]
    fn residuals_round_trip() {
        let mut s = 5u32;
        let data: Vec<i16> = (0..35 * 17)
            .map(|_| {
                s = s.wrapping_mul(1103515245).wrapping_add(12345);
                ((s >> 16) % 21) as i16 - 10
            })
            .collect();
        let p = Plane { width: 35, height: 17, lo: -10, hi: 10, data };
        let r = residuals(&p).unwrap();
        assert!(r.iter().all(|&e| e < 21));
        assert_eq!(unresiduals(&r, 35, 17, -10, 10).unwrap(), p);
    }

    #[test]
    fn out_of_range_residual_is_a_format_error() {
        assert!(matches!(unresiduals(&[0, 9], 2, 1, 0, 3), Err(Error::Format(_))));
        assert!(matches!(unresiduals(&[0], 2, 1, 0, 3), Err(Error::Format(_))));
    }
}
