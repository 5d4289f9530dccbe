//! Per-channel 256-entry lookup tables applied to interleaved 8-bit images.
//!
//! Every scalar quantizer in qfast (uniform, Lloyd-Max, mu-law, and their reconstructions) is a map from a byte to a
//! byte, possibly different for each channel. So one kernel does all their pixel work: `apply`. It runs on both
//! cores (rayon, chunks of `CHUNK` bytes) and picks the widest instructions the CPU has at run time:
//! AVX-512 VBMI does a full 256-entry byte lookup with two `vpermi2b` and a blend per 64 bytes; elsewhere a scalar
//! loop the compiler unrolls.

use rayon::prelude::*;

/// One lookup table: `table[x]` is the output for input byte `x`.
pub type Table = [u8; 256];

/// Bytes per parallel work item. A multiple of 64 (one AVX-512 vector) and of 1, 2, 3 and 4 channels, so every chunk
/// starts at channel 0 and on a vector boundary.
pub const CHUNK: usize = 768 * 512;

/// Inputs smaller than this are done on the calling thread: spreading them costs more than it saves.
const PARALLEL_MIN: usize = 2 * CHUNK;

/// Applies `tables[c]` to every byte of channel `c` of the interleaved image `src`, writing into `dst`.
///
/// `tables.len()` is the channel count (1..=4); `src.len()` and `dst.len()` should be equal multiples of it (the
/// callers check with `uniform::check_layout`). Otherwise nothing panics: without tables nothing is written, and only
/// the common length is mapped.
pub fn apply(src: &[u8], dst: &mut [u8], tables: &[Table]) {
    if tables.is_empty() {
        return;
    }
    // One table for all channels when they agree: the fast single-table path.
    let tables: &[Table] = if tables.iter().all(|t| t == &tables[0]) { &tables[..1] } else { tables };
    if src.len() < PARALLEL_MIN {
        apply_serial(src, dst, tables);
    } else {
        dst.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(d, s)| apply_serial(s, d, tables));
    }
}

/// `apply` on the calling thread. `src` must start at channel 0.
pub fn apply_serial(src: &[u8], dst: &mut [u8], tables: &[Table]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_vbmi() && !tables.is_empty() {
            // SAFETY: the CPU supports the instructions `apply_vbmi` is compiled for (checked just above).
            unsafe { x86::apply_vbmi(src, dst, tables) };
            return;
        }
    }
    apply_scalar(src, dst, tables);
}

/// Whether AVX-512 VBMI (byte permutes across a 64-byte vector) is available; cached by std.
#[cfg(target_arch = "x86_64")]
fn has_vbmi() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vbmi")
}

/// The portable version of `apply_serial`.
pub fn apply_scalar(src: &[u8], dst: &mut [u8], tables: &[Table]) {
    match tables {
        [] => {}
        [t] => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = t[s as usize];
            }
        }
        _ => {
            let c = tables.len();
            for (dp, sp) in dst.chunks_mut(c).zip(src.chunks(c)) {
                for ((d, &s), t) in dp.iter_mut().zip(sp).zip(tables) {
                    *d = t[s as usize];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Table;
    use std::arch::x86_64::*;

    /// The four 64-byte quarters of a table, in registers.
    #[derive(Clone, Copy)]
    struct Quarters([__m512i; 4]);

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn load_quarters(t: &Table) -> Quarters {
        // SAFETY: `t` is 256 readable bytes; unaligned loads.
        unsafe {
            let p = t.as_ptr();
            Quarters([
                _mm512_loadu_si512(p as *const __m512i),
                _mm512_loadu_si512(p.add(64) as *const __m512i),
                _mm512_loadu_si512(p.add(128) as *const __m512i),
                _mm512_loadu_si512(p.add(192) as *const __m512i),
            ])
        }
    }

    /// A 256-entry byte lookup of 64 bytes: bits 0..6 pick within a 128-entry half, bit 7 picks the half.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn lookup(q: Quarters, x: __m512i) -> __m512i {
        let lo = _mm512_permutex2var_epi8(q.0[0], x, q.0[1]);
        let hi = _mm512_permutex2var_epi8(q.0[2], x, q.0[3]);
        _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi)
    }

    /// Lane masks of channel `c` for a vector starting at a byte offset whose remainder modulo `n` is `phase`.
    fn channel_mask(n: usize, c: usize, phase: usize) -> u64 {
        (0..64).filter(|lane| (phase + lane) % n == c).fold(0u64, |m, lane| m | (1u64 << lane))
    }

    /// `apply_scalar`, 64 bytes at a time. `src` starts at channel 0.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) fn apply_vbmi(src: &[u8], dst: &mut [u8], tables: &[Table]) {
        let n = src.len().min(dst.len());
        let nc = tables.len();
        let full = n / 64 * 64;
        let q: Vec<Quarters> = tables.iter().map(|t| load_quarters(t)).collect();
        // masks[phase][c]: for nc channels a vector's channel phase is (offset % nc), and 64 % nc cycles through
        // at most 3 phases (for nc = 3).
        let masks: Vec<Vec<u64>> = (0..nc).map(|phase| (0..nc).map(|c| channel_mask(nc, c, phase)).collect()).collect();
        let mut i = 0;
        while i < full {
            // SAFETY: i + 64 <= full <= n, so 64 bytes are in bounds of both slices; unaligned loads and stores.
            unsafe {
                let x = _mm512_loadu_si512(src.as_ptr().add(i) as *const __m512i);
                let mut r = lookup(q[0], x);
                if nc > 1 {
                    let m = &masks[i % nc];
                    for c in 1..nc {
                        r = _mm512_mask_mov_epi8(r, m[c], lookup(q[c], x));
                    }
                }
                _mm512_storeu_si512(dst.as_mut_ptr().add(i) as *mut __m512i, r);
            }
            i += 64;
        }
        // The tail: `full` is a multiple of 64 but maybe not of nc, so restart the channel count at `full`.
        for j in full..n {
            dst[j] = tables[j % nc][src[j] as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    fn tables(n: usize) -> Vec<Table> {
        (0..n)
            .map(|c| {
                let mut t = [0u8; 256];
                for (x, v) in t.iter_mut().enumerate() {
                    *v = ((x * (c + 3) + 17 * c) % 256) as u8;
                }
                t
            })
            .collect()
    }

    fn reference(src: &[u8], tables: &[Table]) -> Vec<u8> {
        src.iter().enumerate().map(|(i, &x)| tables[i % tables.len()][x as usize]).collect()
    }

    #[test]
    fn every_path_matches_the_definition() {
        for nc in 1..=4 {
            let t = tables(nc);
            // Lengths around vector, chunk and parallel boundaries, all multiples of nc.
            for len in [0, 3, 60, 64, 65 * nc, 192 * 7 + 3 * nc, CHUNK * 2 + 960 * nc, CHUNK * 3 + 12] {
                let len = len / nc * nc;
                let src = pseudo_random(len, len as u64 + nc as u64);
                let want = reference(&src, &t);
                let mut got = vec![0u8; len];
                apply(&src, &mut got, &t);
                assert_eq!(got, want, "apply nc={nc} len={len}");
                let mut got = vec![0u8; len];
                apply_serial(&src, &mut got, &t);
                assert_eq!(got, want, "apply_serial nc={nc} len={len}");
                let mut got = vec![0u8; len];
                apply_scalar(&src, &mut got, &t);
                assert_eq!(got, want, "apply_scalar nc={nc} len={len}");
            }
        }
    }

    #[test]
    fn equal_tables_take_the_single_table_path_with_the_same_result() {
        let t = vec![tables(1)[0]; 3];
        let src = pseudo_random(3 * 1000, 5);
        let mut got = vec![0u8; src.len()];
        apply(&src, &mut got, &t);
        assert_eq!(got, reference(&src, &t));
    }
}
