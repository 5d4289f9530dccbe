//! Entropy coding of index planes: an adaptive binary range coder with contexts from local gradients ("QAC").
//!
//! Each plane is predicted pixel by pixel with MED (the LOCO-I / JPEG-LS median edge detector); the residual,
//! reduced modulo the plane's value range, is binarised (zero flag, sign, Elias-gamma length in unary, mantissa)
//! and every binary decision is coded with an adaptive probability chosen by a context. The context is the local
//! activity: the gradients around the pixel plus the magnitudes of the neighbours' residuals (as CALIC's error
//! energy) and, for the second and later planes, the first plane's (and for the third, also the second plane's)
//! residual at the same pixel, because luma and chroma errors cluster at the same edges.
//!
//! The range coder is LZMA's (32-bit range, carry propagation through a byte cache). The decoder treats the stream as
//! hostile: it never reads out of bounds (missing bytes read as zero and are counted), every loop is bounded by the
//! plane's size, and a residual outside the plane's range is an error, so a corrupt stream gives `Error::Format` or
//! garbage pixels inside the declared range, never a panic, a hang or an allocation larger than the plane.

use crate::error::{Error, Result};
use crate::predict::{med, Plane};

/// Bits of probability precision: a model's probability of a 0 bit is `p / 2^16`.
const PROB_BITS: u32 = 16;
const TOP: u32 = 1 << 24;
/// Activity buckets: two per octave of the activity sum.
const BUCKETS: usize = 24;
/// Second contexts, mixed with the activity bucket for the zero flag and the length: the west and north residuals'
/// magnitudes, eight levels each.
const CTX2: usize = 64;
/// Longest Elias-gamma length: magnitudes below `2^MAX_LEN`.
const MAX_LEN: usize = 17;

/// One adaptive binary probability: the mean of a fast and a slow estimate, the slow one starting fast while it
/// has seen few bits (a cheap stand-in for counting).
#[derive(Clone, Copy)]
pub(crate) struct Model {
    fast: u16,
    slow: u16,
    seen: u8,
}

const SLOW_SHIFT: [u8; 16] = [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6, 7];

impl Model {
    const NEW: Model = Model { fast: 1 << 15, slow: 1 << 15, seen: 0 };

    /// The probability of a 0 bit, in 1/65536, within 16..=65520 so neither outcome ever gets a zero-width range.
    #[inline(always)]
    fn p0(&self) -> u32 {
        ((self.fast as u32 + self.slow as u32) >> 1).clamp(16, 65520)
    }

    #[inline(always)]
    fn update(&mut self, bit: u32) {
        let s = SLOW_SHIFT[self.seen as usize];
        if self.seen < 15 {
            self.seen += 1;
        }
        if bit == 0 {
            self.fast += (65535 - self.fast) >> 5;
            self.slow += (65535 - self.slow) >> s;
        } else {
            self.fast -= self.fast >> 5;
            self.slow -= self.slow >> s;
        }
    }
}

/// Codes one binary decision: the encoder writes `bit` and returns it, the decoder ignores `bit` and returns what
/// it reads. One generic coding loop then serves both directions, so they cannot drift apart.
pub(crate) trait BitIo {
    /// True for the encoder.
    const ENCODER: bool;
    /// Codes `bit` (0 or 1) with probability `p0 / 2^16` of a 0.
    fn code(&mut self, p0: u32, bit: u32) -> u32;
    /// Codes `bit` with the adaptive model `m`, which is updated.
    #[inline(always)]
    fn bit(&mut self, m: &mut Model, bit: u32) -> u32 {
        let b = self.code(m.p0(), bit);
        m.update(b);
        b
    }
    /// Codes `bit` with the mean of two models' probabilities (two contexts mixed); both are updated.
    #[inline(always)]
    fn bit2(&mut self, m1: &mut Model, m2: &mut Model, bit: u32) -> u32 {
        let b = self.code((m1.p0() + m2.p0()) >> 1, bit);
        m1.update(b);
        m2.update(b);
        b
    }
    /// True when a decoder has read past the end of its stream.
    fn overrun(&self) -> bool {
        false
    }
}

/// The range encoder.
pub(crate) struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new(capacity: usize) -> Self {
        Encoder { low: 0, range: u32::MAX, cache: 0, cache_size: 1, out: Vec::with_capacity(capacity) }
    }

    #[inline(always)]
    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

impl BitIo for Encoder {
    const ENCODER: bool = true;
    #[inline(always)]
    fn code(&mut self, p0: u32, bit: u32) -> u32 {
        let bound = (self.range >> PROB_BITS) * p0;
        if bit == 0 {
            self.range = bound;
        } else {
            self.low += bound as u64;
            self.range -= bound;
        }
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
        bit
    }
}

/// The range decoder over a hostile byte stream.
pub(crate) struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
    /// Bytes read past the end (as zeros).
    overrun: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Result<Self> {
        let mut d = Decoder { data, pos: 0, range: u32::MAX, code: 0, overrun: 0 };
        // The encoder's first byte is always 0 (the initial cache).
        if d.next() != 0 {
            return Err(Error::format("entropy stream: bad first byte"));
        }
        for _ in 0..4 {
            d.code = (d.code << 8) | d.next() as u32;
        }
        Ok(d)
    }

    #[inline(always)]
    fn next(&mut self) -> u8 {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => {
                self.overrun += 1;
                0
            }
        }
    }

    /// Checks that the stream was long enough: the encoder's flush writes 4 bytes past the last one the decoder needs.
    pub(crate) fn finish(self) -> Result<()> {
        if self.overrun > 0 {
            return Err(Error::format("entropy stream ends early (truncated)"));
        }
        Ok(())
    }
}

impl BitIo for Decoder<'_> {
    const ENCODER: bool = false;
    fn overrun(&self) -> bool {
        self.overrun > 0
    }
    #[inline(always)]
    fn code(&mut self, p0: u32, _bit: u32) -> u32 {
        let bound = (self.range >> PROB_BITS) * p0;
        let bit = if self.code < bound {
            self.range = bound;
            0
        } else {
            // A corrupt stream can hold code >= range; wrapping keeps that garbage-in, garbage-out, never a panic.
            self.code = self.code.wrapping_sub(bound);
            self.range -= bound;
            1
        };
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | self.next() as u32;
        }
        bit
    }
}

/// Bias cancellation per gradient context (as LOCO-I's C[Q]): the running mean of the residuals, kept as a
/// correction `c` and a remainder `b` over the count `n`, updated without divisions.
#[derive(Clone, Copy, Default)]
struct Bias {
    b: i32,
    n: i32,
    c: i32,
}

/// Gradient contexts for the bias: three gradients, nine levels each.
const BIAS_CONTEXTS: usize = 729;

#[inline(always)]
fn grad_level(g: i32) -> usize {
    let q = match g.unsigned_abs() {
        0 => 0,
        1..=2 => 1,
        3..=6 => 2,
        7..=20 => 3,
        _ => 4,
    };
    (if g < 0 { 4 - q } else { 4 + q }) as usize
}

impl Bias {
    #[inline(always)]
    fn update(&mut self, e: i32) {
        self.b += e;
        self.n += 1;
        if self.n >= 64 {
            self.b >>= 1;
            self.n >>= 1;
        }
        if self.b <= -self.n {
            self.c -= 1;
            self.b += self.n;
            if self.b <= -self.n {
                self.b = -self.n + 1;
            }
        } else if self.b > 0 {
            self.c += 1;
            self.b -= self.n;
            if self.b > 0 {
                self.b = 0;
            }
        }
        self.c = self.c.clamp(-64, 64);
    }
}

/// The adaptive models of one plane.
struct Models {
    bias: [Bias; BIAS_CONTEXTS],
    zero: [Model; BUCKETS],
    zero2: [Model; CTX2],
    len2: [[Model; MAX_LEN]; CTX2],
    sign: [Model; 9],
    len: [[Model; MAX_LEN]; BUCKETS],
    mant_hi: [[Model; MAX_LEN]; BUCKETS],
    mant_lo: [[Model; MAX_LEN]; MAX_LEN],
}

impl Models {
    fn new() -> Box<Self> {
        Box::new(Models {
            bias: [Bias::default(); BIAS_CONTEXTS],
            zero: [Model::NEW; BUCKETS],
            zero2: [Model::NEW; CTX2],
            len2: [[Model::NEW; MAX_LEN]; CTX2],
            sign: [Model::NEW; 9],
            len: [[Model::NEW; MAX_LEN]; BUCKETS],
            mant_hi: [[Model::NEW; MAX_LEN]; BUCKETS],
            mant_lo: [[Model::NEW; MAX_LEN]; MAX_LEN],
        })
    }
}

/// Two buckets per octave of `t`: 0, 1, then 2..3 -> 2, 3, 4..5 -> 4, 6..7 -> 5, 8..11 -> 6, ...
#[inline(always)]
fn bucket(t: u32) -> usize {
    if t < 2 {
        return t as usize;
    }
    let l = 32 - t.leading_zeros();
    let b = 2 * l - 2 + ((t >> (l - 2)) & 1);
    (b as usize).min(BUCKETS - 1)
}

/// 0, 1, 2, 3-4, 5-8, 9-16, 17-32, more: eight levels of a residual's magnitude.
#[inline(always)]
fn mag_level(e: i32) -> usize {
    let m = e.unsigned_abs();
    if m < 3 {
        m as usize
    } else {
        ((33 - (m - 1).leading_zeros()) as usize).min(7)
    }
}

#[inline(always)]
fn sign_ctx(w: i32, n: i32) -> usize {
    (w.signum() + 1) as usize * 3 + (n.signum() + 1) as usize
}

/// Codes one residual `e` (encoder) or decodes it (decoder, `e` ignored) in activity bucket `b`.
#[inline(always)]
/// `b2` is the second context, or `usize::MAX` for none.
fn code_residual<C: BitIo>(io: &mut C, m: &mut Models, b: usize, b2: usize, sctx: usize, e: i32) -> Result<i32> {
    let mix = b2 < CTX2;
    let b2 = b2 & (CTX2 - 1);
    let zero = if mix {
        io.bit2(&mut m.zero[b], &mut m.zero2[b2], (e == 0) as u32)
    } else {
        io.bit(&mut m.zero[b], (e == 0) as u32)
    };
    if zero == 1 {
        return Ok(0);
    }
    let neg = io.bit(&mut m.sign[sctx], (e < 0) as u32);
    let mag = e.unsigned_abs();
    let n = if C::ENCODER { (32 - mag.leading_zeros()) as usize } else { 0 };
    // Length n >= 1 in unary: n - 1 ones, then a zero (omitted at the longest length).
    let mut len = 1;
    while len < MAX_LEN {
        let more = if mix {
            io.bit2(&mut m.len[b][len - 1], &mut m.len2[b2][len - 1], (len < n) as u32)
        } else {
            io.bit(&mut m.len[b][len - 1], (len < n) as u32)
        };
        if more == 0 {
            break;
        }
        len += 1;
    }
    if len >= MAX_LEN {
        return Err(Error::format("entropy stream: residual too long"));
    }
    let mut v: u32 = 1;
    for j in (0..len - 1).rev() {
        let model = if j == len - 2 { &mut m.mant_hi[b][len] } else { &mut m.mant_lo[len][j] };
        let bit = io.bit(model, (mag >> j) & 1);
        v = (v << 1) | bit;
    }
    let v = v as i32;
    Ok(if neg == 1 { -v } else { v })
}

/// Codes one plane row by row, both directions: the encoder reads `plane.data`, the decoder fills it. Row-wise so
/// the planes of an image can be coded in a pipeline (see [`code_planes`]).
struct PlaneCoder {
    plane: Plane,
    m: Box<Models>,
    /// The residuals of the current and the previous row.
    res: Vec<i16>,
    /// Bias cancellation and the second context pay on fine planes (lossless, d = 1); on coarse ones a whole-index
    /// correction overshoots and the second context only dilutes the statistics (measured on Kodak).
    fine: bool,
}

impl PlaneCoder {
    fn new(plane: Plane) -> Result<Self> {
        if plane.data.len() != plane.width * plane.height || plane.hi < plane.lo {
            return Err(Error::value("plane", "size mismatch"));
        }
        let res = vec_i16(plane.width.checked_mul(2).ok_or(Error::OutOfMemory { bytes: usize::MAX })?)?;
        let fine = plane.hi >= 64;
        Ok(PlaneCoder { plane, m: Models::new(), res, fine })
    }

    /// The residuals of row `y` (valid right after coding it).
    fn res_row(&self, y: usize) -> &[i16] {
        let w = self.plane.width;
        &self.res[(y & 1) * w..(y & 1) * w + w]
    }

    /// Codes row `y` (rows in order). `side` is the sum of the context planes' residual magnitudes on the same row,
    /// or None.
    fn row<C: BitIo>(&mut self, io: &mut C, y: usize, side: Option<&[u16]>) -> Result<()> {
        let (w, lo, hi) = (self.plane.width, self.plane.lo, self.plane.hi);
        let range = hi - lo + 1;
        let half = range / 2;
        let (emin, emax) = (-half, range - 1 - half);
        let fine = self.fine;
        let m = &mut *self.m;
        let data = &mut self.plane.data;
        let res = &mut self.res;
        if side.is_some_and(|s| s.len() != w) {
            return Err(Error::value("plane", "side row size mismatch"));
        }
        let row = y * w;
        let (rcur, rup) = ((y & 1) * w, ((y + 1) & 1) * w);
        for x in 0..w {
            let i = row + x;
            // Neighbours: W, N, NW, NE, with the usual edge rules (first row from W, first column from N).
            let (a, b, c, d, ew, en) = if y == 0 {
                let a = if x > 0 { data[i - 1] as i32 } else { lo.max(0).min(hi) };
                let ew = if x > 0 { res[rcur + x - 1] as i32 } else { 0 };
                (a, a, a, a, ew, ew)
            } else {
                let b = data[i - w] as i32;
                let en = res[rup + x] as i32;
                let (a, c, ew) = if x > 0 {
                    (data[i - 1] as i32, data[i - w - 1] as i32, res[rcur + x - 1] as i32)
                } else {
                    (b, b, en)
                };
                let d = if x + 1 < w { data[i - w + 1] as i32 } else { b };
                (a, b, c, d, ew, en)
            };
            let qctx = if fine { grad_level(d - b) * 81 + grad_level(b - c) * 9 + grad_level(c - a) } else { 0 };
            let pred = (med(a, b, c) + m.bias[qctx].c).clamp(lo, hi);
            let mut t =
                ((a - c).abs() + (b - c).abs() + (b - d).abs()) as u32 + 2 * (ew.unsigned_abs() + en.unsigned_abs());
            if y > 0 {
                let enw = if x > 0 { res[rup + x - 1] } else { 0 };
                let ene = if x + 1 < w { res[rup + x + 1] } else { 0 };
                t += (enw.unsigned_abs() + ene.unsigned_abs()) as u32;
            }
            if let Some(s) = side {
                t += 2 * s[x] as u32;
            }
            let bk = bucket(t);
            let sctx = sign_ctx(ew, en);
            let b2 = if fine { mag_level(ew) * 8 + mag_level(en) } else { usize::MAX };
            let e = if C::ENCODER {
                let mut e = data[i] as i32 - pred;
                if e < emin {
                    e += range;
                } else if e > emax {
                    e -= range;
                }
                code_residual(io, m, bk, b2, sctx, e)?;
                e
            } else {
                let e = code_residual(io, m, bk, b2, sctx, 0)?;
                if e < emin || e > emax {
                    return Err(Error::format("entropy stream: residual out of the plane's range"));
                }
                let mut v = pred + e;
                if v < lo {
                    v += range;
                } else if v > hi {
                    v -= range;
                }
                data[i] = v as i16;
                e
            };
            if fine {
                m.bias[qctx].update(e);
            }
            res[rcur + x] = e as i16;
        }
        // A valid stream is never read past its end, so stop at the first row that did (a truncated or hostile
        // stream fails early instead of decoding a huge plane from zeros).
        if io.overrun() {
            return Err(Error::format("entropy stream ends early (truncated)"));
        }
        Ok(())
    }
}

/// The planes whose residuals plane `k` uses as context: the first plane for every later plane of its size, and the
/// second plane as well for the third (in YCoCg-R, Cg's errors follow Co's as much as Y's).
fn context_sources(planes: &[PlaneCoder], k: usize) -> Vec<usize> {
    let same =
        |j: usize| planes[j].plane.width == planes[k].plane.width && planes[j].plane.height == planes[k].plane.height;
    match k {
        0 => vec![],
        2 if same(0) && same(1) => vec![0, 1],
        _ if same(0) => vec![0],
        _ => vec![],
    }
}

/// Codes all planes of an image, each with its own coder `ios[k]`, both directions. Planes use earlier planes'
/// residuals at the same pixels as context (see [`context_sources`]), so they are coded in a pipeline: one thread
/// per plane, each sending every row's residuals to the planes that use them, which follow a row behind. The
/// result does not depend on the threads' timing.
fn code_planes<C: BitIo + Send>(ios: Vec<C>, planes: Vec<Plane>) -> Result<(Vec<C>, Vec<Plane>)> {
    use std::sync::mpsc::{channel, Receiver, Sender};
    if ios.len() != planes.len() || planes.is_empty() {
        return Err(Error::value("planes", "one coder per plane"));
    }
    let mut coders = planes.into_iter().map(PlaneCoder::new).collect::<Result<Vec<_>>>()?;
    let n = coders.len();
    let mut inputs: Vec<Vec<Receiver<Vec<i16>>>> = (0..n).map(|_| Vec::new()).collect();
    let mut outputs: Vec<Vec<Sender<Vec<i16>>>> = (0..n).map(|_| Vec::new()).collect();
    for k in 0..n {
        for j in context_sources(&coders, k) {
            let (tx, rx) = channel();
            outputs[j].push(tx);
            inputs[k].push(rx);
        }
    }
    let mut ios = ios;
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = coders
            .iter_mut()
            .zip(ios.iter_mut())
            .zip(inputs.into_iter().zip(outputs))
            .map(|((coder, io), (rx, tx))| {
                scope.spawn(move || -> Result<()> {
                    let w = coder.plane.width;
                    let mut side = vec![0u16; if rx.is_empty() { 0 } else { w }];
                    for y in 0..coder.plane.height {
                        if !rx.is_empty() {
                            side.iter_mut().for_each(|v| *v = 0);
                            for r in &rx {
                                // A source that stopped has failed: its own error is the one reported.
                                let row = r.recv().map_err(|_| Error::format("a context plane failed"))?;
                                for (v, e) in side.iter_mut().zip(&row) {
                                    *v = v.saturating_add(e.unsigned_abs());
                                }
                            }
                        }
                        coder.row(io, y, if rx.is_empty() { None } else { Some(&side) })?;
                        for t in &tx {
                            // A receiver that has failed is gone; its error is reported from its thread.
                            let _ = t.send(coder.res_row(y).to_vec());
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::format("internal error: a coder thread panicked"))))
            .collect()
    });
    // The earliest plane's error first: later planes only report that a source failed.
    for r in results {
        r?;
    }
    Ok((ios, coders.into_iter().map(|c| c.plane).collect()))
}

/// Encodes the planes of an image (values in each plane's `lo..=hi`); returns one stream per plane.
pub fn encode_planes(planes: &[Plane]) -> Result<Vec<Vec<u8>>> {
    let ios = planes.iter().map(|p| Encoder::new(p.data.len() / 2 + 16)).collect();
    // The coder takes the planes by value for the decoder's sake, hence the copy (2 bytes a pixel, small next to
    // the coding).
    let (ios, _) = code_planes(ios, planes.to_vec())?;
    Ok(ios.into_iter().map(Encoder::finish).collect())
}

/// Decodes the planes of an image from one stream each; `specs` gives each plane's `(width, height, lo, hi)`.
pub fn decode_planes(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)]) -> Result<Vec<Plane>> {
    if streams.len() != specs.len() {
        return Err(Error::format("stream count does not match the plane count"));
    }
    let ios = streams.iter().map(|s| Decoder::new(s)).collect::<Result<Vec<_>>>()?;
    let mut planes = Vec::with_capacity(specs.len());
    for &(width, height, lo, hi) in specs {
        let n = width.checked_mul(height).ok_or_else(|| Error::format("plane size overflows"))?;
        planes.push(Plane { width, height, lo, hi, data: vec_i16(n)? });
    }
    let (ios, planes) = code_planes(ios, planes)?;
    for io in ios {
        io.finish()?;
    }
    Ok(planes)
}

/// A zeroed `Vec<i16>` of `n` values, or `Error::OutOfMemory`.
///
/// The memory comes zeroed from the allocator (calloc), so pages a decoder never reaches (a hostile file that fails
/// early) are never touched.
pub(crate) fn vec_i16(n: usize) -> Result<Vec<i16>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let bytes = n.checked_mul(2).ok_or(Error::OutOfMemory { bytes: usize::MAX })?;
    let layout = std::alloc::Layout::array::<i16>(n).map_err(|_| Error::OutOfMemory { bytes })?;
    // SAFETY: the layout has non-zero size; a null pointer is handled; the pointer comes from the global allocator
    // with exactly this layout (align of i16, n elements == capacity), as `Vec::from_raw_parts` requires, and every
    // element is initialised (all-zero bytes are a valid i16 0).
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut i16;
        if ptr.is_null() {
            return Err(Error::OutOfMemory { bytes });
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy_plane(w: usize, h: usize, lo: i32, hi: i32, seed: u64) -> Plane {
        let mut s = seed;
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((s >> 33) % 7) as i32 - 3;
                let v = ((x * 3 + y * 2) as i32 / 4 + noise).clamp(lo, hi);
                data.push(v as i16);
            }
        }
        Plane { width: w, height: h, lo, hi, data }
    }

    fn one(p: &Plane) -> Vec<u8> {
        encode_planes(std::slice::from_ref(p)).unwrap().remove(0)
    }

    fn spec(p: &Plane) -> (usize, usize, i32, i32) {
        (p.width, p.height, p.lo, p.hi)
    }

    #[test]
    fn round_trip_exact() {
        for (w, h, lo, hi) in [(1, 1, 0, 1), (37, 23, 0, 255), (64, 5, -255, 255), (3, 40, 0, 7), (9, 9, -3, 3)] {
            let p = noisy_plane(w, h, lo, hi, w as u64 * 7 + h as u64);
            let q = decode_planes(&[&one(&p)], &[spec(&p)]).unwrap();
            assert_eq!(p, q[0]);
            // Three planes, the later ones with the first's residuals as context, and a smaller one without.
            let small = noisy_plane(w.div_ceil(2), h.div_ceil(2), lo, hi, 5);
            let planes = vec![p.clone(), noisy_plane(w, h, lo, hi, 9), small.clone(), p.clone()];
            let streams = encode_planes(&planes).unwrap();
            let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
            let specs: Vec<_> = planes.iter().map(spec).collect();
            assert_eq!(decode_planes(&refs, &specs).unwrap(), planes);
        }
    }

    #[test]
    fn a_smooth_plane_compresses() {
        let p = noisy_plane(256, 256, 0, 255, 1);
        let bytes = one(&p);
        // Noise of 7 values: log2(7) = 2.8 bits at most; MED on the ramp does a little worse than the noise alone.
        assert!(bytes.len() * 8 < 256 * 256 * 4, "{} bytes", bytes.len());
    }

    #[test]
    fn truncation_is_detected() {
        let p = noisy_plane(50, 50, 0, 255, 3);
        let bytes = one(&p);
        let r = decode_planes(&[&bytes[..bytes.len() / 2]], &[spec(&p)]);
        assert!(matches!(r, Err(Error::Format(_))), "{r:?}");
        let q = noisy_plane(50, 50, 0, 255, 4);
        let s = encode_planes(&[p.clone(), q.clone()]).unwrap();
        for (a, b) in [(&s[0][..10], &s[1][..]), (&s[0][..], &s[1][..10])] {
            assert!(matches!(decode_planes(&[a, b], &[spec(&p), spec(&q)]), Err(Error::Format(_))));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut s = 99u64;
        for len in [0usize, 1, 2, 5, 17, 300] {
            for _ in 0..20 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (s >> 56) as u8
                    })
                    .collect();
                let _ = decode_planes(&[&data, &data], &[(13, 11, -20, 20), (13, 11, 0, 200)]);
            }
        }
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut last = 0;
        for t in 0..100_000 {
            let b = bucket(t);
            assert!(b >= last && b < BUCKETS);
            last = b;
        }
    }
}
