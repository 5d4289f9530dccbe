//! Bytes made into a well-formed-looking file: a valid header prefix (versions 1 to 3, so QAC2's version-3 files are
//! reached as well as the older ones) and both CRCs recomputed, so the mutations reach the field checks and the
//! entropy decoders instead of stopping at a checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 60 {
        return;
    }
    let mut f = data.to_vec();
    let version = 1 + f[4] % 3;
    f[..6].copy_from_slice(&[0x89, b'Q', b'F', b'Z', version, 0]);
    let hl = u16::from_le_bytes([f[6], f[7]]) as usize;
    if (8..=f.len().saturating_sub(4)).contains(&hl) {
        let crc = crc32(&f[..hl - 4]);
        f[hl - 4..hl].copy_from_slice(&crc.to_le_bytes());
        let end = f.len() - 4;
        let plen = (end - hl) as u64;
        if hl >= 12 {
            f[hl - 12..hl - 4].copy_from_slice(&plen.to_le_bytes());
            let crc = crc32(&f[..hl - 4]);
            f[hl - 4..hl].copy_from_slice(&crc.to_le_bytes());
        }
        let crc = crc32(&f[hl..end]);
        f[end..].copy_from_slice(&crc.to_le_bytes());
    }
    let _ = _core::codec::decode(&f, 1 << 16);
});

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
