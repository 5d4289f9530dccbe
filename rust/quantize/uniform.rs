//! Uniform scalar quantization of 8-bit values into `L` equal bins, and its two reconstructions.
//!
//! The index of value `x` at `L` levels is `floor(x * L / 256)`, so bin `i` holds the integers
//! `ceil(256 i / L) ..= ceil(256 (i + 1) / L) - 1`.

use crate::error::{Error, Result};
use crate::quantize::lut::{self, Table};

/// How an index is turned back into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconstruction {
    /// The integer that minimises the squared error over the bin's integers: the bin's middle, rounded up when the bin
    /// holds an even count (for L = 16, bin 0..=15 gives 8).
    Midpoint,
    /// `round(i * 255 / (L - 1))`, ties to even as NumPy rounds: 0 is black and L - 1 is white.
    FullRange,
}

impl Reconstruction {
    /// Parses the Python spelling: `"midpoint"` or `"full-range"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "midpoint" => Ok(Reconstruction::Midpoint),
            "full-range" => Ok(Reconstruction::FullRange),
            other => Err(Error::value("reconstruction", format!("expected 'midpoint' or 'full-range', got {other:?}"))),
        }
    }
}

/// Checks one level count: 2..=256.
pub fn check_levels(levels: &[u16], channels: usize) -> Result<()> {
    if levels.len() != channels {
        return Err(Error::value(
            "levels",
            format!("expected one level count per channel ({channels}), got {}", levels.len()),
        ));
    }
    if let Some(&l) = levels.iter().find(|&&l| !(2..=256).contains(&l)) {
        return Err(Error::value("levels", format!("expected 2..256, got {l}")));
    }
    Ok(())
}

/// The index of `x` at `levels` levels: `floor(x * levels / 256)`.
pub fn index_of(x: u8, levels: u16) -> u8 {
    ((x as u32 * levels as u32) >> 8) as u8
}

/// The first value of bin `i`: `ceil(256 i / levels)`.
fn bin_start(i: u32, levels: u32) -> u32 {
    (256 * i).div_ceil(levels)
}

/// The reconstruction of index `i` (`i < levels`).
pub fn value_of(i: u8, levels: u16, rec: Reconstruction) -> u8 {
    let (i, l) = (i as u32, levels as u32);
    match rec {
        Reconstruction::Midpoint => {
            let lo = bin_start(i, l);
            let hi = bin_start(i + 1, l) - 1;
            (lo + hi).div_ceil(2) as u8
        }
        Reconstruction::FullRange => {
            let (num, den) = (i * 255, l - 1);
            let (q, r) = (num / den, num % den);
            let up = 2 * r > den || (2 * r == den && q % 2 == 1);
            (q + up as u32) as u8
        }
    }
}

/// The table from a value to its index.
pub fn index_table(levels: u16) -> Table {
    std::array::from_fn(|x| index_of(x as u8, levels))
}

/// The table from an index to its value. Entries at `levels` and above are 0 (never used after validation).
pub fn value_table(levels: u16, rec: Reconstruction) -> Table {
    std::array::from_fn(|i| if i < levels as usize { value_of(i as u8, levels, rec) } else { 0 })
}

/// The table from a value straight to its reconstruction: quantize and dequantize fused.
pub fn quantize_table(levels: u16, rec: Reconstruction) -> Table {
    let v = value_table(levels, rec);
    std::array::from_fn(|x| v[index_of(x as u8, levels) as usize])
}

/// Checks an interleaved image buffer pair: 1..=4 channels, `src` a whole number of pixels, `dst` as long as `src`.
pub fn check_layout(src: &[u8], dst: &[u8], channels: usize) -> Result<()> {
    if !(1..=4).contains(&channels) {
        return Err(Error::value("levels", format!("expected 1..4 channels, got {channels}")));
    }
    if !src.len().is_multiple_of(channels) || dst.len() != src.len() {
        return Err(Error::value(
            "image",
            format!(
                "expected whole pixels of {channels} channels and an output as long as the input, got {} and {}",
                src.len(),
                dst.len()
            ),
        ));
    }
    Ok(())
}

/// Indices of the interleaved image `src` with `levels[c]` levels in channel `c`, into `dst`.
pub fn indices(src: &[u8], dst: &mut [u8], levels: &[u16]) -> Result<()> {
    check_layout(src, dst, levels.len())?;
    check_levels(levels, levels.len())?;
    let tables: Vec<Table> = levels.iter().map(|&l| index_table(l)).collect();
    lut::apply(src, dst, &tables);
    Ok(())
}

/// The reconstruction of the index image `src` into `dst`. Fails when an index is not below its channel's levels.
pub fn dequantize(src: &[u8], dst: &mut [u8], levels: &[u16], rec: Reconstruction) -> Result<()> {
    check_layout(src, dst, levels.len())?;
    check_levels(levels, levels.len())?;
    check_indices(src, levels)?;
    let tables: Vec<Table> = levels.iter().map(|&l| value_table(l, rec)).collect();
    lut::apply(src, dst, &tables);
    Ok(())
}

/// Quantizes and reconstructs in one pass.
pub fn quantize(src: &[u8], dst: &mut [u8], levels: &[u16], rec: Reconstruction) -> Result<()> {
    check_layout(src, dst, levels.len())?;
    check_levels(levels, levels.len())?;
    let tables: Vec<Table> = levels.iter().map(|&l| quantize_table(l, rec)).collect();
    lut::apply(src, dst, &tables);
    Ok(())
}

/// Checks that every index of channel `c` (of `bounds.len()` interleaved channels) is below `bounds[c]`.
pub fn check_indices(src: &[u8], bounds: &[u16]) -> Result<()> {
    let maxima = channel_maxima(src, bounds.len());
    for (c, (&m, &b)) in maxima.iter().zip(bounds).enumerate() {
        if m as u16 >= b {
            let which = if bounds.len() > 1 { format!(" in channel {c}") } else { String::new() };
            return Err(Error::value(
                "indices",
                format!("index {m}{which} is out of range for {b} levels (expected 0..{})", b - 1),
            ));
        }
    }
    Ok(())
}

/// The largest value of each of `channels` interleaved channels (0 for an empty input; no channels for 0).
pub fn channel_maxima(src: &[u8], channels: usize) -> Vec<u8> {
    if channels == 0 {
        return Vec::new();
    }
    use rayon::prelude::*;
    // Element-wise maxima over blocks of 192 bytes (a multiple of 1, 2, 3 and 4, so lane i always holds channel
    // i % channels) vectorise; the 192 lanes are folded into channels at the end.
    const BLOCK: usize = 192;
    let fold = |s: &[u8]| {
        let mut acc = [0u8; BLOCK];
        let mut blocks = s.chunks_exact(BLOCK);
        for b in &mut blocks {
            for (a, &v) in acc.iter_mut().zip(b) {
                *a = (*a).max(v);
            }
        }
        for (a, &v) in acc.iter_mut().zip(blocks.remainder()) {
            *a = (*a).max(v);
        }
        acc
    };
    let acc =
        src.par_chunks(lut::CHUNK).map(fold).reduce(|| [0u8; BLOCK], |a, b| std::array::from_fn(|i| a[i].max(b[i])));
    let mut m = vec![0u8; channels];
    for (i, &v) in acc.iter().enumerate() {
        m[i % channels] = m[i % channels].max(v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_floor_of_x_times_l_over_256() {
        for l in 2..=256u16 {
            for x in 0..=255u8 {
                assert_eq!(index_of(x, l) as u32, (x as u32 * l as u32) / 256);
            }
        }
    }

    #[test]
    fn midpoint_minimises_squared_error_over_the_bin() {
        for l in 2..=256u16 {
            for i in 0..l {
                let members: Vec<i64> = (0..=255u8).filter(|&x| index_of(x, l) == i as u8).map(|x| x as i64).collect();
                if members.is_empty() {
                    continue;
                }
                let cost = |v: i64| members.iter().map(|&x| (x - v) * (x - v)).sum::<i64>();
                let got = value_of(i as u8, l, Reconstruction::Midpoint) as i64;
                let best = (0..=255).map(cost).min().unwrap();
                assert_eq!(cost(got), best, "l={l} i={i}");
            }
        }
        assert_eq!(value_of(0, 16, Reconstruction::Midpoint), 8);
        assert_eq!(value_of(0, 2, Reconstruction::Midpoint), 64);
        assert_eq!(value_of(1, 2, Reconstruction::Midpoint), 192);
    }

    #[test]
    fn full_range_rounds_half_to_even() {
        assert_eq!(value_of(0, 2, Reconstruction::FullRange), 0);
        assert_eq!(value_of(1, 2, Reconstruction::FullRange), 255);
        assert_eq!(value_of(1, 3, Reconstruction::FullRange), 128); // 127.5
        assert_eq!(value_of(1, 7, Reconstruction::FullRange), 42); // 42.5
        for l in 2..=256u16 {
            for i in 0..l {
                let exact = i as f64 * 255.0 / (l - 1) as f64;
                let want = exact.round_ties_even() as u8;
                assert_eq!(value_of(i as u8, l, Reconstruction::FullRange), want);
            }
        }
    }

    #[test]
    fn bad_layouts_are_errors_not_panics() {
        let mut out = [0u8; 6];
        assert!(indices(&[0; 6], &mut out, &[]).is_err());
        assert!(quantize(&[0; 6], &mut out, &[4; 5], Reconstruction::Midpoint).is_err());
        assert!(dequantize(&[0; 5], &mut out[..5], &[4, 4], Reconstruction::Midpoint).is_err());
        assert!(indices(&[0; 6], &mut out[..3], &[4]).is_err());
        assert!(channel_maxima(&[1, 2], 0).is_empty());
    }

    #[test]
    fn levels_are_checked() {
        assert!(check_levels(&[1], 1).is_err());
        assert!(check_levels(&[257], 1).is_err());
        assert!(check_levels(&[4, 4], 3).is_err());
        assert!(check_levels(&[2, 256, 7], 3).is_ok());
    }

    #[test]
    fn dequantize_rejects_out_of_range_indices() {
        let mut out = [0u8; 6];
        let err = dequantize(&[4, 1, 2, 3, 4, 1], &mut out, &[4, 8, 8], Reconstruction::Midpoint).unwrap_err();
        assert!(err.to_string().contains("channel 0"), "{err}");
        assert!(dequantize(&[3, 7, 7, 0, 0, 0], &mut out, &[4, 8, 8], Reconstruction::Midpoint).is_ok());
    }

    #[test]
    fn fused_equals_two_steps() {
        let src: Vec<u8> = (0..=255).cycle().take(3 * 999).collect();
        let levels = [3u16, 16, 255];
        let (mut idx, mut two, mut one) = (vec![0; src.len()], vec![0; src.len()], vec![0; src.len()]);
        indices(&src, &mut idx, &levels).unwrap();
        dequantize(&idx, &mut two, &levels, Reconstruction::FullRange).unwrap();
        quantize(&src, &mut one, &levels, Reconstruction::FullRange).unwrap();
        assert_eq!(one, two);
    }
}
