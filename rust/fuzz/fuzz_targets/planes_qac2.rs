//! Bytes straight into QAC2's and QAC3's plane decoders (no container, no CRC in the way): the first bytes choose one to four
//! planes' sizes and value ranges, the rest is split into their streams. An error is fine; a panic, a hang, a value
//! outside a plane's range or an allocation beyond the planes is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let n = 1 + (data[0] % 4) as usize;
    let (w, h) = (1 + (data[1] % 48) as usize, 1 + (data[2] % 48) as usize);
    let hi = [1, 7, 63, 255, 511, 32767][(data[3] % 6) as usize];
    let specs: Vec<(usize, usize, i32, i32)> =
        (0..n).map(|k| if k == 0 { (w, h, 0, hi) } else { (w, h, -hi, hi) }).collect();
    let body = &data[4..];
    let chunk = body.len().div_ceil(n).max(1);
    let mut streams: Vec<&[u8]> = body.chunks(chunk).collect();
    streams.resize(n, &[]);
    for decode in [_core::codec::model::decode_planes, _core::codec::model::decode_planes_qac3] {
        if let Ok(planes) = decode(&streams, &specs) {
            for (p, &(_, _, lo, hi)) in planes.iter().zip(&specs) {
                assert!(p.data.iter().all(|&v| (lo..=hi).contains(&(v as i32))));
            }
        }
    }
});
