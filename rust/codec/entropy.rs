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

use crate::codec::predict::{med, Plane};
use crate::error::{Error, Result};

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
    pub(crate) const NEW: Model = Model { fast: 1 << 15, slow: 1 << 15, seen: 0 };

    /// The probability of a 0 bit, in 1/65536, within 16..=65520 so neither outcome ever gets a zero-width range.
    ///
    /// The format clamps it into 16..=65520, but no sequence of updates leaves that range, so the clamp is left
    /// out: both updates are monotonic in the state and the all-0 (all-1) sequence bounds it from above (below).
    /// `fast` (shift 5) stops at 65504 from below and at 31 from above; `slow` gets no closer than 5000 to either end
    /// in its first 15 updates and then (shift 7) stops at 65408 and 127. So `p0` is within 79..=65456
    /// (`model_probability_stays_in_range` checks this).
    #[inline(always)]
    pub(crate) fn p0(&self) -> u32 {
        let p = (self.fast as u32 + self.slow as u32) >> 1;
        debug_assert!((16..=65520).contains(&p));
        p
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, bit: u32) {
        // A model has seen 15 bits or more almost always: then the slow shift is 7 and `seen` stays.
        let s = if self.seen >= 15 {
            7
        } else {
            let s = SLOW_SHIFT[self.seen as usize & 15];
            self.seen += 1;
            s
        };
        // One formula for both outcomes, without branches (the bit is unpredictable): with `u = 65535 - x`,
        // `x + (u >> k)` (bit 0) equals `x - ((x - (65536 - 2^k)) >> k)` with an arithmetic shift, and `x - (x >> k)`
        // (bit 1) is the same with 0 in place of `65536 - 2^k`.
        let zero = (bit as i32) - 1;
        let (f, sl) = (self.fast as i32, self.slow as i32);
        self.fast = (f - ((f - (zero & (65536 - (1 << 5)))) >> 5)) as u16;
        self.slow = (sl - ((sl - (zero & (65536 - (1 << s)))) >> s)) as u16;
    }
}

/// Codes one binary decision: the encoder writes `bit` and returns it, the decoder ignores `bit` and returns what
/// it reads. One generic coding loop then serves both directions, so they cannot drift apart.
pub(crate) trait BitIo: Default {
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
#[derive(Default)]
pub(crate) struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
    /// The output could not grow: `finish` reports `Error::OutOfMemory` (bytes after that are dropped).
    out_of_memory: bool,
}

impl Encoder {
    /// An encoder whose output starts with room for `capacity` bytes, or `Error::OutOfMemory`.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        let out = crate::alloc::with_capacity(capacity)?;
        Ok(Encoder { low: 0, range: u32::MAX, cache: 0, cache_size: 1, out, out_of_memory: false })
    }

    /// Appends a byte, growing the output fallibly (a failed allocation is remembered, never an abort).
    #[inline(always)]
    fn put(&mut self, byte: u8) {
        if self.out.len() == self.out.capacity() && self.out.try_reserve(self.out.len().max(4096)).is_err() {
            self.out_of_memory = true;
            return;
        }
        self.out.push(byte);
    }

    #[inline(always)]
    fn shift_low(&mut self) {
        if (self.low as u32) < 0xFF00_0000 || (self.low >> 32) != 0 {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.put(temp.wrapping_add(carry));
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

    /// The coded bytes, or `Error::OutOfMemory` if the output could not grow.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        for _ in 0..5 {
            self.shift_low();
        }
        if self.out_of_memory {
            return Err(Error::OutOfMemory { bytes: self.out.capacity().saturating_mul(2) });
        }
        Ok(self.out)
    }
}

impl BitIo for Encoder {
    const ENCODER: bool = true;
    #[inline(always)]
    fn code(&mut self, p0: u32, bit: u32) -> u32 {
        let bound = (self.range >> PROB_BITS) * p0;
        // Branch-free: `mask` is all ones for a 1 bit.
        let mask = 0u32.wrapping_sub(bit);
        self.low += (bound & mask) as u64;
        self.range = (bound & !mask) | ((self.range - bound) & mask);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
        bit
    }
}

/// The range decoder over a hostile byte stream.
#[derive(Default)]
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
        // bound < range as p0 < 2^16. Branch-free: `mask` is all ones for a 1 bit. A corrupt stream can hold
        // code >= range; wrapping keeps that garbage-in, garbage-out, never a panic.
        let bound = (self.range >> PROB_BITS) * p0;
        let bit = (self.code >= bound) as u32;
        let mask = 0u32.wrapping_sub(bit);
        self.code = self.code.wrapping_sub(bound & mask);
        self.range = (bound & !mask) | ((self.range - bound) & mask);
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

/// The nine levels of a gradient: 0, +-1..2, +-3..6, +-7..20, beyond.
const fn grad_level(g: i32) -> usize {
    let m = g.unsigned_abs();
    let q = if m == 0 {
        0
    } else if m <= 2 {
        1
    } else if m <= 6 {
        2
    } else if m <= 20 {
        3
    } else {
        4
    };
    (if g < 0 { 4 - q } else { 4 + q }) as usize
}

/// Gradients beyond this all have the outermost level.
const GRAD_CLAMP: i32 = 21;

/// `grad_level(g) * scale` for `g` in `-GRAD_CLAMP..=GRAD_CLAMP`, indexed by `g + GRAD_CLAMP`.
const fn grad_table(scale: u16) -> [u16; 2 * GRAD_CLAMP as usize + 1] {
    let mut t = [0u16; 2 * GRAD_CLAMP as usize + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = grad_level(i as i32 - GRAD_CLAMP) as u16 * scale;
        i += 1;
    }
    t
}

static GRAD81: [u16; 2 * GRAD_CLAMP as usize + 1] = grad_table(81);
static GRAD9: [u16; 2 * GRAD_CLAMP as usize + 1] = grad_table(9);
static GRAD1: [u16; 2 * GRAD_CLAMP as usize + 1] = grad_table(1);

/// The bias context of three gradients: `grad_level(g1) * 81 + grad_level(g2) * 9 + grad_level(g3)`, by table.
#[inline(always)]
fn grad_ctx(g1: i32, g2: i32, g3: i32) -> usize {
    let ix = |g: i32| (g.clamp(-GRAD_CLAMP, GRAD_CLAMP) + GRAD_CLAMP) as usize;
    (GRAD81[ix(g1)] + GRAD9[ix(g2)] + GRAD1[ix(g3)]) as usize
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
        // b <= -n: the mean is below -1/2, so c goes down and b up by n (at most to -n + 1); b > 0: the other way.
        // n >= 1, so at most one of the two holds. Selected without branches: which one holds is data-dependent.
        let (b, n) = (self.b, self.n);
        let (dec, inc) = (b <= -n, b > 0);
        let down = (b + n).max(-n + 1);
        let up = (b - n).min(0);
        self.b = if dec {
            down
        } else if inc {
            up
        } else {
            b
        };
        self.c = (self.c - dec as i32 + inc as i32).clamp(-64, 64);
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
const fn mag_level(e: i32) -> usize {
    let m = e.unsigned_abs();
    if m < 3 {
        m as usize
    } else {
        let l = (33 - (m - 1).leading_zeros()) as usize;
        if l < 7 {
            l
        } else {
            7
        }
    }
}

/// `mag_level` of magnitudes `0..=33` (all larger ones are level 7).
static MAG_LEVEL: [u8; 34] = {
    let mut t = [0u8; 34];
    let mut i = 0;
    while i < t.len() {
        t[i] = mag_level(i as i32) as u8;
        i += 1;
    }
    t
};

#[inline(always)]
fn mag_ctx(e: i32) -> usize {
    MAG_LEVEL[e.unsigned_abs().min(33) as usize] as usize
}

#[inline(always)]
fn sign_ctx(w: i32, n: i32) -> usize {
    (w.signum() + 1) as usize * 3 + (n.signum() + 1) as usize
}

/// Codes one residual `e` (encoder) or decodes it (decoder, `e` ignored) in activity bucket `b`; on `FINE` planes
/// the second context `b2` (< `CTX2`) is mixed in for the zero flag and the length.
#[inline(always)]
fn code_residual<C: BitIo, const FINE: bool>(
    io: &mut C,
    m: &mut Models,
    b: usize,
    b2: usize,
    sctx: usize,
    e: i32,
) -> Result<i32> {
    let b = b.min(BUCKETS - 1);
    let b2 = b2 & (CTX2 - 1);
    let zero = if FINE {
        io.bit2(&mut m.zero[b], &mut m.zero2[b2], (e == 0) as u32)
    } else {
        io.bit(&mut m.zero[b], (e == 0) as u32)
    };
    if zero == 1 {
        return Ok(0);
    }
    let neg = io.bit(&mut m.sign[sctx % 9], (e < 0) as u32);
    let mag = e.unsigned_abs();
    let n = if C::ENCODER { (32 - mag.leading_zeros()) as usize } else { 0 };
    // Length n >= 1 in unary: n - 1 ones, then a zero (omitted at the longest length).
    let mut len = 1;
    while len < MAX_LEN {
        let more = if FINE {
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
    if len >= 2 {
        // The top mantissa bit has its own models per activity bucket, the others per length and position.
        let j = len - 2;
        v = (v << 1) | io.bit(&mut m.mant_hi[b][len], (mag >> j) & 1);
        let lo = &mut m.mant_lo[len];
        for j in (0..len - 2).rev() {
            v = (v << 1) | io.bit(&mut lo[j], (mag >> j) & 1);
        }
    }
    let v = v as i32;
    Ok(if neg == 1 { -v } else { v })
}

/// The fixed parameters of a plane's coding loop.
#[derive(Clone, Copy)]
struct RowParams {
    lo: i32,
    hi: i32,
    range: i32,
    emin: i32,
    emax: i32,
}

/// Codes one pixel from its neighbours W `a`, N `b`, NW `c`, NE `d`, the W and N residuals `ew`, `en`, and `extra`
/// (the rest of the activity: NW and NE residual magnitudes, twice the context planes' residuals). The encoder
/// reads `*v`, the decoder writes it; returns the residual.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn code_pixel<C: BitIo, const FINE: bool>(
    io: &mut C,
    m: &mut Models,
    p: RowParams,
    (a, b, c, d): (i32, i32, i32, i32),
    ew: i32,
    en: i32,
    extra: u32,
    v: &mut i16,
) -> Result<i32> {
    let qctx = if FINE { grad_ctx(d - b, b - c, c - a) } else { 0 };
    let bias = if FINE { m.bias[qctx].c } else { 0 };
    let pred = (med(a, b, c) + bias).clamp(p.lo, p.hi);
    let t =
        ((a - c).abs() + (b - c).abs() + (b - d).abs()) as u32 + 2 * (ew.unsigned_abs() + en.unsigned_abs()) + extra;
    let bk = bucket(t);
    let sctx = sign_ctx(ew, en);
    let b2 = if FINE { mag_ctx(ew) * 8 + mag_ctx(en) } else { 0 };
    let e = if C::ENCODER {
        let mut e = *v as i32 - pred;
        if e < p.emin {
            e += p.range;
        } else if e > p.emax {
            e -= p.range;
        }
        code_residual::<C, FINE>(io, m, bk, b2, sctx, e)?;
        e
    } else {
        let e = code_residual::<C, FINE>(io, m, bk, b2, sctx, 0)?;
        if e < p.emin || e > p.emax {
            return Err(Error::format("entropy stream: residual out of the plane's range"));
        }
        let mut x = pred + e;
        if x < p.lo {
            x += p.range;
        } else if x > p.hi {
            x -= p.range;
        }
        *v = x as i16;
        e
    };
    if FINE {
        m.bias[qctx].update(e);
    }
    Ok(e)
}

/// Codes one plane row by row, both directions: the encoder reads `plane.data`, the decoder fills it. Row-wise so
/// the planes of an image can be coded in a pipeline (see [`code_planes`]).
struct PlaneCoder {
    plane: Plane,
    m: Box<Models>,
    /// The residuals of the previous row and of the current one.
    res_prev: Vec<i16>,
    res_cur: Vec<i16>,
    /// The context planes' residual magnitudes on the current row, summed.
    side: Vec<u16>,
    /// Bias cancellation and the second context pay on fine planes (lossless, d = 1); on coarse ones a whole-index
    /// correction overshoots and the second context only dilutes the statistics (measured on Kodak).
    fine: bool,
}

impl PlaneCoder {
    fn new(plane: Plane) -> Result<Self> {
        if !plane.layout_ok() || plane.hi < plane.lo {
            return Err(Error::value("plane", "size mismatch"));
        }
        let res_prev = crate::alloc::zeroed::<i16>(plane.width)?;
        let res_cur = crate::alloc::zeroed::<i16>(plane.width)?;
        let side = crate::alloc::zeroed::<u16>(plane.width)?;
        let fine = plane.hi >= 64;
        Ok(PlaneCoder { plane, m: Models::new(), res_prev, res_cur, side, fine })
    }
}

impl RowCoder for PlaneCoder {
    fn plane(&self) -> &Plane {
        &self.plane
    }

    fn into_plane(self) -> Plane {
        self.plane
    }

    fn res_row(&self) -> &[i16] {
        &self.res_cur
    }

    /// The context planes' rows count by the sum of their residual magnitudes.
    fn row<C: BitIo>(&mut self, io: &mut C, y: usize, sources: &[&[i16]]) -> Result<()> {
        let mut side = std::mem::take(&mut self.side);
        side.iter_mut().for_each(|v| *v = 0);
        for row in sources {
            if row.len() != side.len() {
                return Err(Error::value("plane", "side row size mismatch"));
            }
            for (v, e) in side.iter_mut().zip(row.iter()) {
                *v = v.saturating_add(e.unsigned_abs());
            }
        }
        // The coder's state moves into a local for the row, so that it can live in registers rather than be stored
        // to and reloaded from memory for every bit.
        let mut local = std::mem::take(io);
        let r = if self.fine {
            self.row_impl::<C, true>(&mut local, y, &side)
        } else {
            self.row_impl::<C, false>(&mut local, y, &side)
        };
        *io = local;
        self.side = side;
        r
    }
}

impl PlaneCoder {
    #[inline(always)]
    fn row_impl<C: BitIo, const FINE: bool>(&mut self, io: &mut C, y: usize, side: &[u16]) -> Result<()> {
        let (w, lo, hi) = (self.plane.width, self.plane.lo, self.plane.hi);
        let range = hi - lo + 1;
        let half = range / 2;
        let p = RowParams { lo, hi, range, emin: -half, emax: range - 1 - half };
        if side.len() != w || y >= self.plane.height || w == 0 {
            return Err(Error::value("plane", "side row size mismatch"));
        }
        let m = &mut *self.m;
        std::mem::swap(&mut self.res_prev, &mut self.res_cur);
        let (rup, rcur) = (&self.res_prev[..w], &mut self.res_cur[..w]);
        let (up, cur) = self.plane.up_and_row(y);
        // The activity from the context planes: twice their residual magnitudes.
        let sx = |x: usize| 2 * side[x] as u32;
        if y == 0 {
            // First row: every neighbour is W (the first pixel's is the plane's value nearest 0).
            let (mut a, mut ew) = (lo.max(0).min(hi), 0);
            for x in 0..w {
                let e = code_pixel::<C, FINE>(io, m, p, (a, a, a, a), ew, ew, sx(x), &mut cur[x])?;
                rcur[x] = e as i16;
                (a, ew) = (cur[x] as i32, e);
            }
        } else {
            let last = w - 1;
            let at = |v: &[i16], x: usize| v[x] as i32;
            // First column: W and NW are N, the W residual is N's, no NW residual.
            let b = at(up, 0);
            let (d, ene) = if w > 1 { (at(up, 1), at(rup, 1)) } else { (b, 0) };
            let en = at(rup, 0);
            let extra = ene.unsigned_abs() + sx(0);
            let e = code_pixel::<C, FINE>(io, m, p, (b, b, b, d), en, en, extra, &mut cur[0])?;
            rcur[0] = e as i16;
            let (mut a, mut ew) = (cur[0] as i32, e);
            // Inner columns: every neighbour exists.
            for x in 1..last {
                let (b, c, d) = (at(up, x), at(up, x - 1), at(up, x + 1));
                let en = at(rup, x);
                let extra = at(rup, x - 1).unsigned_abs() + at(rup, x + 1).unsigned_abs() + sx(x);
                let e = code_pixel::<C, FINE>(io, m, p, (a, b, c, d), ew, en, extra, &mut cur[x])?;
                rcur[x] = e as i16;
                (a, ew) = (cur[x] as i32, e);
            }
            // Last column: NE is N, no NE residual.
            if last > 0 {
                let x = last;
                let (b, c) = (at(up, x), at(up, x - 1));
                let en = at(rup, x);
                let extra = at(rup, x - 1).unsigned_abs() + sx(x);
                let e = code_pixel::<C, FINE>(io, m, p, (a, b, c, b), ew, en, extra, &mut cur[x])?;
                rcur[x] = e as i16;
            }
        }
        // A valid stream is never read past its end, so stop at the first row that did (a truncated or hostile
        // stream fails early instead of decoding a huge plane from zeros).
        if io.overrun() {
            return Err(Error::format("entropy stream ends early (truncated)"));
        }
        Ok(())
    }
}

/// One plane's coder, coded row by row in both directions so that the planes of an image can run in a pipeline
/// (see [`code_planes`]): the QAC coder here, and the stronger model of `codec::model`.
pub(crate) trait RowCoder: Send {
    /// The plane (being filled, when decoding).
    fn plane(&self) -> &Plane;
    /// The plane, when done.
    fn into_plane(self) -> Plane;
    /// What the planes that use this one as context receive of the row coded last: its residuals (QAC), or more
    /// per pixel; the same length for every row.
    fn res_row(&self) -> &[i16];
    /// Codes row `y` (rows in order); `sources` holds the context planes' `res_row` of the same row (see
    /// [`context_sources`]).
    fn row<C: BitIo>(&mut self, io: &mut C, y: usize, sources: &[&[i16]]) -> Result<()>;
}

/// The planes whose residuals plane `k` uses as context: the first plane for every later plane of its size, and the
/// second plane as well for the third (in YCoCg-R, Cg's errors follow Co's as much as Y's).
fn context_sources<P: RowCoder>(planes: &[P], k: usize) -> Vec<usize> {
    let same = |j: usize| {
        planes[j].plane().width == planes[k].plane().width && planes[j].plane().height == planes[k].plane().height
    };
    match k {
        0 => vec![],
        2 if same(0) && same(1) => vec![0, 1],
        _ if same(0) => vec![0],
        _ => vec![],
    }
}

/// Rows of residuals sent from a plane to the planes that use them at a time: fewer hand-overs between the threads
/// than one a row, while the later planes still follow closely.
pub(crate) const BATCH_ROWS: usize = 8;

/// Where decoded rows go: `sink(plane, first_row, values)` with the values of rows `first_row..` of that plane,
/// a whole number of rows. Called on the calling thread, for each plane in row order, in batches of
/// [`BATCH_ROWS`] rows taken from the planes in turn (batch 0 of every plane, then batch 1, ...), so that rows of
/// the same pixels arrive plane 0 first.
pub(crate) type RowSink<'a> = &'a mut dyn FnMut(usize, usize, &[i16]) -> Result<()>;

/// Batches of decoded rows a plane may hold, sent but not yet taken by the sink: the pipeline's memory beyond the
/// output stays a few rows per plane.
const SINK_BATCHES: usize = 2;

/// The error of a plane thread that stopped because the sink had failed (the sink's error is the one reported).
const SINK_GONE: &str = "the decoded rows' receiver stopped";

/// The sink's error when a plane's thread stopped sending rows (that plane's own error is the one reported).
const PLANE_GONE: &str = "a plane failed";

/// Codes all planes of an image, each with its own coder `ios[k]`, both directions. Planes use earlier planes'
/// residuals at the same pixels as context (see [`context_sources`]), so they are coded in a pipeline: one thread
/// per plane, each sending its rows' residuals (in batches of [`BATCH_ROWS`]) to the planes that use them, which
/// follow behind. The result does not depend on the threads' timing. With a `sink`, every plane's decoded rows are
/// handed to it as they are done (see [`RowSink`]), so the planes can be two-row rings ([`Plane::ring`]).
pub(crate) fn code_planes<C: BitIo + Send, P: RowCoder>(
    ios: Vec<C>,
    coders: Vec<P>,
    sink: Option<RowSink<'_>>,
) -> Result<(Vec<C>, Vec<Plane>)> {
    use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
    if ios.len() != coders.len() || coders.is_empty() {
        return Err(Error::value("planes", "one coder per plane"));
    }
    let mut coders = coders;
    let n = coders.len();
    let row_lens: Vec<usize> = coders.iter().map(|c| c.res_row().len()).collect();
    let heights: Vec<usize> = coders.iter().map(|c| c.plane().height).collect();
    let mut inputs: Vec<Vec<(Receiver<Vec<i16>>, usize)>> = (0..n).map(|_| Vec::new()).collect();
    let mut outputs: Vec<Vec<Sender<Vec<i16>>>> = (0..n).map(|_| Vec::new()).collect();
    for k in 0..n {
        for j in context_sources(&coders, k) {
            let (tx, rx) = channel();
            outputs[j].push(tx);
            inputs[k].push((rx, row_lens[j]));
        }
    }
    // With a sink: one bounded channel per plane for its decoded rows.
    let mut row_tx: Vec<Option<SyncSender<Vec<i16>>>> = Vec::with_capacity(n);
    let mut row_rx: Vec<Receiver<Vec<i16>>> = Vec::with_capacity(n);
    for _ in 0..n {
        if sink.is_some() {
            let (tx, rx) = sync_channel(SINK_BATCHES);
            row_tx.push(Some(tx));
            row_rx.push(rx);
        } else {
            row_tx.push(None);
        }
    }
    let mut ios = ios;
    let (results, sunk): (Vec<Result<()>>, Result<()>) = std::thread::scope(|scope| {
        let handles: Vec<_> = coders
            .iter_mut()
            .zip(ios.iter_mut())
            .zip(inputs.into_iter().zip(outputs).zip(row_tx))
            .map(|((coder, io), ((rx, tx), values_tx))| {
                scope.spawn(move || -> Result<()> {
                    let h = coder.plane().height;
                    let batch = BATCH_ROWS.min(h.max(1)) * coder.res_row().len();
                    // Each source's current batch, and where its next row starts.
                    let mut inbox: Vec<(Vec<i16>, usize)> = rx.iter().map(|_| (Vec::new(), 0)).collect();
                    let mut outbox: Vec<i16> = Vec::new();
                    let mut values: Vec<i16> = Vec::new();
                    for y in 0..h {
                        for ((r, len), (rows, at)) in rx.iter().zip(inbox.iter_mut()) {
                            if *at >= rows.len() {
                                // A source that stopped has failed: its own error is the one reported.
                                *rows = r.recv().map_err(|_| Error::format("a context plane failed"))?;
                                *at = 0;
                            }
                            if *at + len > rows.len() {
                                return Err(Error::format("a context plane failed"));
                            }
                        }
                        let mut sources: [&[i16]; 2] = [&[], &[]];
                        for (s, ((_, len), (rows, at))) in sources.iter_mut().zip(rx.iter().zip(inbox.iter())) {
                            *s = &rows[*at..*at + len];
                        }
                        coder.row(io, y, &sources[..inbox.len().min(2)])?;
                        for ((_, len), (_, at)) in rx.iter().zip(inbox.iter_mut()) {
                            *at += len;
                        }
                        let last = (y + 1) % BATCH_ROWS == 0 || y + 1 == h;
                        if !tx.is_empty() {
                            if outbox.capacity() == 0 {
                                outbox.try_reserve_exact(batch).map_err(|_| Error::OutOfMemory { bytes: 2 * batch })?;
                            }
                            outbox.extend_from_slice(coder.res_row());
                            if last {
                                let rows = std::mem::take(&mut outbox);
                                for t in &tx[1..] {
                                    // A copy for each further reader, allocated fallibly like the batch itself.
                                    let mut copy = crate::alloc::with_capacity(rows.len())?;
                                    copy.extend_from_slice(&rows);
                                    // A receiver that has failed is gone; its error is reported from its thread.
                                    let _ = t.send(copy);
                                }
                                let _ = tx[0].send(rows);
                            }
                        }
                        if let Some(vt) = &values_tx {
                            // After the context rows, so that the planes reading them never wait on the sink.
                            let w = coder.plane().width;
                            if values.capacity() == 0 {
                                let cap = BATCH_ROWS * w;
                                values.try_reserve_exact(cap).map_err(|_| Error::OutOfMemory { bytes: 2 * cap })?;
                            }
                            values.extend_from_slice(coder.plane().row(y));
                            if last {
                                vt.send(std::mem::take(&mut values)).map_err(|_| Error::format(SINK_GONE))?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        // The sink runs here, on the calling thread, while the planes decode.
        let sunk = match sink {
            Some(f) => drain(&row_rx, &heights, f),
            None => Ok(()),
        };
        drop(row_rx);
        let results = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::format("internal error: a coder thread panicked"))))
            .collect();
        (results, sunk)
    });
    // A sink that failed on its own first: the planes stopped because of it (one whose context plane stopped that
    // way says a context plane failed). Else the earliest plane's error (later planes only report that a source
    // failed).
    let plane_gone = match sunk {
        Err(Error::Format(m)) if m == PLANE_GONE => true,
        Err(e) => return Err(e),
        Ok(()) => false,
    };
    for r in results {
        match r {
            Err(Error::Format(m)) if m == SINK_GONE => {}
            r => r?,
        }
    }
    if plane_gone {
        return Err(Error::format(PLANE_GONE)); // cannot happen: a plane that stops sending has failed
    }
    Ok((ios, coders.into_iter().map(RowCoder::into_plane).collect()))
}

/// Takes the planes' batches of decoded rows in turn (see [`RowSink`]) and hands them to `sink`.
fn drain(rx: &[std::sync::mpsc::Receiver<Vec<i16>>], heights: &[usize], sink: RowSink<'_>) -> Result<()> {
    let batches: Vec<usize> = heights.iter().map(|h| h.div_ceil(BATCH_ROWS)).collect();
    for b in 0..batches.iter().copied().max().unwrap_or(0) {
        for (k, r) in rx.iter().enumerate() {
            if b < batches[k] {
                // A plane that stopped has failed: its own error is the one reported.
                let rows = r.recv().map_err(|_| Error::format(PLANE_GONE))?;
                sink(k, b * BATCH_ROWS, &rows)?;
            }
        }
    }
    Ok(())
}

/// Encodes the planes of an image (values in each plane's `lo..=hi`); returns one stream per plane.
pub fn encode_planes(planes: &[Plane]) -> Result<Vec<Vec<u8>>> {
    let ios = planes.iter().map(|p| Encoder::new(p.data.len() / 2 + 16)).collect::<Result<Vec<_>>>()?;
    // The coder takes the planes by value for the decoder's sake, hence the copy (2 bytes a pixel, small next to
    // the coding).
    let coders = planes.iter().map(|p| PlaneCoder::new(p.try_clone()?)).collect::<Result<Vec<_>>>()?;
    let (ios, _) = code_planes(ios, coders, None)?;
    ios.into_iter().map(Encoder::finish).collect()
}

/// Decodes the planes of an image from one stream each; `specs` gives each plane's `(width, height, lo, hi)`.
pub fn decode_planes(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)]) -> Result<Vec<Plane>> {
    whole_planes(specs, |sink| decode_rows(streams, specs, sink))
}

/// The whole planes of `specs` from a row decoder (`decode_rows` of QAC or QAC2), each plane's rows appended as they
/// arrive: for the tests and the fuzz targets, which compare planes; `decode` writes rows straight into the image.
pub(crate) fn whole_planes(
    specs: &[(usize, usize, i32, i32)],
    decode: impl FnOnce(RowSink<'_>) -> Result<()>,
) -> Result<Vec<Plane>> {
    let mut planes = Vec::with_capacity(specs.len());
    for &(width, height, lo, hi) in specs {
        let n = width.checked_mul(height).ok_or_else(|| Error::format("plane size overflows"))?;
        planes.push(Plane { width, height, lo, hi, data: crate::alloc::with_capacity::<i16>(n)? });
    }
    decode(&mut |k, _, rows| {
        planes.get_mut(k).ok_or_else(|| Error::format("plane count mismatch"))?.data.extend_from_slice(rows);
        Ok(())
    })?;
    Ok(planes)
}

/// Decodes the planes of an image row by row into `sink` (see [`RowSink`]), keeping two rows of each plane: the
/// memory beyond what the sink keeps is a few rows per plane.
pub fn decode_rows(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)], sink: RowSink<'_>) -> Result<()> {
    if streams.len() != specs.len() {
        return Err(Error::format("stream count does not match the plane count"));
    }
    let ios = streams.iter().map(|s| Decoder::new(s)).collect::<Result<Vec<_>>>()?;
    let coders =
        specs.iter().map(|&(w, h, lo, hi)| PlaneCoder::new(Plane::ring(w, h, lo, hi)?)).collect::<Result<Vec<_>>>()?;
    let (ios, _) = code_planes(ios, coders, Some(sink))?;
    for io in ios {
        io.finish()?;
    }
    Ok(())
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
    fn model_update_matches_its_definition() {
        for seen in 0..16u8 {
            for x in 0..=65535u16 {
                for bit in 0..2 {
                    let mut m = Model { fast: x, slow: x, seen };
                    m.update(bit);
                    let k = SLOW_SHIFT[seen as usize];
                    let (f, s) = if bit == 0 {
                        (x + ((65535 - x) >> 5), x + ((65535 - x) >> k))
                    } else {
                        (x - (x >> 5), x - (x >> k))
                    };
                    assert_eq!((m.fast, m.slow), (f, s), "{seen} {x} {bit}");
                }
            }
        }
    }

    #[test]
    fn model_probability_stays_in_range() {
        let (mut lo, mut hi) = (u32::MAX, 0);
        let mut s = 7u64;
        for run in 0..200 {
            let mut m = Model::NEW;
            for i in 0..5000 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // All zeros, all ones, then random sequences with a drifting bias.
                let bit = match run {
                    0 => 0,
                    1 => 1,
                    _ => ((s >> 40) % 100 < (run as u64 * 7 + i as u64 / 50) % 101) as u32,
                };
                m.update(bit);
                lo = lo.min(m.p0());
                hi = hi.max(m.p0());
            }
        }
        assert!(lo >= 79 && hi <= 65456, "{lo} {hi}");
        assert_eq!((lo, hi), (79, 65456));
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
