//! The second QAC model (coder 3, "QAC2"): a blend of predictors weighted by their recent local errors, and
//! contexts from those errors, coded with the binary range coder of `entropy`.
//!
//! Prediction is a self-correcting weighted predictor in the manner of JPEG XL's: five sub-predictors in 1/8 units
//! (the gradients `W + NE - N` and `W + N - NW`, and N or W corrected by the neighbours' signed errors), averaged
//! with weights that fall with each one's summed error over the five causal neighbours (for the third plane, Cg
//! after YCoCg-R, plus the second plane's errors at the same pixel: Co and Cg share their edges), and clamped to the
//! range of W, N and NE unless the neighbours' errors agree in sign. A bias correction per context (LOCO-I's C[Q])
//! follows the mean error in 1/8 units, and the third plane adds a gain on the second's residual. All integer
//! arithmetic (a division table), so a stream decodes the same everywhere and for any thread count.
//!
//! The residual is binarised as in QAC (zero flag, sign, Elias-gamma length, mantissa); the zero flag and the length
//! bits mix two adaptive models: one in a bucket of the neighbours' true errors and gradients (plus, for the later
//! planes, the earlier planes' residuals at the same pixel), the other in a bucket of the best sub-predictor's error
//! sum (and, for the zero flag, how far the prediction lies from the index it rounds to). The sign's context is that
//! rounding fraction, the W and N error signs and the sign of the first plane's residual at the same pixel.
//!
//! The decoder treats the stream as hostile as QAC does (see `entropy`): bounded loops, no reads out of bounds,
//! residuals outside the plane's range are `Error::Format`, buffers sized by the plane only.

use crate::codec::entropy::{code_planes, whole_planes, BitIo, Decoder, Encoder, Model, RowCoder, RowSink};
use crate::codec::mix::{squash, stretch, Apm, Mixer};
use crate::codec::predict::Plane;
use crate::error::{Error, Result};

/// Extra bits of the predictions: they are kept in 1/8 of an index.
const PRED_BITS: u32 = 3;
/// Longest Elias-gamma length: magnitudes below `2^MAX_LEN`.
const MAX_LEN: usize = 17;
/// Buckets of the first context (the neighbours' errors).
const B1: usize = 24;
/// Buckets of the second context (the best sub-predictor's error sum).
const B2: usize = 16;
/// Rounding-fraction classes of the prediction (how far it lies from the index it rounds to).
const FRAC: usize = 5;
/// Bias-correction contexts: the signs of the W, N, NW errors (27) by eight activity buckets.
const BIAS_CTX: usize = 27 * 8;

/// `2^24 / (i + 1)`, JPEG XL's division table.
static DIV: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = (1 << 24) / (i as u32 + 1);
        i += 1;
    }
    t
};

/// The weight of a sub-predictor whose summed error is `x`: about `max_weight * 2^24 / (x + 1)`, with 6 significant
/// bits of `x`.
#[inline(always)]
const fn error_weight_of(x: u32, max_weight: u32) -> u32 {
    let lz = (x + 1).leading_zeros();
    let shift = (31 - lz).saturating_sub(5);
    4 + ((max_weight * DIV[(x >> shift) as usize & 63]) >> shift)
}

/// Error sums below this take their weight from a table.
const WEIGHT_TABLE: usize = 1024;

const fn weight_table(max_weight: u32) -> [u32; WEIGHT_TABLE] {
    let mut t = [0u32; WEIGHT_TABLE];
    let mut i = 0;
    while i < WEIGHT_TABLE {
        t[i] = error_weight_of(i as u32, max_weight);
        i += 1;
    }
    t
}

static WEIGHT13: [u32; WEIGHT_TABLE] = weight_table(13);
static WEIGHT12: [u32; WEIGHT_TABLE] = weight_table(12);
static WEIGHT_LMS: [u32; WEIGHT_TABLE] = weight_table(LMS_WEIGHT);

/// [`error_weight_of`] by table for the usual sums (the first sub-predictor's maximum weight is 13, the others' 12).
#[inline(always)]
fn error_weight(x: u32, first: bool) -> u32 {
    let t = if first { &WEIGHT13 } else { &WEIGHT12 };
    match t.get(x as usize) {
        Some(&w) => w,
        None => error_weight_of(x, if first { 13 } else { 12 }),
    }
}

/// Two buckets per octave of `t`, at most `n - 1`.
#[inline(always)]
fn bucket(t: u32, n: usize) -> usize {
    if t < 2 {
        return t as usize;
    }
    let l = 32 - t.leading_zeros();
    let b = 2 * l - 2 + ((t >> (l - 2)) & 1);
    (b as usize).min(n - 1)
}

/// The weighted predictor's correction factors, in 1/32 (JPEG XL's defaults are 16, 10 and 7, 7, 7; smaller
/// ones measure better here, where the bias correction follows the mean error).
#[derive(Clone, Copy)]
struct WpParams {
    p1: i32,
    p2: i32,
    p3: [i32; 3],
}

const WP_DEFAULT: WpParams = WpParams { p1: 4, p2: 3, p3: [2, 2, 2] };

/// Bias cancellation in 1/8 units: the running mean of the true errors per context, as a correction `c` with a
/// remainder `b` over the count `n` (LOCO-I's update, without divisions).
#[derive(Clone, Copy, Default)]
struct Bias {
    b: i32,
    n: i32,
    c: i32,
}

impl Bias {
    #[inline(always)]
    fn update(&mut self, e: i32) {
        self.b += e;
        self.n += 1;
        if self.n >= 512 {
            self.b >>= 1;
            self.n >>= 1;
        }
        // Without branches (which one holds is data-dependent); n >= 1, so at most one of the two holds.
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
    bias: [Bias; BIAS_CTX],
    zero1: [Model; B1],
    zero2: [[Model; FRAC]; B2],
    sign: [Model; 8 * 27],
    len1: [[Model; MAX_LEN]; B1],
    len2: [[Model; MAX_LEN]; B2],
    mant_hi: [[Model; MAX_LEN]; B1],
    mant_lo: [[Model; MAX_LEN]; MAX_LEN],
}

impl Models {
    fn new() -> Box<Self> {
        Box::new(Models {
            bias: [Bias::default(); BIAS_CTX],
            zero1: [Model::NEW; B1],
            zero2: [[Model::NEW; FRAC]; B2],
            sign: [Model::NEW; 8 * 27],
            len1: [[Model::NEW; MAX_LEN]; B1],
            len2: [[Model::NEW; MAX_LEN]; B2],
            mant_hi: [[Model::NEW; MAX_LEN]; B1],
            mant_lo: [[Model::NEW; MAX_LEN]; MAX_LEN],
        })
    }
}

/// Mixer inputs of QAC3: four models and a bias.
const NIN: usize = 5;
/// Contexts of QAC3's third model: the W and N true errors at eight levels each.
const C3: usize = 64;
/// Contexts of QAC3's fourth model: the sub-predictors' spread by the context planes' residuals.
const C4: usize = 16 * 4;
/// The mixers' initial weights (1/65536 each, about 0.3).
const W0: i32 = 20000;

/// QAC3's extra models: two more contexts for the zero flag and the length bits, three more for the sign, the mixers'
/// weights, the APMs.
struct Mix3 {
    z3: [Model; C3],
    z4: [Model; C4],
    l3: [[Model; MAX_LEN]; C3 * AGREE],
    l4: [[Model; MAX_LEN]; C4 * AGREE],
    zmix: [Mixer<NIN>; B2],
    lmix: [[Mixer<NIN>; MAX_LEN]; 6 * AGREE],
    zapm: [Apm; B1 * FRAC],
    lapm: [[Apm; MAX_LEN]; B1],
    h2: [[Model; MAX_LEN]; B2],
    h3: [[Model; MAX_LEN]; C3 * AGREE],
    h4: [[Model; MAX_LEN]; C4 * AGREE],
    hmix: [[Mixer<NIN>; MAX_LEN]; 6 * AGREE],
    hapm: [[Apm; MAX_LEN]; B1],
    m2: [[[Model; 2]; MAX_LEN]; B1],
    zapm2: [Apm; C4],
    lapm2: [[Apm; MAX_LEN]; C4],
    hapm2: [[Apm; MAX_LEN]; C4],
    sg2: [Model; S2],
    sg3: [Model; S3],
    sg4: [Model; S4],
    smix: [Mixer<NIN>; 8],
    sapm: [Apm; 8 * 27],
    sapm2: [Apm; C3],
}

/// Levels of [`lv`], and the sizes of QAC3's sign models.
const LV: usize = 14;
const S2: usize = LV * LV;
const S3: usize = 81 * 3;
const S4: usize = LV * LV * 3;

/// The signed level of a sub-predictor's offset `d` from the rounded prediction (1/8 units): 7 per sign.
#[inline(always)]
fn lv(d: i32) -> usize {
    (d < 0) as usize * 7 + bucket(d.unsigned_abs() >> 1, 7)
}

impl Mix3 {
    fn new() -> Box<Self> {
        Box::new(Mix3 {
            z3: [Model::NEW; C3],
            z4: [Model::NEW; C4],
            l3: [[Model::NEW; MAX_LEN]; C3 * AGREE],
            l4: [[Model::NEW; MAX_LEN]; C4 * AGREE],
            zmix: [Mixer::new(W0); B2],
            lmix: [[Mixer::new(W0); MAX_LEN]; 6 * AGREE],
            zapm: [Apm::NEW; B1 * FRAC],
            lapm: [[Apm::NEW; MAX_LEN]; B1],
            h2: [[Model::NEW; MAX_LEN]; B2],
            h3: [[Model::NEW; MAX_LEN]; C3 * AGREE],
            h4: [[Model::NEW; MAX_LEN]; C4 * AGREE],
            hmix: [[Mixer::new(W0); MAX_LEN]; 6 * AGREE],
            hapm: [[Apm::NEW; MAX_LEN]; B1],
            m2: [[[Model::NEW; 2]; MAX_LEN]; B1],
            zapm2: [Apm::NEW; C4],
            lapm2: [[Apm::NEW; MAX_LEN]; C4],
            hapm2: [[Apm::NEW; MAX_LEN]; C4],
            sg2: [Model::NEW; S2],
            sg3: [Model::NEW; S3],
            sg4: [Model::NEW; S4],
            smix: [Mixer::new(W0); 8],
            sapm: [Apm::NEW; 8 * 27],
            sapm2: [Apm::NEW; C3],
        })
    }
}

const LR: i32 = 4;
const APM_RATE: u32 = 7;

/// Codes a bit with QAC3's mix of four models, refined by two APMs in different contexts: the coded probability is
/// a quarter the mixer's, a quarter the first APM's and half the second's.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mix_bit<C: BitIo>(
    io: &mut C,
    ms: [&mut Model; 4],
    mx: &mut Mixer<NIN>,
    apm: &mut Apm,
    apm2: &mut Apm,
    bit: u32,
) -> u32 {
    let x = [stretch(ms[0].p0()), stretch(ms[1].p0()), stretch(ms[2].p0()), stretch(ms[3].p0()), 256];
    let d = mx.dot(&x);
    let pm = squash(d);
    let (pa, ai) = apm.p(d);
    let (pa2, ai2) = apm2.p(d);
    let p = (pm + pa + 2 * pa2 + 2) >> 2;
    let b = io.code(p, bit);
    for m in ms {
        m.update(b);
    }
    let target = if b == 0 { 65535 } else { 0 };
    mx.update(&x, (target - pm as i32) >> 4, LR);
    apm.update(ai, b, APM_RATE);
    apm2.update(ai2, b, APM_RATE);
    b
}

/// The extra contexts of QAC3's models.
#[derive(Clone, Copy)]
struct Ctx3 {
    c3: usize,
    c4: usize,
    zm: usize,
    lm: usize,
    za: usize,
    s2: usize,
    s3: usize,
    s4: usize,
    sm: usize,
    dir: i32,
    dir2: i32,
}

/// Levels of [`agreement`].
const AGREE: usize = 5;

/// How far a sub-predictor's offset `d` from the rounded prediction (1/8 units) agrees with the residual's sign:
/// 0 within half a unit, 1..=2 agreeing (half a unit, a unit or more), 3..=4 opposed.
#[inline(always)]
fn agreement(d: i32, neg: u32) -> usize {
    let strength = bucket(d.unsigned_abs() >> 2, 3);
    if strength == 0 {
        0
    } else if (d < 0) == (neg == 1) {
        strength
    } else {
        strength + 2
    }
}

/// Padding of the per-column state rows: index `x + PAD` holds column `x`, so `x - 2 ..= x + 1` are in bounds.
const PAD: usize = 2;
/// Sub-predictors (QAC3 adds one).
const NSUB: usize = 5;
/// Inputs of QAC3's LMS sub-predictors: twelve neighbours' differences from W and the four neighbours' true errors.
const NLMS: usize = 16;
/// The LMS sub-predictors' maximum weight in the blend (the others' are 13 and 12).
const LMS_WEIGHT: u32 = 24;
/// Added to the LMS inputs' squared norm.
const LMS_EPS: i64 = 16;
/// The two LMS sub-predictors' step sizes, as `2^-mu`: a fast one and a slow one.
const LMS_MU: [i32; 2] = [3, 7];
/// Lanes of the per-pixel error vectors: `NSUB` padded to 8, so the sums vectorise.
const LANES: usize = 8;
/// Sub-predictor errors are kept below this (sums of 13 of them stay within u16).
const SE_MAX: u16 = 4095;
const GRADW: u32 = 6;
const SIDEW: u32 = 2;
const LSW: u16 = 8;

/// Codes one plane with the weighted predictor, row by row, both directions.
pub(crate) struct PlaneCoder<const V3: bool> {
    plane: Plane,
    m: Box<Models>,
    x: Box<Mix3>,
    wp: WpParams,
    /// True errors (prediction minus value, 1/8 units) of the previous and the current row, padded.
    te_prev: Vec<i32>,
    te_cur: Vec<i32>,
    /// The sub-predictors' absolute errors (whole units, rounded), previous and current row, padded.
    se_prev: Vec<[u16; LANES]>,
    se_cur: Vec<[u16; LANES]>,
    /// The residuals of the current row.
    res: Vec<i16>,
    /// Twice the context planes' residual magnitudes on the current row.
    side: Vec<u32>,
    /// The first context plane's residuals on the current row (zeros for none).
    luma: Vec<i32>,
    has_luma: bool,
    /// The last context plane's sub-predictor errors on the current row.
    luma_se: Vec<[u16; LANES]>,
    /// The weight of `luma_se` in the sub-predictors' error sums.
    lsw: u16,
    /// Whether the rows this plane sends carry its sub-predictor errors too (the second plane, which the third reads).
    send_se: bool,
    /// The last context plane's residuals on the current row.
    prev_e: Vec<i32>,
    gain: i32,
    /// QAC3's LMS weights (1/65536).
    lms: [[i32; NLMS]; 2],
    /// QAC3: row `y - 2` (copied, as the plane may keep two rows only).
    nn: Vec<i16>,
}

impl<const V3: bool> PlaneCoder<V3> {
    pub(crate) fn new(plane: Plane) -> Result<Self> {
        let w = plane.width;
        if !plane.layout_ok() || plane.hi < plane.lo || w == 0 {
            return Err(Error::value("plane", "size mismatch"));
        }
        let padded = w.checked_add(2 * PAD).ok_or_else(|| Error::value("plane", "too wide"))?;
        Ok(PlaneCoder {
            m: Models::new(),
            x: Mix3::new(),
            wp: WP_DEFAULT,
            te_prev: crate::alloc::zeroed(padded)?,
            te_cur: crate::alloc::zeroed(padded)?,
            se_prev: zeroed_lanes(padded)?,
            se_cur: zeroed_lanes(padded)?,
            res: crate::alloc::zeroed(w.checked_mul(1 + LANES).ok_or_else(|| Error::value("plane", "too wide"))?)?,
            side: crate::alloc::zeroed(w)?,
            luma: crate::alloc::zeroed(w)?,
            luma_se: zeroed_lanes(w)?,
            has_luma: false,
            lsw: 0,
            send_se: false,
            prev_e: crate::alloc::zeroed(w)?,
            gain: 0,
            lms: [[0; NLMS]; 2],
            nn: crate::alloc::zeroed(if V3 { w } else { 0 })?,
            plane,
        })
    }
}

fn zeroed_lanes(n: usize) -> Result<Vec<[u16; LANES]>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory { bytes: n * 2 * LANES })?;
    v.resize(n, [0; LANES]);
    Ok(v)
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

/// Codes one residual `e` (encoder) or decodes it (decoder, `e` ignored).
#[inline(always)]
fn code_residual<C: BitIo>(
    io: &mut C,
    m: &mut Models,
    b1: usize,
    b2: usize,
    frac: usize,
    sctx: usize,
    e: i32,
) -> Result<i32> {
    let (b1, b2, frac) = (b1.min(B1 - 1), b2.min(B2 - 1), frac.min(FRAC - 1));
    let zero = io.bit2(&mut m.zero1[b1], &mut m.zero2[b2][frac], (e == 0) as u32);
    if zero == 1 {
        return Ok(0);
    }
    let neg = io.bit(&mut m.sign[sctx], (e < 0) as u32);
    let mag = e.unsigned_abs();
    let n = if C::ENCODER { (32 - mag.leading_zeros()) as usize } else { 0 };
    let mut len = 1;
    while len < MAX_LEN {
        let more = io.bit2(&mut m.len1[b1][len - 1], &mut m.len2[b2][len - 1], (len < n) as u32);
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
        let j = len - 2;
        v = (v << 1) | io.bit(&mut m.mant_hi[b1][len], (mag >> j) & 1);
        let lo = &mut m.mant_lo[len];
        for j in (0..len - 2).rev() {
            v = (v << 1) | io.bit(&mut lo[j], (mag >> j) & 1);
        }
    }
    let v = v as i32;
    Ok(if neg == 1 { -v } else { v })
}

/// [`code_residual`] with QAC3's mixing for the zero flag and the length bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn code_residual3<C: BitIo>(
    io: &mut C,
    m: &mut Models,
    x: &mut Mix3,
    b1: usize,
    b2: usize,
    frac: usize,
    sctx: usize,
    c: Ctx3,
    e: i32,
) -> Result<i32> {
    let (b1, b2, frac) = (b1.min(B1 - 1), b2.min(B2 - 1), frac.min(FRAC - 1));
    let (c3, c4) = (c.c3 & (C3 - 1), c.c4.min(C4 - 1));
    let zero = mix_bit(
        io,
        [&mut m.zero1[b1], &mut m.zero2[b2][frac], &mut x.z3[c3], &mut x.z4[c4]],
        &mut x.zmix[c.zm.min(B2 - 1)],
        &mut x.zapm[c.za.min(B1 * FRAC - 1)],
        &mut x.zapm2[c4],
        (e == 0) as u32,
    );
    if zero == 1 {
        return Ok(0);
    }
    let sctx = sctx.min(8 * 27 - 1);
    let neg = mix_bit(
        io,
        [&mut m.sign[sctx], &mut x.sg2[c.s2.min(S2 - 1)], &mut x.sg3[c.s3.min(S3 - 1)], &mut x.sg4[c.s4.min(S4 - 1)]],
        &mut x.smix[c.sm & 7],
        &mut x.sapm[sctx],
        &mut x.sapm2[c3],
        (e < 0) as u32,
    );
    let mag = e.unsigned_abs();
    let n = if C::ENCODER { (32 - mag.leading_zeros()) as usize } else { 0 };
    // Whether the residual's sign agrees with the LMS sub-predictor's offset from the prediction.
    let agree = agreement(c.dir, neg);
    let lm = c.lm.min(5) * AGREE + agree;
    let agree2 = agreement(c.dir2, neg);
    let mut len = 1;
    while len < MAX_LEN {
        let k = len - 1;
        let more = mix_bit(
            io,
            [
                &mut m.len1[b1][k],
                &mut m.len2[b2][k],
                &mut x.l3[c3 * AGREE + agree2][k],
                &mut x.l4[c4 * AGREE + agree][k],
            ],
            &mut x.lmix[lm][k],
            &mut x.lapm[b1][k],
            &mut x.lapm2[c4][k],
            (len < n) as u32,
        );
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
        let j = len - 2;
        let k = len - 1;
        let hb = mix_bit(
            io,
            [
                &mut m.mant_hi[b1][len],
                &mut x.h2[b2][k],
                &mut x.h3[c3 * AGREE + agree2][k],
                &mut x.h4[c4 * AGREE + agree][k],
            ],
            &mut x.hmix[lm][k],
            &mut x.hapm[b1][k],
            &mut x.hapm2[c4][k],
            (mag >> j) & 1,
        );
        v = (v << 1) | hb;
        let mut rest = len - 2;
        if len >= 3 {
            let j = len - 3;
            v = (v << 1) | io.bit(&mut x.m2[b1][k][hb as usize], (mag >> j) & 1);
            rest -= 1;
        }
        let lo = &mut m.mant_lo[len];
        for j in (0..rest).rev() {
            v = (v << 1) | io.bit(&mut lo[j], (mag >> j) & 1);
        }
    }
    let v = v as i32;
    Ok(if neg == 1 { -v } else { v })
}

/// Eight levels of a true error's magnitude (1/8 units): 0, 1, 2, 3, 4..5, 6..7, 8..11, 12 and more whole units.
#[inline(always)]
fn err_level(t: i32) -> usize {
    bucket(t.unsigned_abs() >> PRED_BITS, 8)
}

#[inline(always)]
fn sgn3(v: i32) -> usize {
    (v.signum() + 1) as usize
}

impl<const V3: bool> PlaneCoder<V3> {
    /// Codes row `y`: `side` holds twice the context planes' residual magnitudes.
    #[inline(always)]
    fn row_impl<C: BitIo>(&mut self, io: &mut C, y: usize) -> Result<()> {
        let (w, lo, hi) = (self.plane.width, self.plane.lo, self.plane.hi);
        let range = hi - lo + 1;
        let half = range / 2;
        let p = RowParams { lo, hi, range, emin: -half, emax: range - 1 - half };
        let wp = self.wp;
        let m = &mut *self.m;
        let xm = &mut *self.x;
        std::mem::swap(&mut self.te_prev, &mut self.te_cur);
        std::mem::swap(&mut self.se_prev, &mut self.se_cur);
        let (te_prev, te_cur) = (&self.te_prev[..w + 2 * PAD], &mut self.te_cur[..w + 2 * PAD]);
        let (se_prev, se_cur) = (&self.se_prev[..w + 2 * PAD], &mut self.se_cur[..w + 2 * PAD]);
        // The padding of the current row (columns -2, -1) reads as zero errors.
        te_cur[0] = 0;
        te_cur[1] = 0;
        se_cur[0] = [0; LANES];
        se_cur[1] = [0; LANES];
        let (up, cur) = self.plane.up_and_row(y);
        let side = &self.side[..w];
        let (res, res_se) = self.res.split_at_mut(w);
        let send_se = self.send_se;
        let luma_se = &self.luma_se[..w];
        let lsw = self.lsw;
        let prev_e = &self.prev_e[..w];
        let mut gain = self.gain;
        let mut lms = self.lms;
        let nn = &mut self.nn[..if V3 { w } else { 0 }];
        let ns = if V3 { NSUB + 2 } else { NSUB };
        let luma = &self.luma[..w];
        let first = lo.max(0).min(hi);
        for x in 0..w {
            // Neighbours, with the edge rules: first row all W; first column W = NW = N; last column NE = N.
            let (vw, vn, vnw, vne) = if y == 0 {
                let a = if x > 0 { cur[x - 1] as i32 } else { first };
                (a, a, a, a)
            } else {
                let n = up[x] as i32;
                let a = if x > 0 { cur[x - 1] as i32 } else { n };
                let nw = if x > 0 { up[x - 1] as i32 } else { n };
                let ne = if x + 1 < w { up[x + 1] as i32 } else { n };
                (a, n, nw, ne)
            };
            let i = x + PAD;
            let (tw, tn, tnw, tne) = (te_cur[i - 1], te_prev[i], te_prev[i - 1], te_prev[i + 1]);
            let (sw, sww, sn, snw, sne) = (se_cur[i - 1], se_cur[i - 2], se_prev[i], se_prev[i - 1], se_prev[i + 1]);
            let (w8, n8, ne8) = (vw << PRED_BITS, vn << PRED_BITS, vne << PRED_BITS);
            // QAC3: two more sub-predictors, normalised LMS (fast, slow) on the neighbours' differences from W and errors.
            let mut dl = [0i32; NLMS];
            let lms8 = if V3 {
                let vww = if x >= 2 { cur[x - 2] as i32 } else { vw };
                let (vnww, vnee) =
                    if y > 0 { (up[x.saturating_sub(2)] as i32, up[(x + 2).min(w - 1)] as i32) } else { (vw, vw) };
                let (vnn, vnnw, vnne, vnnww, vnnee) = if y >= 2 {
                    (
                        nn[x] as i32,
                        nn[x.saturating_sub(1)] as i32,
                        nn[(x + 1).min(w - 1)] as i32,
                        nn[x.saturating_sub(2)] as i32,
                        nn[(x + 2).min(w - 1)] as i32,
                    )
                } else {
                    (vn, vnw, vne, vnww, vnee)
                };
                let vwww = if x >= 3 { cur[x - 3] as i32 } else { vww };
                dl = [
                    vn - vw,
                    vnw - vw,
                    vne - vw,
                    vww - vw,
                    vnww - vw,
                    vnee - vw,
                    vnn - vw,
                    vnnw - vw,
                    vnne - vw,
                    vnnww - vw,
                    vnnee - vw,
                    vwww - vw,
                    tw >> PRED_BITS,
                    tn >> PRED_BITS,
                    tnw >> PRED_BITS,
                    tne >> PRED_BITS,
                ];
                let mut acc = [0i64; 2];
                for j in 0..2 {
                    for k in 0..NLMS {
                        acc[j] += lms[j][k] as i64 * dl[k] as i64;
                    }
                }
                let lim =
                    |a: i64| (w8 as i64 + (a >> 13)).clamp((lo << PRED_BITS) as i64, (hi << PRED_BITS) as i64) as i32;
                [lim(acc[0]), lim(acc[1])]
            } else {
                [0, 0]
            };
            let sub = [
                w8 + ne8 - n8,
                n8 - (((tn + tw + tne) * wp.p1) >> 5),
                w8 - (((tn + tw + tnw) * wp.p2) >> 5),
                n8 - ((tnw * wp.p3[0] + tn * wp.p3[1] + tne * wp.p3[2]) >> 5),
                w8 + n8 - (vnw << PRED_BITS),
                lms8[0],
                lms8[1],
            ];
            let mut sums = [0u16; LANES];
            let lse = luma_se[x];
            for k in 0..LANES {
                sums[k] = sw[k] + sww[k] + sn[k] + snw[k] + sne[k] + lsw * lse[k];
            }
            let mut wt = [0u32; NSUB + 2];
            let mut errmin = u32::MAX;
            let (mut smin, mut smax) = (i32::MAX, i32::MIN);
            for k in 0..ns {
                let s = sums[k] as u32;
                errmin = errmin.min(s);
                wt[k] = if k < NSUB {
                    error_weight(s, k == 0)
                } else {
                    WEIGHT_LMS.get(s as usize).copied().unwrap_or_else(|| error_weight_of(s, LMS_WEIGHT))
                };
                if V3 {
                    smin = smin.min(sub[k]);
                    smax = smax.max(sub[k]);
                }
            }
            let total: u32 = wt.iter().sum();
            let shift = (31 - total.leading_zeros()).saturating_sub(4);
            let mut ws = 0;
            let mut acc: i64 = 0;
            for k in 0..ns {
                let wk = wt[k] >> shift;
                ws += wk;
                acc += sub[k] as i64 * wk as i64;
            }
            // ws is within 1..=31: the weights' sum below 2^(shift + 5) before the shift.
            let acc = acc + (ws as i64 >> 1) - 1;
            let mut pred8 = ((acc * DIV[(ws as usize).wrapping_sub(1) & 63] as i64) >> 24) as i32;
            if ((tn ^ tw) | (tn ^ tnw)) <= 0 {
                let mx = w8.max(n8).max(ne8);
                let mn = w8.min(n8).min(ne8);
                pred8 = pred8.clamp(mn, mx);
            }
            // Bias correction per context, and on the third plane (Cg) a gain on the second's (Co's) residual,
            // adapted by sign-sign LMS.
            let act = ((tw.unsigned_abs() + tn.unsigned_abs()) >> PRED_BITS) + side[x];
            let ey = luma[x];
            let third = if self.has_luma { sgn3(ey) } else { sgn3(tnw) };
            let bctx = (sgn3(tw) * 9 + sgn3(tn) * 3 + third) * 8 + bucket(act, 8);
            let ec = if lsw > 0 { prev_e[x] } else { 0 };
            let pred8 = pred8 + m.bias[bctx].c + ((gain * ec) >> 3);
            let pred = ((pred8 + (1 << (PRED_BITS - 1))) >> PRED_BITS).clamp(lo, hi);
            let fr = (pred8 - (pred << PRED_BITS)).clamp(-4, 3);
            let frac = fr.unsigned_abs().min(4) as usize;
            // Contexts.
            let t1 = ((2 * (tw.unsigned_abs() + tn.unsigned_abs()) + tnw.unsigned_abs() + tne.unsigned_abs())
                >> PRED_BITS)
                + side[x]
                + ((((vw - vnw).unsigned_abs() + (vn - vnw).unsigned_abs() + (vn - vne).unsigned_abs()) * GRADW) >> 2);
            let b1 = bucket(t1, B1);
            let b2 = bucket(errmin, B2);
            let sctx = ((fr + 4) as usize * 9 + sgn3(tw) * 3 + sgn3(tn)) * 3 + sgn3(ey);
            let c3 = if V3 {
                let p8 = pred << PRED_BITS;
                let spread = ((smax - smin) as u32) >> PRED_BITS;
                let sidel = bucket(side[x], 8) >> 1;
                Ctx3 {
                    c3: err_level(tw) * 8 + err_level(tn),
                    c4: bucket(spread, 16) * 4 + sidel,
                    zm: b2,
                    lm: bucket(errmin, 12) >> 1,
                    za: b1 * FRAC + frac,
                    s2: lv(sub[5] - p8) * LV + lv(sub[0] - p8),
                    s3: (((sgn3(tw) * 3 + sgn3(tn)) * 3 + sgn3(tnw)) * 3 + sgn3(tne)) * 3 + sgn3(ey),
                    s4: (lv(sub[6] - p8) * LV + lv(sub[4] - p8)) * 3 + sgn3(ec),
                    sm: (fr + 4) as usize,
                    dir: sub[5] - p8,
                    dir2: sub[6] - p8,
                }
            } else {
                Ctx3 { c3: 0, c4: 0, zm: 0, lm: 0, za: 0, s2: 0, s3: 0, s4: 0, sm: 0, dir: 0, dir2: 0 }
            };
            let v = &mut cur[x];
            let e = if C::ENCODER {
                let mut e = *v as i32 - pred;
                if e < p.emin {
                    e += p.range;
                } else if e > p.emax {
                    e -= p.range;
                }
                if V3 {
                    code_residual3(io, m, xm, b1, b2, frac, sctx, c3, e)?;
                } else {
                    code_residual(io, m, b1, b2, frac, sctx, e)?;
                }
                e
            } else {
                let e = if V3 {
                    code_residual3(io, m, xm, b1, b2, frac, sctx, c3, 0)?
                } else {
                    code_residual(io, m, b1, b2, frac, sctx, 0)?
                };
                if e < p.emin || e > p.emax {
                    return Err(Error::format("entropy stream: residual out of the plane's range"));
                }
                let mut val = pred + e;
                if val < p.lo {
                    val += p.range;
                } else if val > p.hi {
                    val -= p.range;
                }
                *v = val as i16;
                e
            };
            res[x] = e as i16;
            let val8 = (*v as i32) << PRED_BITS;
            let te = pred8 - val8;
            te_cur[i] = te;
            m.bias[bctx].update(-te);
            gain = (gain - (te.signum() * ec.signum())).clamp(-128, 128);
            let mut se = [0u16; LANES];
            if V3 {
                let mut norm: i64 = LMS_EPS;
                for k in 0..NLMS {
                    norm += dl[k] as i64 * dl[k] as i64;
                }
                for j in 0..2 {
                    let e8 = (val8 - lms8[j]) as i64;
                    let g = (e8 << 24) / norm;
                    let sh = 11 + LMS_MU[j];
                    for k in 0..NLMS {
                        lms[j][k] = (lms[j][k] as i64 + ((g * dl[k] as i64) >> sh)).clamp(-(1 << 20), 1 << 20) as i32;
                    }
                }
            }
            for k in 0..ns {
                se[k] =
                    (((sub[k] - val8).unsigned_abs() + (1 << (PRED_BITS - 1))) >> PRED_BITS).min(SE_MAX as u32) as u16;
            }
            se_cur[i] = se;
            if send_se {
                for k in 0..LANES {
                    res_se[x * LANES + k] = se[k] as i16;
                }
            }
        }
        self.gain = gain;
        self.lms = lms;
        if V3 && y >= 1 {
            nn.copy_from_slice(&up[..w]);
        }
        if io.overrun() {
            return Err(Error::format("entropy stream ends early (truncated)"));
        }
        Ok(())
    }
}

impl<const V3: bool> RowCoder for PlaneCoder<V3> {
    fn plane(&self) -> &Plane {
        &self.plane
    }

    fn into_plane(self) -> Plane {
        self.plane
    }

    fn res_row(&self) -> &[i16] {
        if self.send_se {
            &self.res
        } else {
            &self.res[..self.plane.width]
        }
    }

    fn row<C: BitIo>(&mut self, io: &mut C, y: usize, sources: &[&[i16]]) -> Result<()> {
        let w = self.plane.width;
        if y >= self.plane.height {
            return Err(Error::value("plane", "row out of range"));
        }
        self.side.iter_mut().for_each(|v| *v = 0);
        self.has_luma = !sources.is_empty();
        self.lsw = if sources.len() >= 2 { LSW } else { 0 };
        for row in sources {
            if row.len() != w && row.len() != w * (1 + LANES) {
                return Err(Error::value("plane", "side row size mismatch"));
            }
        }
        match sources.first() {
            Some(r) => {
                self.luma.iter_mut().zip(r.iter()).for_each(|(v, &e)| *v = e as i32);
                let r = sources.last().unwrap_or(r);
                self.prev_e.iter_mut().zip(r.iter()).for_each(|(v, &e)| *v = e as i32);
                if self.lsw > 0 {
                    if r.len() != w * (1 + LANES) {
                        return Err(Error::value("plane", "the second plane sent no sub-predictor errors"));
                    }
                    for (v, e) in self.luma_se.iter_mut().zip(r[w..].chunks_exact(LANES)) {
                        for k in 0..LANES {
                            v[k] = e[k] as u16;
                        }
                    }
                }
            }
            _ => {
                self.luma.iter_mut().for_each(|v| *v = 0);
                self.luma_se.iter_mut().for_each(|v| *v = [0; LANES]);
            }
        }
        for row in sources {
            for (v, e) in self.side.iter_mut().zip(row[..w].iter()) {
                *v += SIDEW * e.unsigned_abs() as u32;
            }
        }
        let mut local = std::mem::take(io);
        let r = self.row_dispatch(&mut local, y);
        *io = local;
        r
    }
}

impl<const V3: bool> PlaneCoder<V3> {
    /// [`Self::row_impl`], compiled for AVX2 as well where the CPU has it (see [`crate::codec::avx2`]).
    #[inline(always)]
    fn row_dispatch<C: BitIo>(&mut self, io: &mut C, y: usize) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if crate::codec::avx2() {
            // SAFETY: the CPU has the features `row_avx2` is compiled for (checked just above).
            return unsafe { self.row_avx2(io, y) };
        }
        self.row_impl(io, y)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt")]
    unsafe fn row_avx2<C: BitIo>(&mut self, io: &mut C, y: usize) -> Result<()> {
        self.row_impl(io, y)
    }
}

/// Encodes the planes of an image (values in each plane's `lo..=hi`); returns one stream per plane.
pub fn encode_planes(planes: &[Plane]) -> Result<Vec<Vec<u8>>> {
    encode_planes_v::<false>(planes)
}

/// [`encode_planes`] for QAC3.
pub fn encode_planes_qac3(planes: &[Plane]) -> Result<Vec<Vec<u8>>> {
    encode_planes_v::<true>(planes)
}

fn encode_planes_v<const V3: bool>(planes: &[Plane]) -> Result<Vec<Vec<u8>>> {
    let ios = planes.iter().map(|p| Encoder::new(p.data.len() / 2 + 16)).collect::<Result<Vec<_>>>()?;
    let mut coders = planes.iter().map(|p| PlaneCoder::<V3>::new(p.try_clone()?)).collect::<Result<Vec<_>>>()?;
    mark_senders(&mut coders);
    let (ios, _) = code_planes(ios, coders, None)?;
    let out: Vec<Vec<u8>> = ios.into_iter().map(Encoder::finish).collect::<Result<_>>()?;
    Ok(out)
}

/// Decodes the planes of an image from one stream each; `specs` gives each plane's `(width, height, lo, hi)`.
pub fn decode_planes(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)]) -> Result<Vec<Plane>> {
    whole_planes(specs, |sink| decode_rows(streams, specs, sink))
}

/// Decodes the planes of an image row by row into `sink`, keeping two rows of each plane (as
/// `entropy::decode_rows`).
pub fn decode_rows(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)], sink: RowSink<'_>) -> Result<()> {
    decode_rows_v::<false>(streams, specs, sink)
}

/// [`decode_planes`] for QAC3.
pub fn decode_planes_qac3(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)]) -> Result<Vec<Plane>> {
    whole_planes(specs, |sink| decode_rows_qac3(streams, specs, sink))
}

/// [`decode_rows`] for QAC3.
pub fn decode_rows_qac3(streams: &[&[u8]], specs: &[(usize, usize, i32, i32)], sink: RowSink<'_>) -> Result<()> {
    decode_rows_v::<true>(streams, specs, sink)
}

fn decode_rows_v<const V3: bool>(
    streams: &[&[u8]],
    specs: &[(usize, usize, i32, i32)],
    sink: RowSink<'_>,
) -> Result<()> {
    if streams.len() != specs.len() {
        return Err(Error::format("stream count does not match the plane count"));
    }
    let ios = streams.iter().map(|s| Decoder::new(s)).collect::<Result<Vec<_>>>()?;
    let mut coders = Vec::with_capacity(specs.len());
    for &(width, height, lo, hi) in specs {
        let plane = Plane::ring(width, height, lo, hi)?;
        coders.push(PlaneCoder::<V3>::new(plane).map_err(|_| Error::format("bad plane size"))?);
    }
    mark_senders(&mut coders);
    let (ios, _) = code_planes(ios, coders, Some(sink))?;
    for io in ios {
        io.finish()?;
    }
    Ok(())
}

/// The second plane sends its sub-predictor errors when the third reads them: when the first three planes have one
/// size (the third then has the first two as context planes, see `entropy::context_sources`).
fn mark_senders<const V3: bool>(coders: &mut [PlaneCoder<V3>]) {
    if let [a, b, c, ..] = coders {
        let size = |p: &PlaneCoder<V3>| (p.plane.width, p.plane.height);
        b.send_se = size(a) == size(b) && size(b) == size(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::entropy;

    fn noisy_plane(w: usize, h: usize, lo: i32, hi: i32, seed: u64) -> Plane {
        let mut s = seed;
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((s >> 33) % 9) as i32 - 4;
                let v = ((x * 3 + y * 2) as i32 / 4 + noise + lo).clamp(lo, hi);
                data.push(v as i16);
            }
        }
        Plane { width: w, height: h, lo, hi, data }
    }

    fn spec(p: &Plane) -> (usize, usize, i32, i32) {
        (p.width, p.height, p.lo, p.hi)
    }

    type Enc = fn(&[Plane]) -> Result<Vec<Vec<u8>>>;
    type Dec = fn(&[&[u8]], &[(usize, usize, i32, i32)]) -> Result<Vec<Plane>>;
    /// QAC2 and QAC3, the one model with QAC3's stages off and on.
    const CODERS: [(Enc, Dec); 2] = [(encode_planes, decode_planes), (encode_planes_qac3, decode_planes_qac3)];

    /// Round trips through both coders; returns QAC2's streams.
    fn round_trip(planes: &[Plane]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (enc, dec) in CODERS {
            let streams = enc(planes).unwrap();
            let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
            let specs: Vec<_> = planes.iter().map(spec).collect();
            assert_eq!(dec(&refs, &specs).unwrap(), planes);
            out.push(streams);
        }
        out.swap_remove(0)
    }

    #[test]
    fn round_trip_exact() {
        for (w, h, lo, hi) in [(1, 1, 0, 1), (37, 23, 0, 255), (64, 5, -255, 255), (3, 40, 0, 7), (9, 9, -3, 3)] {
            let p = noisy_plane(w, h, lo, hi, w as u64 * 7 + h as u64);
            round_trip(std::slice::from_ref(&p));
            // Three planes of one size (the second and third use the earlier ones), a smaller fourth without.
            let small = noisy_plane(w.div_ceil(2), h.div_ceil(2), lo, hi, 5);
            round_trip(&[p.clone(), noisy_plane(w, h, lo, hi, 9), noisy_plane(w, h, lo, hi, 11), small]);
        }
        // The widest range a plane may have, with values at both ends.
        let mut p = noisy_plane(17, 13, -32767, 32767, 3);
        for (i, v) in p.data.iter_mut().enumerate() {
            *v = if i % 3 == 0 {
                -32767
            } else if i % 3 == 1 {
                32767
            } else {
                *v
            };
        }
        round_trip(&[p.clone(), p.clone(), p]);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_and_baseline_loops_write_and_read_the_same_bits() {
        let planes = [
            noisy_plane(67, 41, 0, 255, 1),
            noisy_plane(67, 41, -255, 255, 2),
            noisy_plane(67, 41, -255, 255, 3),
            noisy_plane(34, 21, 0, 255, 4),
        ];
        let specs: Vec<_> = planes.iter().map(spec).collect();
        let runs = |generic: bool| {
            crate::codec::GENERIC_ONLY.store(generic, std::sync::atomic::Ordering::Relaxed);
            CODERS.map(|(enc, _)| enc(&planes).unwrap())
        };
        let (fast, base) = (runs(false), runs(true));
        crate::codec::GENERIC_ONLY.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(fast, base);
        // Streams of one version decode with the other (the baseline loops read the AVX2 loops' streams here).
        crate::codec::GENERIC_ONLY.store(true, std::sync::atomic::Ordering::Relaxed);
        for ((_, dec), streams) in CODERS.iter().zip(&fast) {
            let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
            assert_eq!(dec(&refs, &specs).unwrap(), planes);
        }
        crate::codec::GENERIC_ONLY.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    #[test]
    fn smooth_planes_cost_less_than_with_qac() {
        let planes = [noisy_plane(128, 96, 0, 255, 1), noisy_plane(128, 96, -255, 255, 2)];
        let new: usize = round_trip(&planes).iter().map(Vec::len).sum();
        let old: usize = crate::codec::entropy::encode_planes(&planes).unwrap().iter().map(Vec::len).sum();
        assert!(new < old, "{new} >= {old}");
        let qac3: usize = encode_planes_qac3(&planes).unwrap().iter().map(Vec::len).sum();
        assert!(qac3 < new, "{qac3} >= {new}");
    }

    #[test]
    fn weights_by_table_match_the_formula() {
        for x in 0..5000 {
            assert_eq!(error_weight(x, true), error_weight_of(x, 13));
            assert_eq!(error_weight(x, false), error_weight_of(x, 12));
        }
        assert!(error_weight(u16::MAX as u32 * 13, false) >= 4);
    }

    #[test]
    fn truncation_is_a_format_error() {
        let p = noisy_plane(50, 50, 0, 255, 3);
        let q = noisy_plane(50, 50, -255, 255, 4);
        for (enc, dec) in CODERS {
            let s = enc(&[p.clone(), q.clone()]).unwrap();
            for cut in [0, 1, 5, s[0].len() / 2, s[0].len() - 1] {
                let r = dec(&[&s[0][..cut], &s[1]], &[spec(&p), spec(&q)]);
                assert!(matches!(r, Err(Error::Format(_))), "{cut}: {r:?}");
                let r = dec(&[&s[0], &s[1][..cut.min(s[1].len() - 1)]], &[spec(&p), spec(&q)]);
                assert!(matches!(r, Err(Error::Format(_))), "{cut}: {r:?}");
            }
        }
    }

    #[test]
    fn bit_flips_and_garbage_never_panic() {
        let planes =
            [noisy_plane(21, 14, 0, 255, 5), noisy_plane(21, 14, -255, 255, 6), noisy_plane(21, 14, -255, 255, 7)];
        let specs: Vec<_> = planes.iter().map(spec).collect();
        let mut s = 77u64;
        let mut rnd = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s >> 33
        };
        for (enc, dec) in CODERS {
            let streams = enc(&planes).unwrap();
            for _ in 0..2000 {
                let mut g = streams.clone();
                let k = rnd() as usize % 3;
                let i = rnd() as usize % g[k].len();
                g[k][i] ^= 1 << (rnd() % 8);
                let refs: Vec<&[u8]> = g.iter().map(|s| s.as_slice()).collect();
                if let Ok(out) = dec(&refs, &specs) {
                    // Garbage in, garbage out, but inside every plane's range.
                    for (p, sp) in out.iter().zip(&specs) {
                        assert!(p.data.iter().all(|&v| (sp.2..=sp.3).contains(&(v as i32))));
                    }
                }
            }
            for len in [0usize, 1, 2, 5, 17, 300] {
                let data: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
                let _ = dec(&[&data, &data, &data], &specs);
            }
        }
    }

    #[test]
    fn squeezed_edges_and_one_pixel_planes() {
        for (w, h) in [(1, 9), (9, 1), (2, 2), (1, 1)] {
            round_trip(&[noisy_plane(w, h, 0, 63, 1), noisy_plane(w, h, -63, 63, 2), noisy_plane(w, h, -63, 63, 3)]);
        }
    }
    /// Decoding row by row into a sink gives every plane's rows, in the promised order, equal to the planes.
    #[test]
    fn rows_reach_the_sink_in_order_for_every_coder() {
        for (w, h) in [(1, 1), (37, 23), (5, 40), (64, 17)] {
            let planes = vec![
                noisy_plane(w, h, 0, 255, 1),
                noisy_plane(w, h, -255, 255, 2),
                noisy_plane(w, h, -255, 255, 3),
                noisy_plane(w.div_ceil(2), h.div_ceil(2), 0, 200, 4),
            ];
            let specs: Vec<_> = planes.iter().map(spec).collect();
            type Coder = fn(&[&[u8]], &[(usize, usize, i32, i32)], RowSink<'_>) -> Result<()>;
            let coders: [(Vec<Vec<u8>>, Coder); 3] = [
                (entropy::encode_planes(&planes).unwrap(), entropy::decode_rows),
                (encode_planes(&planes).unwrap(), decode_rows),
                (encode_planes_qac3(&planes).unwrap(), decode_rows_qac3),
            ];
            for (streams, decode) in coders {
                let refs: Vec<&[u8]> = streams.iter().map(|s| s.as_slice()).collect();
                let mut got: Vec<Vec<i16>> = vec![Vec::new(); planes.len()];
                let mut order = Vec::new();
                decode(&refs, &specs, &mut |k, y, rows| {
                    assert_eq!(y * planes[k].width, got[k].len(), "plane {k}: rows in order");
                    order.push((y / entropy::BATCH_ROWS, k));
                    got[k].extend_from_slice(rows);
                    Ok(())
                })
                .unwrap();
                for (g, p) in got.iter().zip(&planes) {
                    assert_eq!(g, &p.data);
                }
                assert!(order.windows(2).all(|o| o[0] < o[1]), "batch by batch, planes in turn");
                // A sink that fails stops the decode with its own error.
                let r = decode(&refs, &specs, &mut |_, _, _| Err(Error::format("sink says no")));
                assert!(matches!(r, Err(Error::Format(m)) if m == "sink says no"));
            }
        }
    }
}
