//! Any bytes through the `.qfz` parser and decoders: an error is fine, a panic, hang or huge allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small pixel limit keeps every accepted header's memory bounded.
    let _ = _core::codec::decode(data, 1 << 16);
});
