//! An arbitrary small image and options through encode and decode: the decoded image must keep the bound of bounded
//! mode (exact at max error 0), and every valid option must encode; an encoder error on valid options is a bug.
#![no_main]

use _core::codec::container::{Coder, Color, Subsampling};
use _core::codec::{decode, encode, Options, Quantization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Header bytes: width, height, channel choice, mode, coder and colour, one parameter per channel.
    let [w, h, ch, mode, coder, color, p0, p1, p2, p3, pixels @ ..] = data else { return };
    let (w, h) = (1 + *w as usize % 48, 1 + *h as usize % 48);
    let channels = [1, 3, 4][*ch as usize % 3];
    let n = w * h * channels;
    if pixels.is_empty() {
        return;
    }
    // The pixels repeat the remaining bytes: small inputs still fill any size.
    let image: Vec<u8> = pixels.iter().copied().cycle().take(n).collect();
    let params = [*p0, *p1, *p2, *p3];
    let coder = [Coder::Qac, Coder::Brotli, Coder::Qac2, Coder::Qac3, Coder::Loco][*coder as usize % 5];
    let bounded = mode % 2 == 0;
    let color = match (channels, color % 3) {
        (1, _) => Color::None,
        (_, 0) => Color::None,
        (_, 1) => Color::YCoCgR,
        _ if bounded => Color::YCoCgR,
        _ => Color::YCbCr,
    };
    let subsampling = if color == Color::YCbCr && mode % 4 == 1 { Subsampling::Chroma420 } else { Subsampling::None };
    let opts = Options { color, subsampling, coder, brotli_quality: 1, corrector: [0; 8] };
    let q = if bounded {
        Quantization::Bounded((0..channels).map(|c| params[c] % 9).collect())
    } else {
        Quantization::Levels((0..channels).map(|c| 2 + params[c] as u16 % 255).collect())
    };
    let file = encode(&image, w, h, channels, &q, &opts).expect("valid options must encode");
    let out = decode(&file, 1 << 16).expect("a file just encoded must decode");
    assert_eq!(out.image.len(), n);
    if let Quantization::Bounded(d) = &q {
        for (i, (&a, &b)) in image.iter().zip(&out.image).enumerate() {
            let bound = d[i % channels];
            assert!(a.abs_diff(b) <= bound, "pixel value {i}: {a} decoded as {b}, bound {bound}");
        }
    }
});
