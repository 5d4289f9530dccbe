//! The QANN codec without the network: quantize, transform, predict, entropy-code into a `.qfz` container, and back.
//!
//! Encode: image -> (YCbCr) -> per-channel quantization to indices -> (YCoCg-R on the index planes | 4:2:0 chroma)
//! -> MED prediction -> QAC or Brotli -> container. Decode reverses it up to the mid-bin reconstruction; the learned
//! corrector, when used, runs after this in Python.

use crate::alloc::{with_capacity, zeroed};
use crate::codec::container::{
    self, bounded_levels, levels_max_error, uniform_levels_for, ChannelInfo, Coder, Color, Header, Mode, Subsampling,
};
use crate::codec::entropy;
use crate::codec::loco;
use crate::codec::model;
use crate::codec::predict::{self, Plane};
use crate::codec::transform;
use crate::error::{Error, Result};
use crate::quantize::uniform::{index_of, value_of, Reconstruction};

/// How to quantize: a max error per channel (bounded mode) or a level count per channel (levels mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quantization {
    /// Max error `d` in `0..=32` per channel on bins of `2d + 1` values (the fewest levels for the bound, as JPEG-LS's
    /// near-lossless mode); `d = 0` is lossless.
    Bounded(Vec<u8>),
    /// Max error `d` per channel on the uniform bins of `L` levels per channel (`L` at least the fewest whose
    /// mid-bin error stays within `d`). Narrower bins than `2d + 1` cost bits but leave a decoder-side corrector a
    /// window in each bin inside which any output keeps the bound.
    BoundedUniform(Vec<u8>, Vec<u16>),
    /// Level count in `2..=256` per channel.
    Levels(Vec<u16>),
}

/// Encoder settings besides the quantization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The colour transform (`Color::None` for one channel).
    pub color: Color,
    /// Chroma subsampling (only with `Color::YCbCr`).
    pub subsampling: Subsampling,
    /// The entropy coder.
    pub coder: Coder,
    /// Brotli quality 0..=11 (Brotli coder only).
    pub brotli_quality: u32,
    /// The corrector id to record (zeros: none).
    pub corrector: [u8; 8],
}

/// The geometry and value range of each coded plane, in coding order.
fn plane_specs(h: &Header) -> Vec<(usize, usize, i32, i32)> {
    let (w, ht) = (h.width as usize, h.height as usize);
    let l = |c: usize| h.channel_info[c].levels as i32 - 1;
    let mut specs = Vec::with_capacity(h.channels as usize);
    match h.color {
        Color::YCoCgR => {
            let m = l(0).max(l(1)).max(l(2));
            specs.push((w, ht, 0, m));
            specs.push((w, ht, -m, m));
            specs.push((w, ht, -m, m));
        }
        Color::YCbCr => {
            specs.push((w, ht, 0, l(0)));
            let (cw, ch) = if h.subsampling == Subsampling::Chroma420 { transform::half(w, ht) } else { (w, ht) };
            specs.push((cw, ch, 0, l(1)));
            specs.push((cw, ch, 0, l(2)));
        }
        Color::None => {
            for c in 0..h.channels.min(3) as usize {
                specs.push((w, ht, 0, l(c)));
            }
        }
    }
    if h.channels == 4 {
        specs.push((w, ht, 0, l(3)));
    }
    specs
}

/// Whether the channels use the step-`2d + 1` bins of bounded mode (otherwise the uniform bins of their levels).
fn step_bins(h: &Header) -> bool {
    h.mode == Mode::Bounded && !h.uniform_bins
}

/// Quantizes channel values to indices.
fn index_tables(h: &Header) -> Vec<[u8; 256]> {
    h.channel_info
        .iter()
        .map(|ch| {
            if step_bins(h) {
                let (d, s) = (ch.max_error as u32, 2 * ch.max_error as u32 + 1);
                std::array::from_fn(|x| ((x as u32 + d) / s) as u8)
            } else {
                std::array::from_fn(|x| index_of(x as u8, ch.levels))
            }
        })
        .collect()
}

/// Reconstructs values from indices (index >= levels gives 0; the decoder checks indices first).
fn value_tables(h: &Header) -> Vec<[u8; 256]> {
    h.channel_info
        .iter()
        .map(|ch| {
            std::array::from_fn(|i| {
                if i >= ch.levels as usize {
                    return 0;
                }
                if step_bins(h) {
                    (i as u32 * (2 * ch.max_error as u32 + 1)).min(255) as u8
                } else {
                    value_of(i as u8, ch.levels, Reconstruction::Midpoint)
                }
            })
        })
        .collect()
}

fn new_plane(w: usize, h: usize, lo: i32, hi: i32) -> Result<Plane> {
    Ok(Plane { width: w, height: h, lo, hi, data: crate::alloc::zeroed::<i16>(w * h)? })
}

/// Encodes an interleaved `height x width x channels` uint8 image (channels 1, 3 or 4) into a `.qfz` file.
pub fn encode(
    image: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    q: &Quantization,
    opts: &Options,
) -> Result<Vec<u8>> {
    if !matches!(channels, 1 | 3 | 4) {
        return Err(Error::value("image", format!("expected 1, 3 or 4 channels, got {channels}")));
    }
    let n = width.checked_mul(height).ok_or_else(|| Error::value("image", "size overflows"))?;
    if n == 0 || n.checked_mul(channels) != Some(image.len()) {
        return Err(Error::value("image", "buffer size does not match width x height x channels"));
    }
    let (w32, h32) = (
        u32::try_from(width).map_err(|_| Error::value("image", "too wide"))?,
        u32::try_from(height).map_err(|_| Error::value("image", "too tall"))?,
    );
    let check_bound = |ds: &[u8]| {
        if ds.len() != channels {
            return Err(Error::value("max_error", "expected one value per channel"));
        }
        match ds.iter().find(|&&d| d > container::MAX_ERROR_LIMIT) {
            Some(&d) => Err(Error::value("max_error", format!("expected 0..32, got {d}"))),
            None => Ok(()),
        }
    };
    let (mode, uniform_bins, channel_info): (Mode, bool, Vec<ChannelInfo>) = match q {
        Quantization::Bounded(ds) => {
            check_bound(ds)?;
            (
                Mode::Bounded,
                false,
                ds.iter().map(|&d| ChannelInfo { levels: bounded_levels(d), max_error: d }).collect(),
            )
        }
        Quantization::BoundedUniform(ds, ls) => {
            check_bound(ds)?;
            crate::quantize::uniform::check_levels(ls, channels)?;
            let mut info = Vec::with_capacity(channels);
            for (&d, &l) in ds.iter().zip(ls) {
                if l < uniform_levels_for(d) {
                    return Err(Error::value(
                        "levels",
                        format!("{l} levels cannot keep max error {d} (at least {} needed)", uniform_levels_for(d)),
                    ));
                }
                info.push(ChannelInfo { levels: l, max_error: d });
            }
            (Mode::Bounded, true, info)
        }
        Quantization::Levels(ls) => {
            crate::quantize::uniform::check_levels(ls, channels)?;
            (
                Mode::Levels,
                false,
                ls.iter().map(|&l| ChannelInfo { levels: l, max_error: levels_max_error(l) }).collect(),
            )
        }
    };
    let header = Header {
        // The oldest version that holds the file, so older readers read it.
        version: oldest_version(opts.coder, uniform_bins, false),
        width: w32,
        height: h32,
        channels: channels as u8,
        mode,
        color: if channels == 1 { Color::None } else { opts.color },
        subsampling: if channels == 1 { Subsampling::None } else { opts.subsampling },
        predictor: container::PREDICTOR_MED,
        coder: opts.coder,
        uniform_bins,
        corrector: opts.corrector,
        channel_info,
        strength: None,
        payload_len: 0,
    };
    header.validate(u64::MAX).map_err(|e| Error::value("options", e.to_string()))?;
    let planes = to_planes(image, &header)?;
    let payload = match header.coder {
        Coder::Qac => encode_qac(&planes, entropy::encode_planes)?,
        Coder::Qac2 => encode_qac(&planes, model::encode_planes)?,
        Coder::Qac3 => encode_qac(&planes, model::encode_planes_qac3)?,
        Coder::Brotli => encode_brotli(&planes, opts.brotli_quality)?,
        Coder::Loco => loco::encode_planes(&planes)?,
    };
    container::write(&header, &payload)
}

/// The oldest format version that holds a file of these features, which `encode` writes so that older readers read
/// it: 6 for LOCO, 5 for QAC3, else 4 with a strength map, else 3 for QAC2, else 2 for uniform bins in bounded
/// mode, else 1.
fn oldest_version(coder: Coder, uniform_bins: bool, strength_map: bool) -> u16 {
    if coder == Coder::Loco {
        6
    } else if coder == Coder::Qac3 {
        5
    } else if strength_map {
        4
    } else if coder == Coder::Qac2 {
        3
    } else if uniform_bins {
        2
    } else {
        1
    }
}

/// The file `data` with the corrector strength map `map` in its header (`None`: without one), the payload
/// unchanged: version 4 with a map; without one, the oldest version that holds the rest (as `encode` writes).
pub fn with_strength_map(data: &[u8], map: Option<container::StrengthMap>) -> Result<Vec<u8>> {
    let (mut header, payload) = container::parse(data, u64::MAX)?;
    header.version = oldest_version(header.coder, header.uniform_bins, map.is_some());
    header.strength = map;
    container::write(&header, payload)
}

/// Quantizes and transforms an image into its coded planes.
fn to_planes(image: &[u8], h: &Header) -> Result<Vec<Plane>> {
    let (w, ht, c) = (h.width as usize, h.height as usize, h.channels as usize);
    let n = w * ht;
    let tables = index_tables(h);
    let specs = plane_specs(h);
    let mut planes = Vec::with_capacity(specs.len());
    for &(pw, ph, lo, hi) in &specs {
        planes.push(new_plane(pw, ph, lo, hi)?);
    }
    match h.color {
        Color::YCoCgR => {
            let (p0, rest) = planes.split_at_mut(1);
            let (p1, p2) = rest.split_at_mut(1);
            let dst = p0[0].data.iter_mut().zip(p1[0].data.iter_mut().zip(p2[0].data.iter_mut()));
            for (px, (y, (co, cg))) in image.chunks_exact(c).take(n).zip(dst) {
                let r = tables[0][px[0] as usize] as i32;
                let g = tables[1][px[1] as usize] as i32;
                let b = tables[2][px[2] as usize] as i32;
                let (vy, vco, vcg) = transform::ycocg_r(r, g, b);
                (*y, *co, *cg) = (vy as i16, vco as i16, vcg as i16);
            }
        }
        Color::YCbCr => {
            let mut ycc = [zeroed::<u8>(n)?, zeroed::<u8>(n)?, zeroed::<u8>(n)?];
            for (i, px) in image.chunks_exact(c).enumerate().take(n) {
                let (y, cb, cr) = transform::rgb_to_ycbcr(px[0], px[1], px[2]);
                ycc[0][i] = y;
                ycc[1][i] = cb;
                ycc[2][i] = cr;
            }
            for k in 0..3 {
                let src = if k > 0 && h.subsampling == Subsampling::Chroma420 {
                    transform::downsample(&ycc[k], w, ht)?
                } else {
                    std::mem::take(&mut ycc[k])
                };
                for (dst, &v) in planes[k].data.iter_mut().zip(&src) {
                    *dst = tables[k][v as usize] as i16;
                }
            }
        }
        Color::None => {
            for (k, plane) in planes.iter_mut().enumerate().take(c.min(3)) {
                for (dst, px) in plane.data.iter_mut().zip(image.chunks_exact(c)) {
                    *dst = tables[k][px[k] as usize] as i16;
                }
            }
        }
    }
    if c == 4 {
        let last = planes.len() - 1;
        for (dst, px) in planes[last].data.iter_mut().zip(image.chunks_exact(4)) {
            *dst = tables[3][px[3] as usize] as i16;
        }
    }
    Ok(planes)
}

/// QAC payload: one u32 stream length per plane, then the streams (see `entropy::encode_planes`).
/// The same layout serves QAC2, with `model`'s streams.
fn encode_qac(planes: &[Plane], code: fn(&[Plane]) -> Result<Vec<Vec<u8>>>) -> Result<Vec<u8>> {
    let streams = code(planes)?;
    let mut out = with_capacity(streams.iter().map(|s| 4 + s.len()).sum())?;
    for s in &streams {
        let len = u32::try_from(s.len()).map_err(|_| Error::value("image", "plane stream over 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    for s in &streams {
        out.extend_from_slice(s);
    }
    Ok(out)
}

/// Splits a QAC or QAC2 payload into its plane streams and decodes them with `code` (`entropy::decode_rows` or
/// `model::decode_rows` into the caller's sink).
fn decode_qac(
    payload: &[u8],
    specs: &[(usize, usize, i32, i32)],
    code: impl FnOnce(&[&[u8]], &[(usize, usize, i32, i32)]) -> Result<()>,
) -> Result<()> {
    let np = specs.len();
    let table = payload.get(..4 * np).ok_or_else(|| Error::format("payload too short for its stream table"))?;
    let mut streams = Vec::with_capacity(np);
    let mut pos = 4 * np;
    for k in 0..np {
        let len = u32::from_le_bytes([table[4 * k], table[4 * k + 1], table[4 * k + 2], table[4 * k + 3]]) as usize;
        let end = pos.checked_add(len).ok_or_else(|| Error::format("plane stream length overflows"))?;
        streams.push(payload.get(pos..end).ok_or_else(|| Error::format(format!("plane {k}: stream truncated")))?);
        pos = end;
    }
    if pos != payload.len() {
        return Err(Error::format("payload longer than its plane streams"));
    }
    code(&streams, specs)
}

/// Brotli payload: every plane's MED residuals (modulo its range) as bytes, 16-bit little-endian where the range
/// needs more than 256 values, in one Brotli stream.
fn encode_brotli(planes: &[Plane], quality: u32) -> Result<Vec<u8>> {
    let bytes: usize = planes.iter().map(|p| p.data.len() * if p.hi - p.lo < 256 { 1 } else { 2 }).sum();
    let mut raw = with_capacity(bytes)?;
    for p in planes {
        let res = predict::residuals(p)?;
        if p.hi - p.lo < 256 {
            raw.extend(res.iter().map(|&e| e as u8));
        } else {
            raw.extend(res.iter().flat_map(|&e| e.to_le_bytes()));
        }
    }
    // Brotli never expands data by more than a few bytes per 64 KiB block: room for that up front, fallibly.
    let mut out = with_capacity(raw.len() + raw.len() / 64 + 1024)?;
    let params = brotli::enc::BrotliEncoderParams { quality: quality.min(11) as i32, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut raw.as_slice(), &mut out, &params)
        .map_err(|e| Error::value("image", format!("brotli: {e}")))?;
    Ok(out)
}

/// Decodes a Brotli payload plane by plane, row by row, into `sink`: one row of residuals and two of values at a
/// time, whatever the image size. The stream must hold exactly the header's planes.
fn decode_brotli(payload: &[u8], specs: &[(usize, usize, i32, i32)], sink: entropy::RowSink<'_>) -> Result<()> {
    use std::io::Read;
    let mut reader = brotli::Decompressor::new(payload, 4096);
    let corrupt = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::format("brotli stream holds fewer bytes than the header's planes")
        } else {
            Error::format(format!("brotli stream is corrupt ({e})"))
        }
    };
    for (k, &(w, h, lo, hi)) in specs.iter().enumerate() {
        let wide = hi - lo >= 256;
        let bytes = w.checked_mul(if wide { 2 } else { 1 }).ok_or_else(|| Error::format("plane sizes overflow"))?;
        let mut raw = zeroed::<u8>(bytes)?;
        let mut res = zeroed::<u16>(w)?;
        let mut plane = Plane::ring(w, h, lo, hi)?;
        for y in 0..h {
            reader.read_exact(&mut raw).map_err(corrupt)?;
            if wide {
                for (r, b) in res.iter_mut().zip(raw.chunks_exact(2)) {
                    *r = u16::from_le_bytes([b[0], b[1]]);
                }
            } else {
                for (r, &b) in res.iter_mut().zip(&raw) {
                    *r = b as u16;
                }
            }
            predict::unresidual_row(&mut plane, y, &res)?;
            sink(k, y, plane.row(y))?;
        }
    }
    let mut extra = [0u8; 1];
    match reader.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Error::format("brotli stream holds more bytes than the header's planes")),
        Err(e) => Err(corrupt(e)),
    }
}

/// A decoded file: its header and the mid-bin reconstruction, interleaved `height x width x channels` uint8.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The validated header.
    pub header: Header,
    /// The reconstruction (bounded mode: within each channel's max error of the original).
    pub image: Vec<u8>,
}

/// Decodes a `.qfz` file. Any malformed input gives `Error::Format`; `max_pixels` limits `width * height`.
///
/// The planes are decoded straight into the output, row by row: beyond the output image, decoding keeps two rows
/// of each plane and a few batches of rows in flight (QAC, QAC2), one row of residuals (Brotli), and for 4:2:0
/// chroma the two quarter-size chroma planes (half a byte per pixel); see [`Assembler`].
pub fn decode(data: &[u8], max_pixels: u64) -> Result<Decoded> {
    let (header, payload) = container::parse(data, max_pixels)?;
    let specs = plane_specs(&header);
    let mut asm = Assembler::new(&header)?;
    if header.coder == Coder::Loco {
        // Stripes decode in parallel, each straight into its band of the output.
        let (rows, count) = loco::layout(payload, header.height as usize)?;
        let bands = asm.bands(rows, count)?;
        loco::decode_stripes(payload, &specs, bands, &|band, k, y, row| band.rows(k, y, row))?;
    } else {
        let mut sink = |k: usize, y: usize, rows: &[i16]| asm.rows(k, y, rows);
        match header.coder {
            Coder::Qac => decode_qac(payload, &specs, |s, p| entropy::decode_rows(s, p, &mut sink))?,
            Coder::Qac2 => decode_qac(payload, &specs, |s, p| model::decode_rows(s, p, &mut sink))?,
            Coder::Qac3 => decode_qac(payload, &specs, |s, p| model::decode_rows_qac3(s, p, &mut sink))?,
            Coder::Brotli => decode_brotli(payload, &specs, &mut sink)?,
            Coder::Loco => {} // decoded above
        }
    }
    let image = asm.finish()?;
    Ok(Decoded { header, image })
}

/// Builds the interleaved reconstruction from the coded planes' rows as they are decoded, in the output buffer
/// itself: a plane's rows may come in any batches, as long as each plane's rows come in order and, for the same
/// pixels, an earlier plane's before a later one's (as `entropy::RowSink` and the Brotli layout both give).
///
/// - No colour transform, and alpha: each value goes to its channel.
/// - YCoCg-R: Y's indices wait in channel 0 and Co's (-m..=m, two bytes) in channels 1 and 2 until Cg's row
///   arrives, which turns the three into R, G and B in place.
/// - YCbCr: Y, Cb and Cr values go to channels 0, 1 and 2 (4:2:0 chroma into two quarter-size planes instead) and
///   `finish` converts each pixel to RGB in place.
pub struct Assembler {
    out: Vec<u8>,
    /// 4:2:0 only: the Cb and Cr values, `half(width, height)` each.
    chroma: Option<[Vec<u8>; 2]>,
    layout: Layout,
}

/// What turns a plane's decoded rows into output values: the read-only part of an [`Assembler`].
struct Layout {
    width: usize,
    channels: usize,
    color: Color,
    values: Vec<[u8; 256]>,
    levels: Vec<i32>,
    chroma_width: usize,
    planes: usize,
    height: usize,
}

/// Rows of the output (and of the 4:2:0 chroma planes) that one stripe of the fast coder fills on its own thread,
/// through [`Band::rows`], as [`Assembler::rows`] fills the whole.
pub struct Band<'a> {
    layout: &'a Layout,
    out: &'a mut [u8],
    chroma: Option<[&'a mut [u8]; 2]>,
}

impl Band<'_> {
    /// Rows `y..` (counted from the band's first row) of plane `k`, as [`Assembler::rows`].
    pub fn rows(&mut self, k: usize, y: usize, rows: &[i16]) -> Result<()> {
        let chroma = self.chroma.as_mut().map(|[a, b]| [&mut **a, &mut **b]);
        self.layout.write(&mut *self.out, chroma, k, y, rows)
    }
}

impl Assembler {
    /// An assembler for the image `h` describes; allocates the output (and 4:2:0 chroma) fallibly.
    pub fn new(h: &Header) -> Result<Self> {
        let (w, ht, c) = (h.width as usize, h.height as usize, h.channels as usize);
        let size =
            w.checked_mul(ht).and_then(|n| n.checked_mul(c)).ok_or_else(|| Error::format("image size overflows"))?;
        let (cw, ch) = transform::half(w, ht);
        let chroma = if h.color == Color::YCbCr && h.subsampling == Subsampling::Chroma420 {
            Some([zeroed::<u8>(cw * ch)?, zeroed::<u8>(cw * ch)?])
        } else {
            None
        };
        Ok(Assembler {
            out: zeroed::<u8>(size)?,
            chroma,
            layout: Layout {
                width: w,
                channels: c,
                color: h.color,
                values: value_tables(h),
                levels: h.channel_info.iter().map(|ch| ch.levels as i32).collect(),
                chroma_width: cw,
                planes: plane_specs(h).len(),
                height: ht,
            },
        })
    }

    /// Rows `y..` of plane `k` (a whole number of the plane's rows).
    pub fn rows(&mut self, k: usize, y: usize, rows: &[i16]) -> Result<()> {
        let chroma = self.chroma.as_mut().map(|[a, b]| [&mut a[..], &mut b[..]]);
        self.layout.write(&mut self.out, chroma, k, y, rows)
    }

    /// The output cut into `count` bands of `rows` image rows each (the last one shorter), with the matching
    /// `rows / 2` rows of 4:2:0 chroma (`rows` even), for stripes that fill their rows in parallel.
    pub fn bands(&mut self, rows: usize, count: usize) -> Result<Vec<Band<'_>>> {
        let l = &self.layout;
        if rows == 0 || l.height.div_ceil(rows) != count || (self.chroma.is_some() && !rows.is_multiple_of(2)) {
            return Err(Error::format("bands do not match the image"));
        }
        let mut bands = crate::alloc::with_capacity(count)?;
        let outs = self.out.chunks_mut((rows * l.width * l.channels).max(1));
        match self.chroma.as_mut() {
            Some([cb, cr]) => {
                let n = (rows / 2 * l.chroma_width).max(1);
                for ((out, b), r) in outs.zip(cb.chunks_mut(n)).zip(cr.chunks_mut(n)) {
                    bands.push(Band { layout: l, out, chroma: Some([b, r]) });
                }
            }
            None => bands.extend(outs.map(|out| Band { layout: l, out, chroma: None })),
        }
        if bands.len() != count {
            return Err(Error::format("bands do not match the image"));
        }
        Ok(bands)
    }
    /// The finished image: YCbCr converted to RGB in place (4:2:0 chroma upsampled a row at a time).
    pub fn finish(mut self) -> Result<Vec<u8>> {
        if self.layout.color != Color::YCbCr {
            return Ok(self.out);
        }
        let (w, c, ht) = (self.layout.width, self.layout.channels, self.layout.height);
        let mut up = [zeroed::<u8>(w)?, zeroed::<u8>(w)?];
        for (y, row) in self.out.chunks_exact_mut((w * c).max(1)).enumerate().take(ht) {
            if let Some(chroma) = &self.chroma {
                for (u, p) in up.iter_mut().zip(chroma) {
                    transform::upsample_row(p, w, ht, y, u);
                }
                for ((px, &cb), &cr) in row.chunks_exact_mut(c).zip(&up[0]).zip(&up[1]) {
                    (px[0], px[1], px[2]) = transform::ycbcr_to_rgb(px[0], cb, cr);
                }
            } else {
                for px in row.chunks_exact_mut(c) {
                    (px[0], px[1], px[2]) = transform::ycbcr_to_rgb(px[0], px[1], px[2]);
                }
            }
        }
        Ok(self.out)
    }
}

impl Layout {
    /// Rows `y..` of plane `k` (a whole number of the plane's rows) into `out` (whole pixel rows) and, for 4:2:0
    /// chroma, into `chroma`; rows outside them are `Error::Format`.
    fn write(&self, out: &mut [u8], chroma: Option<[&mut [u8]; 2]>, k: usize, y: usize, rows: &[i16]) -> Result<()> {
        let (w, c) = (self.width, self.channels);
        if k >= self.planes {
            return Err(Error::format("plane count mismatch"));
        }
        let alpha = c == 4 && k == self.planes - 1;
        if let (Some(chroma), true) = (chroma, !alpha && k > 0) {
            // 4:2:0 chroma: into its quarter-size plane.
            let cw = self.chroma_width;
            let dst = chroma[k - 1]
                .get_mut(y * cw..y * cw + rows.len())
                .ok_or_else(|| Error::format("chroma rows out of range"))?;
            for (d, &v) in dst.iter_mut().zip(rows) {
                *d = self.values[k][v as usize & 255];
            }
            return Ok(());
        }
        if w == 0 || !rows.len().is_multiple_of(w) {
            return Err(Error::format("decoded rows out of range"));
        }
        let out = out
            .get_mut(y * w * c..(y * w + rows.len()) * c)
            .ok_or_else(|| Error::format("decoded rows out of range"))?;
        let ch = if alpha { 3 } else { k };
        let bad = |k: usize| Error::format(format!("decoded index out of range in channel {k}"));
        match self.color {
            Color::YCoCgR if !alpha => {
                for (px, &v) in out.chunks_exact_mut(c).zip(rows) {
                    match k {
                        // Y's index, 0..=m <= 255.
                        0 => px[0] = v as u8,
                        1 => [px[1], px[2]] = v.to_le_bytes(),
                        _ => {
                            let co = i16::from_le_bytes([px[1], px[2]]);
                            let (r, g, b) = transform::ycocg_r_inverse(px[0] as i32, co as i32, v as i32);
                            for (j, t) in [r, g, b].into_iter().enumerate() {
                                if t < 0 || t >= self.levels[j] {
                                    return Err(bad(j));
                                }
                                // t < levels <= 256.
                                px[j] = self.values[j][t as usize & 255];
                            }
                        }
                    }
                }
            }
            _ => {
                let table = &self.values[ch];
                for (px, &v) in out.chunks_exact_mut(c).zip(rows) {
                    px[ch] = table[v as usize & 255];
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, c: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        let mut v = Vec::with_capacity(w * h * c);
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    s = s.wrapping_mul(1103515245).wrapping_add(12345);
                    let noise = (s >> 16) % 9;
                    v.push(((x * 5 + y * 3 + k * 40) as u32 % 240 + noise) as u8);
                }
            }
        }
        v
    }

    fn opts(color: Color, coder: Coder) -> Options {
        Options { color, subsampling: Subsampling::None, coder, brotli_quality: 5, corrector: [0; 8] }
    }

    #[test]
    fn uniform_bins_keep_the_bound_and_write_version_2() {
        let img = image(23, 17, 3, 7);
        for d in [0u8, 1, 2, 4, 8, 32] {
            let fewest = uniform_levels_for(d);
            for l in [fewest, (fewest + 40).min(256), 256] {
                let q = Quantization::BoundedUniform(vec![d; 3], vec![l; 3]);
                let f = encode(&img, 23, 17, 3, &q, &opts(Color::YCoCgR, Coder::Qac)).unwrap();
                let dec = decode(&f, container::DEFAULT_MAX_PIXELS).unwrap();
                assert!(dec.header.uniform_bins && dec.header.version == 2);
                let worst = img.iter().zip(&dec.image).map(|(&a, &b)| a.abs_diff(b)).max().unwrap();
                assert!(worst <= d, "d={d} L={l}: {worst}");
                // The same bins as levels mode: the same reconstruction.
                let lv = encode(&img, 23, 17, 3, &Quantization::Levels(vec![l; 3]), &opts(Color::YCoCgR, Coder::Qac));
                assert_eq!(dec.image, decode(&lv.unwrap(), container::DEFAULT_MAX_PIXELS).unwrap().image);
            }
        }
        let too_few = Quantization::BoundedUniform(vec![2; 3], vec![51; 3]);
        let e = encode(&img, 23, 17, 3, &too_few, &opts(Color::YCoCgR, Coder::Qac)).unwrap_err();
        assert!(e.to_string().contains("51 levels cannot keep max error 2"), "{e}");
        let plain = encode(&img, 23, 17, 3, &Quantization::Bounded(vec![2; 3]), &opts(Color::YCoCgR, Coder::Qac));
        assert_eq!(decode(&plain.unwrap(), container::DEFAULT_MAX_PIXELS).unwrap().header.version, 1);
    }

    #[test]
    fn bounded_round_trips_within_d() {
        for c in [1, 3, 4] {
            let img = image(23, 17, c, c as u32);
            for d in [0u8, 1, 2, 4, 8, 32] {
                for coder in [Coder::Qac, Coder::Qac2, Coder::Qac3, Coder::Brotli, Coder::Loco] {
                    for color in [Color::None, Color::YCoCgR] {
                        let f =
                            encode(&img, 23, 17, c, &Quantization::Bounded(vec![d; c]), &opts(color, coder)).unwrap();
                        let dec = decode(&f, container::DEFAULT_MAX_PIXELS).unwrap();
                        let worst = img.iter().zip(&dec.image).map(|(&a, &b)| a.abs_diff(b)).max().unwrap();
                        assert!(worst <= d, "c={c} d={d} {coder:?} {color:?}: {worst}");
                        if d == 0 {
                            assert_eq!(dec.image, img);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fast_coder_stripes_decode_as_qac_does() {
        // 2100 x 101: stripes of 32 rows (the last one 5), each decoded into its own band of the output; odd
        // 4:2:0 chroma heights. QAC codes the same planes in one piece, so both must give the same image.
        for c in [1, 3, 4] {
            let img = image(2100, 101, c, 11);
            let cases = [
                (Quantization::Bounded(vec![0; c]), Color::YCoCgR, Subsampling::None),
                (Quantization::Bounded(vec![3; c]), Color::None, Subsampling::None),
                (Quantization::Levels(vec![16; c]), Color::YCbCr, Subsampling::Chroma420),
                (Quantization::Levels(vec![5; c]), Color::YCbCr, Subsampling::None),
            ];
            for (q, color, subsampling) in cases {
                let run = |coder| {
                    let o = Options { subsampling, ..opts(color, coder) };
                    decode(&encode(&img, 2100, 101, c, &q, &o).unwrap(), container::DEFAULT_MAX_PIXELS).unwrap()
                };
                let (fast, qac) = (run(Coder::Loco), run(Coder::Qac));
                assert_eq!(fast.header.version, 6);
                assert!(fast.image == qac.image, "c={c} {q:?} {color:?} {subsampling:?}");
            }
        }
    }

    #[test]
    fn levels_round_trip_matches_uniform_quantization() {
        let img = image(31, 9, 3, 7);
        let ls = vec![5u16, 16, 3];
        let f = encode(&img, 31, 9, 3, &Quantization::Levels(ls.clone()), &opts(Color::YCoCgR, Coder::Qac)).unwrap();
        let dec = decode(&f, container::DEFAULT_MAX_PIXELS).unwrap();
        let mut want = vec![0u8; img.len()];
        crate::quantize::uniform::quantize(&img, &mut want, &ls, Reconstruction::Midpoint).unwrap();
        assert_eq!(dec.image, want);
    }

    #[test]
    fn ycbcr_subsampled_decodes_to_the_right_size() {
        let img = image(13, 7, 4, 3);
        let o = Options { subsampling: Subsampling::Chroma420, ..opts(Color::YCbCr, Coder::Qac) };
        let f = encode(&img, 13, 7, 4, &Quantization::Levels(vec![64, 32, 32, 4]), &o).unwrap();
        let dec = decode(&f, container::DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!(dec.image.len(), img.len());
        assert!(matches!(
            encode(&img, 13, 7, 4, &Quantization::Bounded(vec![1; 4]), &o),
            Err(Error::Value { arg: "options", .. })
        ));
    }

    /// A mutation fuzzer that runs in `cargo test`: every truncation, random bit flips with the CRCs recomputed (so
    /// the decoders, not only the checksums, see the damage), and random bytes. Nothing may panic.
    #[test]
    fn mutated_files_never_panic() {
        let img = image(19, 11, 3, 1);
        let mut s = 12345u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for coder in [Coder::Qac, Coder::Qac2, Coder::Qac3, Coder::Brotli, Coder::Loco] {
            let f = encode(&img, 19, 11, 3, &Quantization::Bounded(vec![1; 3]), &opts(Color::YCoCgR, coder)).unwrap();
            for n in 0..f.len() {
                assert!(decode(&f[..n], 1 << 20).is_err());
            }
            let hl = Header::len_for(3);
            for _ in 0..3000 {
                let mut g = f.clone();
                for _ in 0..1 + rnd() % 4 {
                    let i = (rnd() as usize) % g.len();
                    g[i] ^= 1 << (rnd() % 8);
                }
                let _ = decode(&g, 1 << 20);
                // Re-seal both CRCs so the damage reaches the field checks and the decoders.
                let crc = crc32fast::hash(&g[..hl - 4]);
                g[hl - 4..hl].copy_from_slice(&crc.to_le_bytes());
                let end = g.len() - 4;
                let crc = crc32fast::hash(&g[hl..end]);
                g[end..].copy_from_slice(&crc.to_le_bytes());
                let _ = decode(&g, 1 << 20);
            }
        }
        for len in 0..200 {
            let g: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            assert!(decode(&g, 1 << 20).is_err());
        }
    }
}
