//! The `.qfz` container: header layout, writing, and the one parser, which treats every byte as hostile.
//!
//! Layout (all integers little-endian; `docs/FORMAT.md` is the full specification):
//!
//! ```text
//! 0   4  magic 89 51 46 5A ("\x89QFZ")
//! 4   2  version (1 to 6)
//! 6   2  header length H in bytes, CRC included (44 + 4 * channels, plus 2 + the map's bytes with a strength map)
//! 8   4  width, 12 4 height
//! 16  1  channels (1, 3 or 4)      17 1 mode (0 bounded, 1 levels)
//! 18  1  colour (0 none, 1 YCoCg-R on indices, 2 YCbCr)
//! 19  1  subsampling (0 none, 1 4:2:0 chroma)      20 1 predictor (1 MED)
//! 21  1  coder (1 Brotli, 2 QAC, 3 QAC2 from version 3, 4 QAC3 from version 5, 5 LOCO from version 6)
//! 22  1  flags (from version 2: bit 0 uniform bins; from version 4: bit 1 strength map)
//! 23  1  reserved (0)
//! 24  8  corrector id (8 bytes of the model's hash; zeros: none)
//! 32  4 per channel: levels u16, max error u8, reserved u8 (0)
//! ..     with flags bit 1: tile size log2 u8 (5..7), reserved u8 (0), then the strength of each tile, 2 bits
//!        (0 none, 1 half, 2 full), tiles in raster order, four to a byte from the low bits
//! ..  8  payload length P
//! H-4 4  CRC32 of bytes 0..H-4
//! H   P  payload
//! H+P 4  CRC32 of the payload
//! ```

use crate::error::{Error, Result};

/// The first four bytes of every `.qfz` file.
pub const MAGIC: [u8; 4] = [0x89, b'Q', b'F', b'Z'];
/// The newest format version this build reads. It writes the oldest version that can hold the file: 6 for the LOCO
/// coder, 5 for the QAC3 coder, else 4 with a strength map, else 3 for the QAC2 coder, else 2 for bounded mode on
/// uniform bins, else 1.
pub const VERSION: u16 = 6;
/// Flags bit (version 2): bounded mode on uniform `L`-level bins instead of step `2d + 1`.
pub const FLAG_UNIFORM_BINS: u8 = 1;
/// Flags bit (version 4): the header holds a strength map for the corrector.
pub const FLAG_STRENGTH_MAP: u8 = 2;

/// How much of the corrector's change decode applies on each tile, chosen by the encoder, which had the original:
/// code 0 none (the mid-bin reconstruction), 1 half, 2 all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrengthMap {
    /// Tiles are `2^tile_log2` pixels square (5..=7: 32, 64 or 128), the last ones in a row or column cut short.
    pub tile_log2: u8,
    /// One code (0..=2) per tile, rows of tiles top to bottom, each left to right.
    pub codes: Vec<u8>,
}

impl StrengthMap {
    /// The number of tiles across and down an image of `width x height`.
    pub fn grid(tile_log2: u8, width: u32, height: u32) -> (usize, usize) {
        let t = 1u64 << tile_log2.min(31);
        ((width as u64).div_ceil(t) as usize, (height as u64).div_ceil(t) as usize)
    }

    /// Bytes of the packed codes for `tiles` tiles.
    pub fn packed_len(tiles: usize) -> usize {
        tiles.div_ceil(4)
    }
}
/// The default limit on `width * height` for the parser: 178,956,970 pixels, twice Pillow's default
/// `Image.MAX_IMAGE_PIXELS` (Pillow's error threshold for decompression bombs), so qfast is no looser than Pillow.
pub const DEFAULT_MAX_PIXELS: u64 = 2 * 89_478_485;
/// The largest max error of the bounded mode.
pub const MAX_ERROR_LIMIT: u8 = 32;

/// How the image was quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every value within `d` of the original (`d = 0` is lossless): on step `2d + 1` bins, or (version 2) on
    /// uniform bins at least that narrow.
    Bounded = 0,
    /// `L` uniform levels per channel, `floor(x * L / 256)`, mid-bin reconstruction.
    Levels = 1,
}

/// The colour transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// The channels as given.
    None = 0,
    /// The reversible YCoCg-R lifting transform on the RGB index planes (exact).
    YCoCgR = 1,
    /// JPEG's full-range YCbCr on the values before quantization (levels mode only; not exact).
    YCbCr = 2,
}

/// Chroma subsampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsampling {
    /// Every plane at full size.
    None = 0,
    /// Cb and Cr at half width and half height (rounded up), 2x2 means (YCbCr only).
    Chroma420 = 1,
}

/// The entropy coder of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coder {
    /// MED residuals as bytes (16-bit where a plane's range needs it), Brotli-compressed: the simple baseline.
    Brotli = 1,
    /// qfast's context-adaptive binary arithmetic coder (see `entropy`).
    Qac = 2,
    /// The same range coder with a stronger model: a weighted blend of predictors, contexts from their errors
    /// (see `model`; version 3).
    Qac2 = 3,
    /// QAC2's model with more stages: its decisions mixed from several contexts in the logistic domain and refined
    /// (see `model`; version 5).
    Qac3 = 4,
    /// The fast coder: JPEG-LS's modelling with Golomb-Rice codes, in stripes coded in parallel (see `loco`;
    /// version 6).
    Loco = 5,
}

/// Per-channel quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Level count: 2..=256 (bounded mode on step bins: `floor((255 + d) / (2d + 1)) + 1`).
    pub levels: u16,
    /// Largest difference between a decoded value and the original, in the coded space (bounded: `d`).
    pub max_error: u8,
}

/// A parsed, validated header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version of the file.
    pub version: u16,
    /// Width in pixels, >= 1.
    pub width: u32,
    /// Height in pixels, >= 1.
    pub height: u32,
    /// Channels: 1 (grey), 3 (RGB) or 4 (RGBA).
    pub channels: u8,
    /// Quantization mode.
    pub mode: Mode,
    /// Colour transform.
    pub color: Color,
    /// Chroma subsampling.
    pub subsampling: Subsampling,
    /// Predictor id (1: MED, the only one so far).
    pub predictor: u8,
    /// Entropy coder.
    pub coder: Coder,
    /// Bounded mode only (version 2): the bins are the uniform `L`-level bins of levels mode, where `L` may exceed
    /// the fewest levels the bound needs, which leaves the corrector a window inside each bin.
    pub uniform_bins: bool,
    /// The corrector's id (a prefix of its model hash), or zeros when decode should not use one.
    pub corrector: [u8; 8],
    /// One entry per channel.
    pub channel_info: Vec<ChannelInfo>,
    /// Version 4: the corrector's strength per tile (None: all of it everywhere).
    pub strength: Option<StrengthMap>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// The MED predictor's id.
pub const PREDICTOR_MED: u8 = 1;

/// Level count of the bounded mode with max error `d`: the number of bins of width `2d + 1` that cover 0..=255.
pub fn bounded_levels(d: u8) -> u16 {
    let s = 2 * d as u16 + 1;
    (255 + d as u16) / s + 1
}

/// The fewest uniform levels whose mid-bin error stays within `d` (256 for `d = 0`).
pub fn uniform_levels_for(d: u8) -> u16 {
    (2..=256).find(|&l| levels_max_error(l) <= d).unwrap_or(256)
}

/// The largest error of uniform `levels`-level quantization with mid-bin reconstruction over 0..=255.
pub fn levels_max_error(levels: u16) -> u8 {
    use crate::quantize::uniform::{index_of, value_of, Reconstruction};
    (0..=255u8)
        .map(|x| (x as i32 - value_of(index_of(x, levels), levels, Reconstruction::Midpoint) as i32).unsigned_abs())
        .max()
        .unwrap_or(0) as u8
}

impl Header {
    /// The header's size in bytes for `channels` channels (without a strength map).
    pub fn len_for(channels: usize) -> usize {
        44 + 4 * channels
    }

    /// This header's size in bytes.
    pub fn byte_len(&self) -> usize {
        Self::len_for(self.channel_info.len())
            + self.strength.as_ref().map_or(0, |m| 2 + StrengthMap::packed_len(m.codes.len()))
    }

    /// Checks the fields against each other (used by both the writer and the parser).
    pub fn validate(&self, max_pixels: u64) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::format(format!("bad dimensions {} x {}", self.width, self.height)));
        }
        let pixels = self.width as u64 * self.height as u64;
        if pixels > max_pixels {
            return Err(Error::format(format!(
                "header claims {} x {} = {pixels} pixels, more than the limit of {max_pixels}",
                self.width, self.height
            )));
        }
        let c = self.channels;
        if !matches!(c, 1 | 3 | 4) {
            return Err(Error::format(format!("bad channel count {c} (expected 1, 3 or 4)")));
        }
        if self.channel_info.len() != c as usize {
            return Err(Error::format("channel table does not match the channel count"));
        }
        if c == 1 && self.color != Color::None {
            return Err(Error::format("a colour transform on a one-channel image"));
        }
        if self.color == Color::YCbCr && self.mode != Mode::Levels {
            return Err(Error::format("YCbCr is only valid in levels mode"));
        }
        if self.subsampling != Subsampling::None && self.color != Color::YCbCr {
            return Err(Error::format("chroma subsampling without YCbCr"));
        }
        if self.predictor != PREDICTOR_MED {
            return Err(Error::format(format!("unknown predictor id {}", self.predictor)));
        }
        if self.coder == Coder::Qac2 && self.version < 3 {
            return Err(Error::format("the QAC2 coder is only valid from version 3 on"));
        }
        if self.coder == Coder::Qac3 && self.version < 5 {
            return Err(Error::format("the QAC3 coder is only valid from version 5 on"));
        }
        if self.coder == Coder::Loco && self.version < 6 {
            return Err(Error::format("the LOCO coder is only valid from version 6 on"));
        }
        if self.uniform_bins && (self.mode != Mode::Bounded || self.version < 2) {
            return Err(Error::format("uniform bins are only valid in bounded mode from version 2 on"));
        }
        if let Some(m) = &self.strength {
            if self.version < 4 {
                return Err(Error::format("a strength map is only valid from version 4 on"));
            }
            if self.corrector == [0; 8] {
                return Err(Error::format("a strength map in a file that names no corrector"));
            }
            if !(5..=7).contains(&m.tile_log2) {
                return Err(Error::format(format!("strength map tile size 2^{} out of range 32..128", m.tile_log2)));
            }
            let (tx, ty) = StrengthMap::grid(m.tile_log2, self.width, self.height);
            if m.codes.len() != tx * ty {
                return Err(Error::format(format!(
                    "strength map has {} tiles, expected {tx} x {ty} for the image",
                    m.codes.len()
                )));
            }
            if let Some(c) = m.codes.iter().find(|&&c| c > 2) {
                return Err(Error::format(format!("unknown strength code {c} in the strength map")));
            }
            if self.byte_len() > u16::MAX as usize {
                return Err(Error::format("strength map too large for the header"));
            }
        }
        for (i, ch) in self.channel_info.iter().enumerate() {
            match self.mode {
                Mode::Bounded => {
                    if ch.max_error > MAX_ERROR_LIMIT {
                        return Err(Error::format(format!(
                            "channel {i}: max error {} out of range 0..{MAX_ERROR_LIMIT}",
                            ch.max_error
                        )));
                    }
                    if self.uniform_bins {
                        if !(2..=256).contains(&ch.levels) || levels_max_error(ch.levels) > ch.max_error {
                            return Err(Error::format(format!(
                                "channel {i}: {} uniform levels cannot keep max error {}",
                                ch.levels, ch.max_error
                            )));
                        }
                    } else if ch.levels != bounded_levels(ch.max_error) {
                        return Err(Error::format(format!(
                            "channel {i}: {} levels do not match max error {}",
                            ch.levels, ch.max_error
                        )));
                    }
                }
                Mode::Levels => {
                    if !(2..=256).contains(&ch.levels) {
                        return Err(Error::format(format!("channel {i}: levels {} out of range 2..256", ch.levels)));
                    }
                    if ch.max_error != levels_max_error(ch.levels) {
                        return Err(Error::format(format!(
                            "channel {i}: max error {} does not match {} levels",
                            ch.max_error, ch.levels
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The serialized header, CRC included (`validate` first: the length must fit its field).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.byte_len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&(self.byte_len() as u16).to_le_bytes());
        b.extend_from_slice(&self.width.to_le_bytes());
        b.extend_from_slice(&self.height.to_le_bytes());
        b.extend_from_slice(&[
            self.channels,
            self.mode as u8,
            self.color as u8,
            self.subsampling as u8,
            self.predictor,
            self.coder as u8,
            if self.uniform_bins { FLAG_UNIFORM_BINS } else { 0 }
                | if self.strength.is_some() { FLAG_STRENGTH_MAP } else { 0 },
            0,
        ]);
        b.extend_from_slice(&self.corrector);
        for ch in &self.channel_info {
            b.extend_from_slice(&ch.levels.to_le_bytes());
            b.extend_from_slice(&[ch.max_error, 0]);
        }
        if let Some(m) = &self.strength {
            b.extend_from_slice(&[m.tile_log2, 0]);
            let mut packed = vec![0u8; StrengthMap::packed_len(m.codes.len())];
            for (i, &c) in m.codes.iter().enumerate() {
                packed[i / 4] |= (c & 3) << (2 * (i % 4));
            }
            b.extend_from_slice(&packed);
        }
        b.extend_from_slice(&self.payload_len.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }
}

/// Writes a complete file: header (with `payload_len` set from `payload`), payload, payload CRC.
pub fn write(header: &Header, payload: &[u8]) -> Result<Vec<u8>> {
    let mut h = header.clone();
    h.payload_len = payload.len() as u64;
    h.validate(u64::MAX)?;
    let head = h.to_bytes();
    let mut out = Vec::new();
    let n = head.len() + payload.len() + 4;
    out.try_reserve_exact(n).map_err(|_| Error::OutOfMemory { bytes: n })?;
    out.extend_from_slice(&head);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    Ok(out)
}

/// A little-endian cursor over the header bytes; every read is bounds-checked.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self.pos.checked_add(N).ok_or_else(|| Error::format("header offset overflows"))?;
        let s = self.data.get(self.pos..end).ok_or_else(|| Error::format("file ends inside the header (truncated)"))?;
        self.pos = end;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
}

fn enum_field<T>(value: u8, name: &str, table: &[(u8, T)]) -> Result<T>
where
    T: Copy,
{
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, t)| *t)
        .ok_or_else(|| Error::format(format!("unknown {name} id {value}")))
}

/// Parses and checks a `.qfz` header alone: magic, version, the header's CRC, every field and `max_pixels`. Returns
/// the header and its length in bytes. `data` needs to hold only the header (the payload is not read), so a reader
/// can learn a file's size and kind from its first bytes (the Pillow plugin's `Image.open`).
pub fn parse_header(data: &[u8], max_pixels: u64) -> Result<(Header, usize)> {
    let mut r = Reader { data, pos: 0 };
    if data.len() < 4 {
        return Err(Error::format(format!("file too short for a .qfz header ({} bytes, truncated)", data.len())));
    }
    if r.bytes::<4>()? != MAGIC {
        return Err(Error::format("not a .qfz file (bad magic)"));
    }
    let version = r.u16()?;
    if version == 0 || version > VERSION {
        return Err(Error::format(format!(
            "unsupported .qfz version {version} (this qfast reads versions 1..{VERSION})"
        )));
    }
    let header_len = r.u16()? as usize;
    if data.len() < header_len {
        return Err(Error::format(format!(
            "file ends inside the header ({} of {header_len} bytes, truncated)",
            data.len()
        )));
    }
    if header_len < Header::len_for(1) {
        return Err(Error::format(format!("header length {header_len} too small")));
    }
    let stored = u32::from_le_bytes(
        data.get(header_len - 4..header_len)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Error::format("header CRC missing"))?,
    );
    if crc32fast::hash(&data[..header_len - 4]) != stored {
        return Err(Error::format("header CRC mismatch (the header is corrupt)"));
    }
    let width = r.u32()?;
    let height = r.u32()?;
    let channels = r.u8()?;
    if !matches!(channels, 1 | 3 | 4) {
        return Err(Error::format(format!("bad channel count {channels} (expected 1, 3 or 4)")));
    }
    if header_len < Header::len_for(channels as usize) {
        return Err(Error::format(format!("header length {header_len} does not match {channels} channels")));
    }
    let mode = enum_field(r.u8()?, "mode", &[(0, Mode::Bounded), (1, Mode::Levels)])?;
    let color = enum_field(r.u8()?, "colour transform", &[(0, Color::None), (1, Color::YCoCgR), (2, Color::YCbCr)])?;
    let subsampling = enum_field(r.u8()?, "subsampling", &[(0, Subsampling::None), (1, Subsampling::Chroma420)])?;
    let predictor = r.u8()?;
    let coder = enum_field(
        r.u8()?,
        "entropy coder",
        &[(1, Coder::Brotli), (2, Coder::Qac), (3, Coder::Qac2), (4, Coder::Qac3), (5, Coder::Loco)],
    )?;
    let flags = r.u8()?;
    let reserved = r.u8()?;
    let known = match version {
        1 => 0,
        2 | 3 => FLAG_UNIFORM_BINS,
        _ => FLAG_UNIFORM_BINS | FLAG_STRENGTH_MAP,
    };
    if flags & !known != 0 || reserved != 0 {
        return Err(Error::format(format!(
            "unknown flags {flags:#04x} / reserved byte {reserved:#04x} for version {version}"
        )));
    }
    let corrector = r.bytes::<8>()?;
    let mut channel_info = Vec::with_capacity(channels as usize);
    for i in 0..channels {
        let levels = r.u16()?;
        let max_error = r.u8()?;
        if r.u8()? != 0 {
            return Err(Error::format(format!("channel {i}: reserved byte is not zero")));
        }
        channel_info.push(ChannelInfo { levels, max_error });
    }
    let strength = if flags & FLAG_STRENGTH_MAP != 0 {
        let tile_log2 = r.u8()?;
        if r.u8()? != 0 {
            return Err(Error::format("strength map: reserved byte is not zero"));
        }
        if !(5..=7).contains(&tile_log2) {
            return Err(Error::format(format!("strength map tile size 2^{tile_log2} out of range 32..128")));
        }
        let (tx, ty) = StrengthMap::grid(tile_log2, width, height);
        let tiles = tx.checked_mul(ty).ok_or_else(|| Error::format("strength map size overflows"))?;
        // The header length was checked against the data and bounds the map: a map it cannot hold is refused
        // before anything is allocated for it.
        let bytes = StrengthMap::packed_len(tiles);
        let want = Header::len_for(channels as usize) + 2 + bytes;
        if header_len != want {
            return Err(Error::format(format!(
                "header length {header_len} does not match {channels} channels and a strength map of {tiles} tiles \
                 ({want} bytes; the map is truncated or the wrong size)"
            )));
        }
        let packed = data.get(r.pos..r.pos + bytes).ok_or_else(|| Error::format("strength map truncated"))?;
        r.pos += bytes;
        let codes: Vec<u8> = (0..tiles).map(|i| (packed[i / 4] >> (2 * (i % 4))) & 3).collect();
        if bytes * 4 > tiles && packed[bytes - 1] >> (2 * (tiles % 4)) != 0 {
            return Err(Error::format("strength map: padding bits are not zero"));
        }
        Some(StrengthMap { tile_log2, codes })
    } else {
        if header_len != Header::len_for(channels as usize) {
            return Err(Error::format(format!("header length {header_len} does not match {channels} channels")));
        }
        None
    };
    let payload_len = r.u64()?;
    let header = Header {
        version,
        width,
        height,
        channels,
        mode,
        color,
        subsampling,
        predictor,
        coder,
        uniform_bins: flags & FLAG_UNIFORM_BINS != 0,
        corrector,
        channel_info,
        strength,
        payload_len,
    };
    header.validate(max_pixels)?;
    Ok((header, header_len))
}

/// Parses and checks a whole `.qfz` file: magic, version, header CRC, every field, the exact file length and the
/// payload CRC. Returns the header and the payload. `max_pixels` limits `width * height`.
pub fn parse(data: &[u8], max_pixels: u64) -> Result<(Header, &[u8])> {
    let (header, header_len) = parse_header(data, max_pixels)?;
    let payload_len = header.payload_len;
    let expected = (header_len as u64)
        .checked_add(payload_len)
        .and_then(|n| n.checked_add(4))
        .ok_or_else(|| Error::format("payload length overflows"))?;
    let actual = data.len() as u64;
    if actual < expected {
        return Err(Error::format(format!("file ends inside the payload ({actual} of {expected} bytes, truncated)")));
    }
    if actual > expected {
        return Err(Error::format(format!("{} trailing bytes after the payload", actual - expected)));
    }
    let end = header_len + payload_len as usize;
    let payload = &data[header_len..end];
    let crc = u32::from_le_bytes(data[end..].try_into().map_err(|_| Error::format("payload CRC missing"))?);
    if crc32fast::hash(payload) != crc {
        return Err(Error::format("payload CRC mismatch (the payload is corrupt)"));
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: 1,
            width: 7,
            height: 5,
            channels: 3,
            mode: Mode::Bounded,
            color: Color::YCoCgR,
            subsampling: Subsampling::None,
            predictor: PREDICTOR_MED,
            coder: Coder::Qac,
            uniform_bins: false,
            corrector: [0; 8],
            channel_info: vec![ChannelInfo { levels: bounded_levels(2), max_error: 2 }; 3],
            strength: None,
            payload_len: 0,
        }
    }

    #[test]
    fn round_trip() {
        let file = write(&header(), b"hello").unwrap();
        assert_eq!(file.len(), Header::len_for(3) + 5 + 4);
        let (h, p) = parse(&file, DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!(p, b"hello");
        assert_eq!(h, Header { payload_len: 5, ..header() });
    }

    #[test]
    fn bounded_levels_cover_the_range() {
        assert_eq!(bounded_levels(0), 256);
        assert_eq!(bounded_levels(1), 86);
        for d in 0..=MAX_ERROR_LIMIT {
            let s = 2 * d as u32 + 1;
            assert_eq!((255 + d as u32) / s, bounded_levels(d) as u32 - 1);
        }
        assert_eq!(levels_max_error(256), 0);
        assert_eq!(levels_max_error(2), 64);
    }

    #[test]
    fn uniform_bins_need_version_2_and_levels_that_keep_the_bound() {
        let uni = |levels: u16, version: u16| Header {
            version,
            uniform_bins: true,
            channel_info: vec![ChannelInfo { levels, max_error: 2 }; 3],
            ..header()
        };
        let file = write(&uni(59, 2), b"p").unwrap();
        assert_eq!(file[22], FLAG_UNIFORM_BINS);
        assert_eq!(parse(&file, DEFAULT_MAX_PIXELS).unwrap().0, Header { payload_len: 1, ..uni(59, 2) });
        // 51 levels have bins of 6 values: an error of 3 > 2.
        assert!(write(&uni(51, 2), b"p").unwrap_err().to_string().contains("cannot keep max error 2"));
        assert!(write(&uni(59, 1), b"p").unwrap_err().to_string().contains("version 2"));
        let levels =
            Header { mode: Mode::Levels, channel_info: vec![ChannelInfo { levels: 8, max_error: 16 }; 3], ..uni(8, 2) };
        assert!(write(&levels, b"p").is_err());
        // A version-1 file with the flag set is refused by its flags.
        let mut f = write(&header(), b"p").unwrap();
        f[22] = FLAG_UNIFORM_BINS;
        let crc = crc32fast::hash(&f[..Header::len_for(3) - 4]);
        let at = Header::len_for(3) - 4;
        f[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        assert!(err(&f).contains("unknown flags"));
    }

    #[test]
    fn fewest_uniform_levels_keep_the_bound() {
        for d in 0..=MAX_ERROR_LIMIT {
            let l = uniform_levels_for(d);
            assert!(levels_max_error(l) <= d);
            assert!(l == 2 || levels_max_error(l - 1) > d, "d={d}: {l} is not the fewest");
            // The step-bins count covers 0..=255 with bins of 2d + 1 too, so it is never fewer.
            assert!(l <= bounded_levels(d) || d == 0);
        }
        assert_eq!(uniform_levels_for(0), 256);
        assert_eq!(uniform_levels_for(1), 86);
    }

    fn err(data: &[u8]) -> String {
        match parse(data, DEFAULT_MAX_PIXELS) {
            Err(Error::Format(m)) => m,
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let file = write(&header(), b"payload bytes").unwrap();
        for n in 0..file.len() {
            err(&file[..n]);
        }
        for i in 0..file.len() {
            for bit in 0..8 {
                let mut f = file.clone();
                f[i] ^= 1 << bit;
                err(&f);
            }
        }
    }

    #[test]
    fn messages_name_the_problem() {
        let file = write(&header(), b"x").unwrap();
        let mut f = file.clone();
        f[4] = 9;
        assert!(err(&f).contains("version 9"));
        let mut f = file.clone();
        f[9] ^= 1;
        assert!(err(&f).contains("header CRC"));
        let mut f = file.clone();
        let n = f.len();
        f[n - 5] ^= 1;
        assert!(err(&f).contains("payload CRC"));
        assert!(err(b"PNG\x0d").contains("magic"));
        let big = Header { width: 1 << 15, height: 1 << 14, ..header() };
        let file = write(&big, b"").unwrap();
        assert!(err(&file).contains("limit"));
    }
}
