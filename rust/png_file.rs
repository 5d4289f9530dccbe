//! PNG files in and out for `qfast palette`'s native path: an 8-bit PNG read into pixels, an indexed PNG written.
//!
//! Every other image file goes through Pillow on the Python side. This part exists for one job, the pngquant-style
//! command (`qfast palette IN.png -o OUT.png --colors K`) as a whole process: with the file read, quantized and
//! written here, the command needs neither NumPy nor Pillow, whose imports alone take longer than the quantization.
//! Decoding and encoding are the `png` crate's (image-rs); this file only chooses what it reads (and hands back the
//! rest for the general path) and writes indexed rows the way Pillow does (unfiltered, 1/2/4 bits for small palettes).

use std::io::Cursor;

use crate::{alloc, Error, Result};

/// Decoded 8-bit pixels, row-major, `channels` bytes each (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA).
pub struct Pixels {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes per pixel.
    pub channels: usize,
    /// `width * height * channels` bytes.
    pub data: Vec<u8>,
}

/// The pixels of a PNG file with 8 bits or fewer per sample (palettes, low bit depths and `tRNS` expanded), or
/// `None` for what the general path should take instead: not a PNG, damaged, 16 bits per sample, an animation, or
/// more than `max_pixels` pixels. `None` is not an error: the caller reads the file its usual way, which gives the
/// usual message when it is bad.
pub fn read(data: &[u8], max_pixels: u64) -> Result<Option<Pixels>> {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(None);
    }
    let header = {
        let mut d = png::Decoder::new(Cursor::new(data));
        match d.read_header_info() {
            Ok(info) => (info.width as u64, info.height as u64, info.bit_depth, info.animation_control.is_some()),
            Err(_) => return Ok(None),
        }
    };
    let (w, h, depth, animated) = header;
    if depth == png::BitDepth::Sixteen || animated || w * h > max_pixels {
        return Ok(None);
    }
    // The decoder's own allocations: its buffers beside the output (which is ours, below), a few rows at most.
    let limits = png::Limits { bytes: (16 * w as usize).max(1 << 20) * 16 };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(data), limits);
    decoder.set_transformations(png::Transformations::EXPAND);
    let Ok(mut reader) = decoder.read_info() else { return Ok(None) };
    let Some(size) = reader.output_buffer_size() else { return Ok(None) };
    let mut out = alloc::zeroed::<u8>(size)?;
    let Ok(frame) = reader.next_frame(&mut out) else { return Ok(None) };
    let channels = frame.color_type.samples();
    if frame.bit_depth != png::BitDepth::Eight || frame.line_size != w as usize * channels {
        return Ok(None);
    }
    out.truncate(h as usize * frame.line_size);
    Ok(Some(Pixels { width: w as usize, height: h as usize, channels, data: out }))
}

/// An indexed PNG of `indices` (`width * height`, each below `palette.len()`) on an RGB palette of 1..256 entries,
/// at zlib level `level` (1..9). Rows are unfiltered and palettes of up to 16 colours take 1, 2 or 4 bits a pixel,
/// as Pillow writes them (and as suits palette images: filters seldom help indices).
pub fn write_indexed(width: usize, height: usize, indices: &[u8], palette: &[[u8; 3]], level: u8) -> Result<Vec<u8>> {
    if palette.is_empty() || palette.len() > 256 {
        return Err(Error::value("palette", format!("expected 1..256 colours, got {}", palette.len())));
    }
    if indices.len() != width * height || indices.iter().any(|&i| i as usize >= palette.len()) {
        return Err(Error::value("indices", "expected one index below the palette size per pixel"));
    }
    let (w32, h32) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(Error::value("indices", format!("a PNG is 1..2^32-1 pixels a side, got {width} x {height}"))),
    };
    let bits = match palette.len() {
        0..=2 => 1,
        3..=4 => 2,
        5..=16 => 4,
        _ => 8,
    };
    let packed = pack_rows(width, height, indices, bits)?;
    let mut out = Vec::new();
    alloc::reserve(&mut out, packed.len() / 2 + 1024)?;
    let plte: Vec<u8> = palette.iter().flatten().copied().collect();
    let mut enc = png::Encoder::new(&mut out, w32, h32);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(match bits {
        1 => png::BitDepth::One,
        2 => png::BitDepth::Two,
        4 => png::BitDepth::Four,
        _ => png::BitDepth::Eight,
    });
    enc.set_palette(plte);
    enc.set_deflate_compression(png::DeflateCompression::Level(level.clamp(1, 9)));
    enc.set_filter(png::Filter::NoFilter);
    let written = enc.write_header().and_then(|mut wr| {
        wr.write_image_data(&packed)?;
        wr.finish()
    });
    written.map_err(|e| Error::value("indices", format!("cannot write the PNG ({e})")))?;
    Ok(out)
}

/// Rows of `bits`-bit indices, most significant bits first, each row padded to a whole byte (PNG's packing).
fn pack_rows(width: usize, height: usize, indices: &[u8], bits: usize) -> Result<Vec<u8>> {
    if bits == 8 {
        let mut v = alloc::with_capacity(indices.len())?;
        v.extend_from_slice(indices);
        return Ok(v);
    }
    let per_byte = 8 / bits;
    let row_bytes = width.div_ceil(per_byte);
    let mut out = alloc::zeroed::<u8>(row_bytes * height)?;
    for (row, dst) in indices.chunks_exact(width).zip(out.chunks_exact_mut(row_bytes)) {
        for (x, &i) in row.iter().enumerate() {
            dst[x / per_byte] |= i << (8 - bits * (x % per_byte + 1));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(width: usize, height: usize, colours: usize) {
        let palette: Vec<[u8; 3]> = (0..colours).map(|i| [i as u8, (i * 7) as u8, 255 - i as u8]).collect();
        let indices: Vec<u8> = (0..width * height).map(|p| ((p * 31 + p / width) % colours) as u8).collect();
        let file = write_indexed(width, height, &indices, &palette, 3).unwrap();
        let px = read(&file, u64::MAX).unwrap().expect("a PNG it wrote");
        assert_eq!((px.width, px.height, px.channels), (width, height, 3));
        for (p, &i) in indices.iter().enumerate() {
            assert_eq!(&px.data[3 * p..3 * p + 3], &palette[i as usize], "pixel {p}");
        }
    }

    #[test]
    fn indexed_png_round_trips_at_every_bit_depth() {
        for colours in [1, 2, 3, 4, 5, 16, 17, 256] {
            roundtrip(13, 5, colours); // 13: rows that end mid-byte at 1, 2 and 4 bits
        }
    }

    #[test]
    fn what_it_does_not_read_is_none_not_an_error() {
        assert!(read(b"GIF89a", u64::MAX).unwrap().is_none());
        let file = write_indexed(4, 4, &[0; 16], &[[1, 2, 3]], 3).unwrap();
        assert!(read(&file[..file.len() / 2], u64::MAX).unwrap().is_none(), "truncated");
        assert!(read(&file, 15).unwrap().is_none(), "over the pixel limit");
        let mut bad = file.clone();
        let n = bad.len();
        bad[n - 20] ^= 0xff; // inside IDAT: its CRC fails
        assert!(read(&bad, u64::MAX).unwrap().is_none(), "damaged");
    }

    #[test]
    fn bad_indices_are_errors() {
        assert!(write_indexed(2, 2, &[0, 1, 2, 3], &[[0; 3]; 3], 3).is_err());
        assert!(write_indexed(2, 2, &[0; 3], &[[0; 3]; 3], 3).is_err());
        assert!(write_indexed(2, 2, &[0; 4], &[], 3).is_err());
    }
}
