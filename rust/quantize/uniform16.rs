//! Uniform quantization of 16-bit values into `L` equal bins (`L` in 2..=65536), and its two reconstructions in
//! 16 bits: the same definitions as `uniform` with 65536 values in place of 256.
//!
//! The index of `x` is `floor(x * L / 65536)`; bin `i` holds `ceil(65536 i / L) ..= ceil(65536 (i + 1) / L) - 1`;
//! midpoint reconstruction is the bin's middle, rounded up; full-range is `round(i * 65535 / (L - 1))`, ties to
//! even.

use crate::error::{Error, Result};
use crate::quantize::uniform::Reconstruction;
use rayon::prelude::*;

/// The most levels a 16-bit channel can have.
pub const MAX_LEVELS: u32 = 65536;

/// Checks one level count per channel, each in 2..=65536, and 1..=4 channels.
pub fn check_levels(levels: &[u32], channels: usize) -> Result<()> {
    if !(1..=4).contains(&channels) || levels.len() != channels {
        return Err(Error::value(
            "levels",
            format!("expected one level count per channel ({channels}), got {}", levels.len()),
        ));
    }
    if let Some(&l) = levels.iter().find(|&&l| !(2..=MAX_LEVELS).contains(&l)) {
        return Err(Error::value("levels", format!("expected 2..65536, got {l}")));
    }
    Ok(())
}

/// The index of `x` at `levels` levels.
pub fn index_of(x: u16, levels: u32) -> u16 {
    ((x as u64 * levels as u64) >> 16) as u16
}

fn bin_start(i: u64, levels: u64) -> u64 {
    (65536 * i).div_ceil(levels)
}

/// The reconstruction of index `i` (`i < levels`).
pub fn value_of(i: u16, levels: u32, rec: Reconstruction) -> u16 {
    let (i, l) = (i as u64, levels as u64);
    match rec {
        Reconstruction::Midpoint => {
            let (lo, hi) = (bin_start(i, l), bin_start(i + 1, l) - 1);
            (lo + hi).div_ceil(2) as u16
        }
        Reconstruction::FullRange => {
            let (num, den) = (i * 65535, l - 1);
            let (q, r) = (num / den, num % den);
            let up = 2 * r > den || (2 * r == den && q % 2 == 1);
            (q + up as u64) as u16
        }
    }
}

fn check(src: &[u16], dst: &[u16], levels: &[u32]) -> Result<()> {
    check_levels(levels, levels.len())?;
    if !src.len().is_multiple_of(levels.len()) || dst.len() != src.len() {
        return Err(Error::value("image", "expected whole pixels and an output as long as the input"));
    }
    Ok(())
}

const CHUNK: usize = 1 << 16;

/// Indices of the interleaved 16-bit image `src`, `levels[c]` levels in channel `c`.
pub fn indices(src: &[u16], dst: &mut [u16], levels: &[u32]) -> Result<()> {
    check(src, dst, levels)?;
    let c = levels.len();
    let chunk = CHUNK - CHUNK % c;
    dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| {
        for (k, (o, &x)) in d.iter_mut().zip(s).enumerate() {
            *o = index_of(x, levels[k % c]);
        }
    });
    Ok(())
}

/// Quantization and reconstruction in one pass, in 16 bits.
pub fn quantize(src: &[u16], dst: &mut [u16], levels: &[u32], rec: Reconstruction) -> Result<()> {
    check(src, dst, levels)?;
    let c = levels.len();
    let chunk = CHUNK - CHUNK % c;
    dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| {
        for (k, (o, &x)) in d.iter_mut().zip(s).enumerate() {
            let l = levels[k % c];
            *o = value_of(index_of(x, l), l, rec);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::uniform;

    #[test]
    fn agrees_with_8_bits_scaled() {
        // at L levels, the 16-bit index of x * 256 (x in the high byte) equals the 8-bit index of x
        for l in [2u16, 3, 16, 100, 256] {
            for x in 0..=255u8 {
                assert_eq!(index_of((x as u16) << 8, l as u32) as u8, uniform::index_of(x, l));
            }
        }
    }

    #[test]
    fn reconstructions() {
        assert_eq!(value_of(0, 2, Reconstruction::Midpoint), 16384);
        assert_eq!(value_of(1, 2, Reconstruction::FullRange), 65535);
        let v: Vec<u16> = (0..65535u16).step_by(7).collect();
        let mut out = vec![0u16; v.len()];
        quantize(&v, &mut out, &[65536], Reconstruction::Midpoint).unwrap();
        assert_eq!(out, v);
        assert!(quantize(&v, &mut out, &[1], Reconstruction::Midpoint).is_err());
    }
}
