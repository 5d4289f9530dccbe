//! n-bit packing of 8-bit values (1 <= bits <= 8) into a dense little-endian bit stream.
//!
//! Bit order: value `k` occupies bits `k*bits .. (k+1)*bits` of the stream, least significant bit first, and stream bit
//! `j` is bit `j % 8` (counting from the least significant) of byte `j / 8`. This is NumPy's `bitorder="little"`:
//! for `bits = 1` the result equals `np.packbits(values, bitorder="little")`. `n` values take `ceil(n * bits / 8)`
//! bytes; the unused high bits of the last byte are zero.
//!
//! The work is done eight values (one u64, `bits` output bytes) at a time with shifts and masks that gather or spread
//! the fields (SWAR), specialised for each width so the shifts are constants, and spread over both cores.

use crate::alloc::zeroed;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Values per parallel work item (a multiple of 8, so every item starts on a byte boundary of the stream).
const GROUPS_PER_CHUNK: usize = 1 << 16;
const CHUNK_VALUES: usize = 8 * GROUPS_PER_CHUNK;

/// The number of bytes `count` values of `bits` bits take: `ceil(count * bits / 8)`.
pub fn packed_len(count: usize, bits: u32) -> usize {
    // count * bits cannot overflow in practice (count is a buffer length), but stay exact anyway.
    count / 8 * bits as usize + (count % 8 * bits as usize).div_ceil(8)
}

fn check_bits(bits: u32) -> Result<()> {
    if (1..=8).contains(&bits) {
        Ok(())
    } else {
        Err(Error::value("bits", format!("expected 1..8, got {bits}")))
    }
}

/// `v` repeated in every `lane`-bit lane of a u64.
const fn rep(v: u64, lane: u32) -> u64 {
    let mut r = 0u64;
    let mut s = 0;
    while s < 64 {
        r |= v << s;
        s += lane;
    }
    r
}

const fn low(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Gathers the low `B` bits of each byte of `x` into the low `8 * B` bits.
#[inline(always)]
fn gather<const B: u32>(x: u64) -> u64 {
    let x = (x & rep(0xFF, 16)) | ((x & rep(0xFF00, 16)) >> (8 - B));
    let x = (x & rep(0xFFFF, 32)) | ((x & rep(0xFFFF_0000, 32)) >> (16 - 2 * B));
    (x & 0xFFFF_FFFF) | ((x & 0xFFFF_FFFF_0000_0000) >> (32 - 4 * B))
}

/// The inverse of `gather`: spreads the low `8 * B` bits into the low `B` bits of each byte.
#[inline(always)]
fn spread<const B: u32>(y: u64) -> u64 {
    let x = (y & low(4 * B)) | (((y >> (4 * B)) & low(4 * B)) << 32);
    let x = (x & rep(low(2 * B), 32)) | (((x >> (2 * B)) & rep(low(2 * B), 32)) << 16);
    (x & rep(low(B), 16)) | (((x >> B) & rep(low(B), 16)) << 8)
}

/// Packs whole groups of 8 values; returns the OR of all inputs so the caller can check the range once.
#[inline(always)]
fn pack_groups<const B: u32>(values: &[u8], out: &mut [u8]) -> u64 {
    let mut seen = 0u64;
    for (v, o) in values.chunks_exact(8).zip(out.chunks_exact_mut(B as usize)) {
        let x = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
        seen |= x;
        o.copy_from_slice(&gather::<B>(x).to_le_bytes()[..B as usize]);
    }
    seen
}

#[inline(always)]
fn unpack_groups<const B: u32>(packed: &[u8], out: &mut [u8]) {
    let groups = out.len() / 8;
    // While 8 bytes remain, read a whole (unaligned) u64 and mask: cheaper than assembling B bytes.
    let fast = if packed.len() >= 8 { ((packed.len() - 8) / B as usize + 1).min(groups) } else { 0 };
    for (g, o) in out.chunks_exact_mut(8).enumerate().take(fast) {
        let at = g * B as usize;
        let word = match packed.get(at..at + 8) {
            Some(w) => u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
            None => 0, // unreachable by the choice of `fast`
        };
        o.copy_from_slice(&spread::<B>(word & low(8 * B)).to_le_bytes());
    }
    for (p, o) in packed.chunks_exact(B as usize).zip(out.chunks_exact_mut(8)).skip(fast) {
        let mut b = [0u8; 8];
        b[..B as usize].copy_from_slice(p);
        o.copy_from_slice(&spread::<B>(u64::from_le_bytes(b)).to_le_bytes());
    }
}

/// The slow, obvious version for the last `n % 8` values.
fn pack_tail(values: &[u8], out: &mut [u8], bits: u32) {
    for (k, &v) in values.iter().enumerate() {
        for b in 0..bits as usize {
            let j = k * bits as usize + b;
            out[j / 8] |= ((v >> b) & 1) << (j % 8);
        }
    }
}

fn unpack_tail(packed: &[u8], out: &mut [u8], bits: u32) {
    for (k, o) in out.iter_mut().enumerate() {
        let mut v = 0u8;
        for b in 0..bits as usize {
            let j = k * bits as usize + b;
            v |= ((packed[j / 8] >> (j % 8)) & 1) << b;
        }
        *o = v;
    }
}

macro_rules! by_width {
    ($bits:expr, $f:ident, $($arg:expr),*) => {
        match $bits {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            _ => $f::<8>($($arg),*),
        }
    };
}

/// Packs one chunk (a multiple of 8 values except for the last chunk), returning the OR of its values.
fn pack_chunk(values: &[u8], out: &mut [u8], bits: u32) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if (2..=7).contains(&bits) && x86::has_vbmi() {
            // SAFETY: the CPU has AVX-512 VBMI (checked just above).
            return unsafe { x86::pack_chunk_vbmi(values, out, bits) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { x86::pack_chunk_avx2(values, out, bits) };
        }
    }
    pack_chunk_generic(values, out, bits)
}

#[inline(always)]
fn pack_chunk_generic(values: &[u8], out: &mut [u8], bits: u32) -> u64 {
    let whole = values.len() / 8 * 8;
    let split = whole / 8 * bits as usize;
    let (head, tail) = out.split_at_mut(split);
    let seen = if bits == 8 {
        head.copy_from_slice(&values[..whole]);
        values[..whole].iter().fold(0u64, |s, &v| s | v as u64)
    } else {
        by_width!(bits, pack_groups, &values[..whole], head)
    };
    tail.fill(0);
    pack_tail(&values[whole..], tail, bits);
    values[whole..].iter().fold(seen, |s, &v| s | v as u64)
}

fn unpack_chunk(packed: &[u8], out: &mut [u8], bits: u32) {
    #[cfg(target_arch = "x86_64")]
    {
        if bits < 8 && x86::has_vbmi() {
            // SAFETY: the CPU has AVX-512 VBMI (checked just above).
            unsafe { x86::unpack_chunk_vbmi(packed, out, bits) };
            return;
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { x86::unpack_chunk_avx2(packed, out, bits) };
            return;
        }
    }
    unpack_chunk_generic(packed, out, bits)
}

#[inline(always)]
fn unpack_chunk_generic(packed: &[u8], out: &mut [u8], bits: u32) {
    let whole = out.len() / 8 * 8;
    let split = whole / 8 * bits as usize;
    if bits == 8 {
        out[..whole].copy_from_slice(&packed[..split]);
    } else {
        by_width!(bits, unpack_groups, &packed[..split], &mut out[..whole]);
    }
    unpack_tail(&packed[split..], &mut out[whole..], bits);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    // The same code compiled for AVX2 (with BMI2), chosen at run time: wider registers for the compiler's own use.
    // One bit per value has a dedicated instruction: `movemask` gathers bit 7 of 32 bytes into 32 bits, in exactly
    // the stream's order (value k -> bit k).
    #[target_feature(enable = "avx2,bmi2")]
    pub(super) fn pack_chunk_avx2(values: &[u8], out: &mut [u8], bits: u32) -> u64 {
        if bits != 1 {
            return super::pack_chunk_generic(values, out, bits);
        }
        let whole = values.len() / 32 * 32;
        let mut seen = _mm256_setzero_si256();
        for (v, o) in values[..whole].chunks_exact(32).zip(out.chunks_exact_mut(4)) {
            // SAFETY: `v` is 32 readable bytes; unaligned load.
            let x = unsafe { _mm256_loadu_si256(v.as_ptr() as *const __m256i) };
            seen = _mm256_or_si256(seen, x);
            let m = _mm256_movemask_epi8(_mm256_slli_epi16::<7>(x)) as u32;
            o.copy_from_slice(&m.to_le_bytes());
        }
        let mut lanes = [0u8; 32];
        // SAFETY: `lanes` is 32 writable bytes; unaligned store.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, seen) };
        let seen = lanes.iter().fold(0u64, |s, &v| s | v as u64);
        seen | super::pack_chunk_generic(&values[whole..], &mut out[whole / 8..], 1)
    }

    #[target_feature(enable = "avx2,bmi2")]
    pub(super) fn unpack_chunk_avx2(packed: &[u8], out: &mut [u8], bits: u32) {
        super::unpack_chunk_generic(packed, out, bits)
    }

    /// Whether AVX-512 VBMI (byte permutes and multishift) is available; cached by std.
    pub(super) fn has_vbmi() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vbmi")
    }

    /// Unpacks 64 values (8 groups, `8 * bits` input bytes) per step: `vpermb` puts each group's bytes in its own
    /// qword, `vpmultishiftqb` pulls the 8 fields at bit offsets 0, b, 2b, ... into the 8 bytes, a mask clears the
    /// bits above b. `bits` is 1..=7; `out.len()` values, `packed` holds exactly `packed_len(out.len(), bits)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) fn unpack_chunk_vbmi(packed: &[u8], out: &mut [u8], bits: u32) {
        let b = bits as usize;
        let idx: [u8; 64] = std::array::from_fn(|i| ((i / 8) * b + i % 8) as u8);
        let ctl: [u8; 64] = std::array::from_fn(|i| ((i % 8) * b) as u8);
        // SAFETY: 64-byte arrays; unaligned loads.
        let (idx, ctl) = unsafe {
            (_mm512_loadu_si512(idx.as_ptr() as *const __m512i), _mm512_loadu_si512(ctl.as_ptr() as *const __m512i))
        };
        let mask = _mm512_set1_epi8(((1u32 << bits) - 1) as i8);
        let in_mask: u64 = (1u64 << (8 * b)) - 1;
        let blocks = (out.len() / 64).min(packed.len() / (8 * b));
        for k in 0..blocks {
            // SAFETY: block k reads bytes 8bk .. 8b(k+1) <= packed.len() (masked load: nothing past that is touched)
            // and writes bytes 64k .. 64(k+1) <= out.len().
            unsafe {
                let src = _mm512_maskz_loadu_epi8(in_mask, packed.as_ptr().add(8 * b * k) as *const i8);
                let grouped = _mm512_permutexvar_epi8(idx, src);
                let fields = _mm512_and_si512(_mm512_multishift_epi64_epi8(ctl, grouped), mask);
                _mm512_storeu_si512(out.as_mut_ptr().add(64 * k) as *mut __m512i, fields);
            }
        }
        super::unpack_chunk_generic(&packed[8 * b * blocks..], &mut out[64 * blocks..], bits);
    }

    /// Packs 64 values per step: the gather of `super::gather` on eight qwords at once, then `vpermb` compacts the
    /// low `bits` bytes of each qword into `8 * bits` contiguous bytes. `bits` is 2..=7. Returns the OR of the values.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) fn pack_chunk_vbmi(values: &[u8], out: &mut [u8], bits: u32) -> u64 {
        let b = bits as usize;
        let idx: [u8; 64] = std::array::from_fn(|m| if m < 8 * b { ((m / b) * 8 + m % b) as u8 } else { 0 });
        // SAFETY: a 64-byte array; unaligned load.
        let idx = unsafe { _mm512_loadu_si512(idx.as_ptr() as *const __m512i) };
        let q = |v: u64| _mm512_set1_epi64(v as i64);
        let shift = |n: u32| _mm_cvtsi64_si128(n as i64);
        let out_mask: u64 = (1u64 << (8 * b)) - 1;
        let blocks = (values.len() / 64).min(out.len() / (8 * b));
        let mut seen = _mm512_setzero_si512();
        for k in 0..blocks {
            // SAFETY: block k reads values 64k .. 64(k+1) <= values.len() and writes bytes 8bk .. 8b(k+1) <= out.len()
            // (masked store).
            unsafe {
                let x = _mm512_loadu_si512(values.as_ptr().add(64 * k) as *const __m512i);
                seen = _mm512_or_si512(seen, x);
                let x = _mm512_or_si512(
                    _mm512_and_si512(x, q(super::rep(0xFF, 16))),
                    _mm512_srl_epi64(_mm512_and_si512(x, q(super::rep(0xFF00, 16))), shift(8 - bits)),
                );
                let x = _mm512_or_si512(
                    _mm512_and_si512(x, q(super::rep(0xFFFF, 32))),
                    _mm512_srl_epi64(_mm512_and_si512(x, q(super::rep(0xFFFF_0000, 32))), shift(16 - 2 * bits)),
                );
                let x = _mm512_or_si512(
                    _mm512_and_si512(x, q(0xFFFF_FFFF)),
                    _mm512_srl_epi64(_mm512_and_si512(x, q(0xFFFF_FFFF_0000_0000)), shift(32 - 4 * bits)),
                );
                let packed = _mm512_permutexvar_epi8(idx, x);
                _mm512_mask_storeu_epi8(out.as_mut_ptr().add(8 * b * k) as *mut i8, out_mask, packed);
            }
        }
        let mut lanes = [0u8; 64];
        // SAFETY: a 64-byte array; unaligned store.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr() as *mut __m512i, seen) };
        let seen = lanes.iter().fold(0u64, |s, &v| s | v as u64);
        seen | super::pack_chunk_generic(&values[64 * blocks..], &mut out[8 * b * blocks..], bits)
    }
}

/// Packs `values` (each below `2^bits`) into `ceil(n * bits / 8)` bytes.
pub fn pack(values: &[u8], bits: u32) -> Result<Vec<u8>> {
    check_bits(bits)?;
    let mut out = zeroed::<u8>(packed_len(values.len(), bits))?;
    pack_into(values, bits, &mut out)?;
    Ok(out)
}

/// `pack` into `out`, which must be exactly `packed_len(values.len(), bits)` bytes (its contents are overwritten).
pub fn pack_into(values: &[u8], bits: u32, out: &mut [u8]) -> Result<()> {
    check_bits(bits)?;
    if out.len() != packed_len(values.len(), bits) {
        return Err(Error::value(
            "out",
            format!("expected {} bytes, got {}", packed_len(values.len(), bits), out.len()),
        ));
    }
    let out_chunk = GROUPS_PER_CHUNK * bits as usize;
    let seen = if values.len() <= CHUNK_VALUES {
        pack_chunk(values, out, bits)
    } else {
        values
            .par_chunks(CHUNK_VALUES)
            .zip(out.par_chunks_mut(out_chunk))
            .map(|(v, o)| pack_chunk(v, o, bits))
            .reduce(|| 0, |a, b| a | b)
    };
    if seen & !rep(low(bits), 8) != 0 {
        // The error path may be slow: find the first offender to name it.
        let (k, v) = values.iter().enumerate().find(|(_, &v)| (v as u32) >> bits != 0).unwrap_or((0, &0));
        return Err(Error::value(
            "values",
            format!("value {v} at position {k} does not fit in {bits} bits (expected 0..{})", (1u32 << bits) - 1),
        ));
    }
    Ok(())
}

/// Checks that `packed_bytes` bytes hold `count` values of `bits` bits.
pub fn check_unpack(packed_bytes: usize, bits: u32, count: usize) -> Result<()> {
    check_bits(bits)?;
    let need = packed_len(count, bits);
    if packed_bytes < need {
        return Err(Error::value(
            "packed",
            format!("{count} values of {bits} bits need {need} bytes, got {packed_bytes}"),
        ));
    }
    Ok(())
}

/// Unpacks `count` values of `bits` bits from `packed`, which must hold at least `ceil(count * bits / 8)` bytes
/// (extra bytes are ignored).
pub fn unpack(packed: &[u8], bits: u32, count: usize) -> Result<Vec<u8>> {
    check_unpack(packed.len(), bits, count)?;
    let mut out = zeroed::<u8>(count)?;
    unpack_into(packed, bits, &mut out)?;
    Ok(out)
}

/// `unpack` of `out.len()` values into `out`.
pub fn unpack_into(packed: &[u8], bits: u32, out: &mut [u8]) -> Result<()> {
    let count = out.len();
    check_unpack(packed.len(), bits, count)?;
    let packed = &packed[..packed_len(count, bits)];
    if count <= CHUNK_VALUES {
        unpack_chunk(packed, out, bits);
    } else {
        out.par_chunks_mut(CHUNK_VALUES)
            .zip(packed.par_chunks(GROUPS_PER_CHUNK * bits as usize))
            .for_each(|(o, p)| unpack_chunk(p, o, bits));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, bits: u32, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as u32 & ((1 << bits) - 1)) as u8
            })
            .collect()
    }

    fn reference_pack(v: &[u8], bits: u32) -> Vec<u8> {
        let mut out = vec![0u8; packed_len(v.len(), bits)];
        pack_tail(v, &mut out, bits);
        out
    }

    #[test]
    fn gather_and_spread_are_inverse() {
        fn check<const B: u32>() {
            for seed in 0..50 {
                let v = values(8, B, seed);
                let x = u64::from_le_bytes(v.clone().try_into().unwrap());
                let y = gather::<B>(x);
                if B < 8 {
                    assert_eq!(y >> (8 * B), 0); // a shift by 64 would overflow
                }
                assert_eq!(spread::<B>(y), x);
            }
        }
        check::<1>();
        check::<2>();
        check::<3>();
        check::<4>();
        check::<5>();
        check::<6>();
        check::<7>();
        check::<8>();
    }

    #[test]
    fn pack_matches_the_bit_by_bit_definition_and_round_trips() {
        for bits in 1..=8 {
            for n in [0, 1, 7, 8, 9, 63, 1000, CHUNK_VALUES - 3, CHUNK_VALUES * 2 + 13] {
                let v = values(n, bits, n as u64 + bits as u64);
                let p = pack(&v, bits).unwrap();
                assert_eq!(p.len(), (n * bits as usize).div_ceil(8));
                assert_eq!(p, reference_pack(&v, bits), "bits={bits} n={n}");
                assert_eq!(unpack(&p, bits, n).unwrap(), v, "bits={bits} n={n}");
            }
        }
    }

    #[test]
    fn one_bit_is_lsb_first() {
        assert_eq!(pack(&[1, 0, 0, 0, 0, 0, 0, 0, 1], 1).unwrap(), vec![0b0000_0001, 0b0000_0001]);
        assert_eq!(pack(&[0b101, 0b011], 3).unwrap(), vec![0b0001_1101]);
    }

    #[test]
    fn errors() {
        assert!(pack(&[0, 1], 0).is_err());
        assert!(pack(&[0, 1], 9).is_err());
        let e = pack(&[0, 1, 2, 4], 2).unwrap_err().to_string();
        assert!(e.contains("value 4 at position 3"), "{e}");
        let big = values(CHUNK_VALUES * 2 + 5, 3, 1);
        let mut bad = big.clone();
        *bad.last_mut().unwrap() = 8;
        assert!(pack(&bad, 3).is_err());
        assert!(unpack(&[0u8; 2], 3, 6).is_err());
        assert_eq!(unpack(&[0u8; 3], 3, 6).unwrap(), vec![0; 6]);
    }
}
