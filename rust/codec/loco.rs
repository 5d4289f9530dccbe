//! The fast coder ("LOCO", `effort=0`): LOCO-I / JPEG-LS modelling with Golomb-Rice codes, in independent stripes of
//! rows coded in parallel.
//!
//! Each plane is predicted with MED plus a bias correction per context; the context is the three local gradients
//! quantized to 9 levels each and merged by sign (365 contexts), and a context's Golomb parameter follows the running
//! mean of its residual magnitudes. Flat runs (all gradients zero) are coded as run lengths (JPEG-LS's run mode),
//! which keeps synthetic pictures and few-level planes cheap. This is JPEG-LS's regular and run modes on qfast's
//! index planes (YCoCg-R, modulo-reduced residuals), with one simplification: a run's interrupting pixel is coded
//! with the regular Golomb code in one of two contexts of its own.
//!
//! Why by hand: no crate codes integer planes this way (CharLS is C++ and codes whole images in its own format), and
//! the coder must share qfast's planes, container and hostile-input rules.
//!
//! The image is cut into stripes of whole rows (the stripe height is in the payload); each stripe holds every plane's
//! rows, interleaved row by row, in one bit stream that starts from fresh statistics, so stripes encode and decode
//! on all cores and the output does not depend on the thread count. Payload: `u32` stripe height (luma rows), one
//! `u32` stream length per stripe, then the streams.
//!
//! The decoder treats the stream as hostile: missing bytes read as zeros and are counted (a stripe that read past its
//! end is `Error::Format`), a unary code longer than the format allows and a residual outside the plane's range are
//! errors, every loop is bounded by the stripe's size, and its memory beyond the output is two rows per plane and
//! stripe in flight.

use crate::codec::predict::{med, Plane};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Longest Golomb code in bits (JPEG-LS's LIMIT for 8-bit samples): a larger residual is escaped.
const LIMIT: u32 = 32;
/// Statistics are halved when a context has seen this many residuals (JPEG-LS's RESET).
const RESET: i32 = 64;
/// Regular contexts (gradients merged by sign), then the two run-interruption contexts.
const CONTEXTS: usize = 365;
/// JPEG-LS's run-length orders: a run of `2^J[i]` pixels codes as one bit.
const J: [u32; 32] =
    [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// Stream bytes a stripe may read past its end (the reader's look-ahead) before it counts as truncated.
const SLACK: usize = 8;

/// The stripe height the encoder writes for an image `width` pixels wide and `height` tall: about 64K pixels a
/// stripe (enough stripes for the cores, each long enough that its fresh start costs little), at least 32 rows, and
/// even, so 4:2:0 chroma rows split with the luma rows.
fn stripe_rows(width: usize, height: usize) -> usize {
    let rows = (1usize << 16).div_ceil(width.max(1)).max(32);
    (rows + (rows & 1)).min(height.max(1) + (height & 1)).max(2)
}

/// One plane's coding parameters: its range and the gradient levels that follow from it.
struct Params {
    lo: i32,
    hi: i32,
    range: i32,
    emin: i32,
    emax: i32,
    /// Bits of an escaped residual: `2^qbpp >= range`.
    qbpp: u32,
    /// Each gradient's level in -4..=4, at `gradient + range - 1`, from JPEG-LS's thresholds T1, T2, T3 (its
    /// defaults for a `MAXVAL` of `hi - lo`, lossless). A table, because comparisons mispredict.
    levels: Vec<i8>,
}

impl Params {
    fn new(lo: i32, hi: i32) -> Result<Params> {
        let range = hi - lo + 1;
        let half = range / 2;
        let maxval = hi - lo;
        let qbpp = 32 - ((range.max(1) - 1) as u32).leading_zeros();
        let t = if maxval >= 128 {
            let f = (maxval.min(4095) + 128) >> 8;
            let t1 = (f + 2).clamp(1, maxval);
            let t2 = (4 * f + 3).clamp(t1, maxval);
            (t1, t2, (17 * f + 4).clamp(t2, maxval))
        } else {
            let f = 256 / (maxval + 1);
            let t1 = (3 / f).max(2).clamp(1, maxval.max(1));
            let t2 = (7 / f).max(3).clamp(t1, maxval.max(t1));
            (t1, t2, (21 / f).max(4).clamp(t2, maxval.max(t2)))
        };
        let (t1, t2, t3) = t;
        let level = |g: i32| -> i8 {
            let a = g.abs();
            let q = if a == 0 {
                0
            } else if a < t1 {
                1
            } else if a < t2 {
                2
            } else if a < t3 {
                3
            } else {
                4
            };
            if g < 0 {
                -q
            } else {
                q
            }
        };
        let levels = crate::alloc::collect((-(range - 1)..range).map(level))?;
        Ok(Params { lo, hi, range, emin: -half, emax: range - 1 - half, qbpp, levels })
    }

    /// A gradient's level in -4..=4 (`g` within +-(range - 1), as between two values of the plane).
    #[inline(always)]
    fn level(&self, g: i32) -> i32 {
        self.levels[(g + self.range - 1) as usize] as i32
    }
}

/// One context's statistics (JPEG-LS's A, B, C, N), together so that a pixel touches one cache line.
#[derive(Clone, Copy)]
struct Context {
    /// Sum of residual magnitudes.
    a: i32,
    /// Count of residuals.
    n: i32,
    /// Sum of residuals, kept in (-N, 0] by moving `c` (regular contexts only).
    b: i32,
    /// The bias correction added to the prediction (regular contexts only).
    c: i32,
}

/// One plane's adaptive statistics within a stripe: the regular contexts, then the two run-interruption contexts,
/// and JPEG-LS's run index.
struct Stats {
    ctx: [Context; CONTEXTS + 2],
    run_index: usize,
}

impl Stats {
    fn new(p: &Params) -> Box<Stats> {
        let a = ((p.range + 32) / 64).max(2);
        Box::new(Stats { ctx: [Context { a, n: 1, b: 0, c: 0 }; CONTEXTS + 2], run_index: 0 })
    }

    /// The Golomb parameter of context `q`: the least `k` with `N << k >= A` (`extra` is added to A).
    #[inline(always)]
    fn k(&self, q: usize, extra: i32) -> u32 {
        let Context { n, a, .. } = self.ctx[q];
        let a = a + extra;
        // From the bit lengths: n << k0 has a's length, so k is k0 or k0 + 1 (no branch: it would mispredict).
        let k0 = (n.leading_zeros() as i32 - a.leading_zeros() as i32).max(0) as u32;
        k0 + ((n << k0) < a) as u32
    }

    /// Counts `e` in context `q`, halving its statistics every `RESET` residuals.
    #[inline(always)]
    fn count(&mut self, q: usize, e: i32) {
        let x = &mut self.ctx[q];
        x.a += e.abs();
        if x.n == RESET {
            x.a >>= 1;
            x.n >>= 1;
            x.b = if x.b >= 0 { x.b >> 1 } else { -((1 - x.b) >> 1) };
        }
        x.n += 1;
    }

    /// A regular context's update: the counts, then the bias correction `C` moves by one where the mean error `B/N`
    /// leaves (-1, 0].
    #[inline(always)]
    fn update(&mut self, q: usize, e: i32) {
        self.ctx[q].b += e;
        self.count(q, e);
        let x = &mut self.ctx[q];
        if x.b <= -x.n {
            x.b += x.n;
            if x.c > -128 {
                x.c -= 1;
            }
            if x.b <= -x.n {
                x.b = -x.n + 1;
            }
        } else if x.b > 0 {
            x.b -= x.n;
            if x.c < 127 {
                x.c += 1;
            }
            if x.b > 0 {
                x.b = 0;
            }
        }
    }
}

/// Codes bits both directions, as `entropy::BitIo`: the encoder writes what it is given and returns it, the decoder
/// ignores it and returns what it reads, so one loop serves both.
trait RiceIo {
    const ENCODER: bool;
    /// Codes the non-negative `m` with Golomb parameter `k` (limited to `LIMIT` bits: escaped in `qbpp` bits).
    fn golomb(&mut self, m: u32, k: u32, qbpp: u32) -> Result<u32>;
    /// Codes the `bits` low bits of `v` (`bits <= 24`).
    fn bits(&mut self, v: u32, bits: u32) -> u32;
    /// Codes one bit.
    fn bit(&mut self, b: u32) -> u32 {
        self.bits(b, 1)
    }
    /// True when a decoder has read past the end of its stream (beyond its look-ahead).
    fn overrun(&self) -> bool {
        false
    }
}

/// The bit writer: most significant bit first, 32 bits at a time into fallibly grown memory.
struct Writer {
    out: Vec<u8>,
    acc: u64,
    n: u32,
    out_of_memory: bool,
}

impl Writer {
    fn new(capacity: usize) -> Result<Writer> {
        Ok(Writer { out: crate::alloc::with_capacity(capacity)?, acc: 0, n: 0, out_of_memory: false })
    }

    #[inline(always)]
    fn put(&mut self, v: u32, bits: u32) {
        debug_assert!(bits <= 32 && self.n < 32);
        if bits == 0 {
            return;
        }
        self.acc = (self.acc << bits) | (v as u64 & ((1u64 << bits) - 1));
        self.n += bits;
        if self.n >= 32 {
            self.n -= 32;
            let word = (self.acc >> self.n) as u32;
            if self.out.len() + 4 > self.out.capacity() && self.out.try_reserve(self.out.len().max(64)).is_err() {
                self.out_of_memory = true;
                return;
            }
            self.out.extend_from_slice(&word.to_be_bytes());
        }
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        let pad = (8 - self.n % 8) % 8;
        self.put(0, pad);
        let bytes = self.n / 8;
        for i in (0..bytes).rev() {
            if crate::alloc::reserve(&mut self.out, 1).is_err() {
                self.out_of_memory = true;
                break;
            }
            self.out.push((self.acc >> (8 * i)) as u8);
        }
        if self.out_of_memory {
            return Err(Error::OutOfMemory { bytes: 2 * self.out.capacity().max(1) });
        }
        Ok(self.out)
    }
}

impl RiceIo for Writer {
    const ENCODER: bool = true;

    #[inline(always)]
    fn golomb(&mut self, m: u32, k: u32, qbpp: u32) -> Result<u32> {
        let qmax = LIMIT - qbpp - 1;
        let q = m >> k;
        if q < qmax {
            self.put(1, q + 1);
            self.put(m, k);
        } else {
            self.put(1, qmax + 1);
            self.put(m - 1, qbpp);
        }
        Ok(m)
    }

    #[inline(always)]
    fn bits(&mut self, v: u32, bits: u32) -> u32 {
        self.put(v, bits);
        v
    }
}

/// The bit reader: a 64-bit window, most significant bit first; bytes past the end read as zeros and are counted.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0, acc: 0, n: 0 }
    }

    /// At least 56 bits in the window.
    #[inline(always)]
    fn refill(&mut self) {
        if self.n >= 32 {
            return;
        }
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            // Whole bytes that fit below the window's bits; the rest of the word is read again next time.
            let word = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            self.acc |= word >> self.n;
            let take = (63 - self.n) >> 3;
            self.pos += take as usize;
            self.n += 8 * take;
        } else {
            while self.n <= 56 {
                let b = self.data.get(self.pos).copied().unwrap_or(0);
                self.pos += 1;
                self.acc |= (b as u64) << (56 - self.n);
                self.n += 8;
            }
        }
    }

    #[inline(always)]
    fn take(&mut self, bits: u32) -> u32 {
        debug_assert!(bits <= 32);
        if bits == 0 {
            return 0;
        }
        self.refill();
        let v = (self.acc >> (64 - bits)) as u32;
        self.acc <<= bits;
        self.n -= bits;
        v
    }
}

impl RiceIo for Reader<'_> {
    const ENCODER: bool = false;

    fn overrun(&self) -> bool {
        self.pos > self.data.len() + SLACK
    }

    #[inline(always)]
    fn golomb(&mut self, _m: u32, k: u32, qbpp: u32) -> Result<u32> {
        let qmax = LIMIT - qbpp - 1;
        self.refill();
        let q = self.acc.leading_zeros();
        if q < qmax {
            self.acc <<= q + 1;
            self.n -= q + 1;
            Ok((q << k) | self.take(k))
        } else if q == qmax {
            self.acc <<= q + 1;
            self.n -= q + 1;
            Ok(self.take(qbpp) + 1)
        } else {
            Err(Error::format("fast coder: Golomb code too long"))
        }
    }

    #[inline(always)]
    fn bits(&mut self, _v: u32, bits: u32) -> u32 {
        self.take(bits)
    }
}

/// The residual `e` (in `emin..=emax`) as a non-negative code number, and back: `2e` and `-2e - 1`, or with `flip`
/// (JPEG-LS's mapping where the context's bias is negative) `2e + 1` and `-2e - 2`.
#[inline(always)]
fn to_code(e: i32, flip: bool) -> u32 {
    let m = if e >= 0 { 2 * e } else { -2 * e - 1 };
    (if flip { m ^ 1 } else { m }) as u32
}

#[inline(always)]
fn from_code(m: u32, flip: bool) -> i32 {
    let m = if flip { m ^ 1 } else { m } as i32;
    if m & 1 == 0 {
        m >> 1
    } else {
        -((m + 1) >> 1)
    }
}

/// `x` moved by one `range` into `lo..=hi` where it is outside: a residual into the plane's residual range
/// (`emin..=emax`), or `prediction + residual` back into the plane's values (`lo..=hi`).
#[inline(always)]
fn wrap(x: i32, lo: i32, hi: i32, range: i32) -> i32 {
    if x < lo {
        x + range
    } else if x > hi {
        x - range
    } else {
        x
    }
}

/// Reduces a residual into the plane's residual range.
#[inline(always)]
fn reduce(p: &Params, e: i32) -> i32 {
    wrap(e, p.emin, p.emax, p.range)
}

/// The value `prediction + residual` back inside the plane's range.
#[inline(always)]
fn unreduce(p: &Params, x: i32) -> i32 {
    wrap(x, p.lo, p.hi, p.range)
}

/// Codes one pixel in regular mode, both directions: the encoder gives its value `v`, the decoder 0; returns the
/// value.
#[inline(always)]
fn regular<IO: RiceIo>(
    io: &mut IO,
    s: &mut Stats,
    p: &Params,
    (a, b, c, d): (i32, i32, i32, i32),
    v: i32,
) -> Result<i32> {
    let q = 81 * p.level(d - b) + 9 * p.level(b - c) + p.level(c - a);
    let (q, sign) = if q < 0 { ((-q) as usize, -1) } else { (q as usize, 1) };
    let pred = (med(a, b, c) + sign * s.ctx[q].c).clamp(p.lo, p.hi);
    let k = s.k(q, 0);
    let flip = k == 0 && 2 * s.ctx[q].b <= -s.ctx[q].n;
    let (e, v) = if IO::ENCODER {
        let e = reduce(p, sign * (v - pred));
        io.golomb(to_code(e, flip), k, p.qbpp)?;
        (e, v)
    } else {
        let e = from_code(io.golomb(0, k, p.qbpp)?, flip);
        if e < p.emin || e > p.emax {
            return Err(Error::format("fast coder: residual out of the plane's range"));
        }
        (e, unreduce(p, pred + sign * e))
    };
    s.update(q, e);
    Ok(v)
}

/// Codes the pixel that ends a run of `ra` (its north neighbour `rb`), in one of the two interruption contexts: the
/// prediction is `ra` where `ra == rb` (so the value differs from it, and the residual skips 0), else `rb`.
#[inline(always)]
fn interruption<IO: RiceIo>(io: &mut IO, s: &mut Stats, p: &Params, ra: i32, rb: i32, v: &mut i16) -> Result<()> {
    let same = ra == rb;
    let q = CONTEXTS + same as usize;
    let (pred, sign) = if same { (ra, 1) } else { (rb, if ra > rb { -1 } else { 1 }) };
    let k = s.k(q, if same { s.ctx[q].n >> 1 } else { 0 });
    let e = if IO::ENCODER {
        let e = reduce(p, sign * (*v as i32 - pred));
        let shifted = if same && e > 0 { e - 1 } else { e };
        io.golomb(to_code(shifted, false), k, p.qbpp)?;
        e
    } else {
        let shifted = from_code(io.golomb(0, k, p.qbpp)?, false);
        let e = if same && shifted >= 0 { shifted + 1 } else { shifted };
        if e < p.emin || e > p.emax || (same && e == 0) {
            return Err(Error::format("fast coder: run interruption out of the plane's range"));
        }
        *v = unreduce(p, pred + sign * e) as i16;
        e
    };
    s.count(q, e);
    Ok(())
}

/// Codes one row of a plane: `up` is the row above in the same stripe (None on the stripe's first row) and `cur`
/// the row, read by the encoder and written by the decoder.
fn code_row<IO: RiceIo>(io: &mut IO, s: &mut Stats, p: &Params, up: Option<&[i16]>, cur: &mut [i16]) -> Result<()> {
    let w = cur.len();
    let at = |r: &[i16], x: usize| r[x] as i32;
    let mut x = 0;
    // The value left of x (on the first row of a stripe, before its first pixel: the plane's value nearest 0).
    let mut west = p.lo.max(0).min(p.hi);
    while x < w {
        // Neighbours: W, N, NW, NE; a missing row above repeats W, a missing column repeats N (as QAC).
        let (a, b, c, d) = match up {
            None => (west, west, west, west),
            Some(up) => {
                let b = at(up, x);
                let d = if x + 1 < w { at(up, x + 1) } else { b };
                if x > 0 {
                    (west, b, at(up, x - 1), d)
                } else {
                    (b, b, b, d)
                }
            }
        };
        if a != b || b != c || c != d {
            west = regular(io, s, p, (a, b, c, d), if IO::ENCODER { cur[x] as i32 } else { 0 })?;
            cur[x] = west as i16;
            x += 1;
            continue;
        }
        // Run mode: pixels equal to W, coded as a run length in chunks of 2^J pixels.
        let left = w - x;
        let run = if IO::ENCODER {
            let run = cur[x..].iter().take_while(|&&v| v as i32 == a).count();
            let mut r = run;
            while r >= 1 << J[s.run_index] {
                io.bit(1);
                r -= 1 << J[s.run_index];
                s.run_index = (s.run_index + 1).min(31);
            }
            if run == left {
                if r > 0 {
                    io.bit(1);
                }
            } else {
                io.bit(0);
                io.bits(r as u32, J[s.run_index]);
                s.run_index = s.run_index.saturating_sub(1);
            }
            run
        } else {
            let mut run = 0;
            loop {
                if run == left {
                    break;
                }
                if io.bit(0) == 1 {
                    let chunk = 1usize << J[s.run_index];
                    if chunk <= left - run {
                        run += chunk;
                        s.run_index = (s.run_index + 1).min(31);
                    } else {
                        run = left; // a partial chunk ends the row
                    }
                } else {
                    let r = io.bits(0, J[s.run_index]) as usize;
                    if run + r >= left {
                        return Err(Error::format("fast coder: run past the end of its row"));
                    }
                    run += r;
                    s.run_index = s.run_index.saturating_sub(1);
                    break;
                }
            }
            cur[x..x + run].iter_mut().for_each(|v| *v = a as i16);
            run
        };
        x += run;
        if x < w {
            let rb = match up {
                Some(up) => at(up, x),
                None => a,
            };
            interruption(io, s, p, a, rb, &mut cur[x])?;
            west = cur[x] as i32;
            x += 1;
        }
    }
    Ok(())
}

/// Where a decoded row goes: `(plane, row in the stripe, values)`.
type RowDone<'a> = &'a mut dyn FnMut(usize, usize, &[i16]) -> Result<()>;

/// How a stripe's decoded row reaches its band of the output: `(band, plane, row in the stripe, values)`.
pub type BandWrite<'a, B> = dyn Fn(&mut B, usize, usize, &[i16]) -> Result<()> + Sync + 'a;

/// The rows of stripe `s` in a plane `plane_height` rows tall, as (first row, row count): a plane of the image's
/// height has `rows` rows a stripe, a half-height (4:2:0 chroma) plane `rows / 2`.
fn stripe_span(height: usize, plane_height: usize, rows: usize, s: usize) -> (usize, usize) {
    let per = if plane_height == height { rows } else { rows / 2 };
    let y0 = (s * per).min(plane_height);
    (y0, (y0 + per).min(plane_height) - y0)
}

/// Codes one stripe: for each of its image rows, every full plane's row, then the half-height planes' row after
/// every second image row (and after the stripe's last). `source(k, y)` gives the encoder plane `k`'s row `y`
/// (local to the stripe); each coded row goes to `done(k, y, row)` (the decoder's output; the encoder's is a no-op).
fn code_stripe<'p, IO: RiceIo>(
    io: &mut IO,
    specs: &[(usize, usize, i32, i32)],
    height: usize,
    rows: usize,
    s: usize,
    source: &dyn Fn(usize, usize) -> Option<&'p [i16]>,
    done: RowDone<'_>,
) -> Result<()> {
    let np = specs.len();
    let params = specs.iter().map(|&(_, _, lo, hi)| Params::new(lo, hi)).collect::<Result<Vec<Params>>>()?;
    let mut stats: Vec<Box<Stats>> = params.iter().map(Stats::new).collect();
    let mut bufs = Vec::with_capacity(np);
    for &(w, _, _, _) in specs {
        bufs.push([crate::alloc::zeroed::<i16>(w)?, crate::alloc::zeroed::<i16>(w)?]);
    }
    let spans: Vec<(usize, usize)> = specs.iter().map(|&(_, ph, _, _)| stripe_span(height, ph, rows, s)).collect();
    let (_, image_rows) = stripe_span(height, height, rows, s);
    let mut coded = vec![0usize; np];
    for r in 0..image_rows {
        for k in 0..np {
            let (_, count) = spans[k];
            let full = specs[k].1 == height;
            let due = if full { r < count } else { coded[k] < count && (r % 2 == 1 || r + 1 == image_rows) };
            if !due {
                continue;
            }
            let y = coded[k];
            let [prev, cur] = &mut bufs[k];
            if IO::ENCODER {
                let row = source(k, y).ok_or_else(|| Error::value("plane", "row out of range"))?;
                cur.copy_from_slice(row);
            }
            code_row(io, &mut stats[k], &params[k], (y > 0).then_some(&prev[..]), cur)?;
            done(k, y, cur)?;
            std::mem::swap(prev, cur);
            coded[k] += 1;
        }
        if io.overrun() {
            return Err(Error::format("fast coder: stripe stream ends early (truncated)"));
        }
    }
    Ok(())
}

/// Encodes the planes (values in each plane's `lo..=hi`; the first plane has the image's height, later ones that or
/// half of it): the payload described in the module docs.
pub fn encode_planes(planes: &[Plane]) -> Result<Vec<u8>> {
    let first = planes.first().ok_or_else(|| Error::value("planes", "no planes"))?;
    encode_planes_in(planes, stripe_rows(first.width, first.height))
}

/// [`encode_planes`] in stripes of `rows` image rows (even, at least 2).
fn encode_planes_in(planes: &[Plane], rows: usize) -> Result<Vec<u8>> {
    let first = planes.first().ok_or_else(|| Error::value("planes", "no planes"))?;
    let height = first.height;
    if rows < 2 || !rows.is_multiple_of(2) {
        return Err(Error::value("rows", "expected an even stripe height of at least 2"));
    }
    let specs: Vec<_> = planes.iter().map(|p| (p.width, p.height, p.lo, p.hi)).collect();
    if planes
        .iter()
        .any(|p| p.data.len() != p.width * p.height || (p.height != height && p.height != height.div_ceil(2)))
    {
        return Err(Error::value("planes", "size mismatch"));
    }
    let stripes = height.div_ceil(rows);
    let samples: usize = planes.iter().map(|p| p.data.len()).sum();
    let streams: Vec<Vec<u8>> = (0..stripes)
        .into_par_iter()
        .map(|s| {
            let mut io = Writer::new(samples / stripes / 2 + 64)?;
            let source = |k: usize, y: usize| {
                let (y0, count) = stripe_span(height, planes[k].height, rows, s);
                (y < count).then(|| planes[k].row(y0 + y))
            };
            code_stripe(&mut io, &specs, height, rows, s, &source, &mut |_, _, _| Ok(()))?;
            io.finish()
        })
        .collect::<Result<_>>()?;
    let total: usize = streams.iter().map(Vec::len).sum();
    let mut out = crate::alloc::with_capacity(4 + 4 * stripes + total)?;
    out.extend_from_slice(&(rows as u32).to_le_bytes());
    for s in &streams {
        let len = u32::try_from(s.len()).map_err(|_| Error::value("image", "stripe stream over 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    for s in &streams {
        out.extend_from_slice(s);
    }
    Ok(out)
}

/// The payload's u32 at byte `i` (of its stripe table).
fn word(payload: &[u8], i: usize) -> Result<usize> {
    let b = payload.get(i..i + 4).ok_or_else(|| Error::format("fast coder: payload too short for its stripe table"))?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Splits a payload into its stripe height and streams, checking the table against the planes.
fn split(payload: &[u8], height: usize) -> Result<(usize, Vec<&[u8]>)> {
    let (rows, stripes) = layout(payload, height)?;
    // The table must be in the payload, so its size is bounded by the file's, whatever the header declares.
    if 4 + 4 * (stripes as u128) > payload.len() as u128 {
        return Err(Error::format("fast coder: payload too short for its stripe table"));
    }
    let mut out = crate::alloc::with_capacity(stripes)?;
    let mut pos = 4 + 4 * stripes;
    for s in 0..stripes {
        let end = pos
            .checked_add(word(payload, 4 + 4 * s)?)
            .ok_or_else(|| Error::format("fast coder: stripe length overflows"))?;
        out.push(payload.get(pos..end).ok_or_else(|| Error::format(format!("fast coder: stripe {s} truncated")))?);
        pos = end;
    }
    if pos != payload.len() {
        return Err(Error::format("fast coder: payload longer than its stripes"));
    }
    Ok((rows, out))
}

/// Decodes every stripe of a payload in parallel, one of `bands` each (see [`layout`] for their count):
/// `write(band, k, y, row)` receives the stripe's row `y` (local to the stripe) of plane `k` on the stripe's thread,
/// each plane's rows in order and, for the same pixels, earlier planes first. `specs` gives each plane's
/// `(width, height, lo, hi)`; the first plane's height is the image's.
pub fn decode_stripes<B: Send>(
    payload: &[u8],
    specs: &[(usize, usize, i32, i32)],
    bands: Vec<B>,
    write: &BandWrite<'_, B>,
) -> Result<()> {
    let height = specs.first().ok_or_else(|| Error::format("no planes"))?.1;
    let (rows, streams) = split(payload, height)?;
    if bands.len() != streams.len() {
        return Err(Error::format("fast coder: stripe count does not match the output's bands"));
    }
    let results: Vec<Result<()>> = bands
        .into_par_iter()
        .zip(streams.par_iter())
        .enumerate()
        .map(|(s, (mut band, data))| {
            let mut io = Reader::new(data);
            // code_stripe checks after every row, the last included, that the stream did not run out.
            code_stripe(&mut io, specs, height, rows, s, &|_, _| None, &mut |k, y, row| write(&mut band, k, y, row))
        })
        .collect();
    results.into_iter().collect()
}

/// The stripe height and stripe count of a payload for an image `height` rows tall (for callers that split their
/// output before decoding).
pub fn layout(payload: &[u8], height: usize) -> Result<(usize, usize)> {
    let rows = word(payload, 0)?;
    if rows < 2 || !rows.is_multiple_of(2) {
        return Err(Error::format(format!("fast coder: bad stripe height {rows}")));
    }
    Ok((rows, height.div_ceil(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(s: &mut u64) -> u64 {
        *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *s >> 33
    }

    /// A ramp with noise, flat patches (runs) and a few jumps across the whole range.
    fn plane(w: usize, h: usize, lo: i32, hi: i32, seed: u64) -> Plane {
        let mut s = seed;
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let r = lcg(&mut s);
                let v = if (x / 5 + y / 3) % 4 == 0 {
                    lo + (hi - lo) / 3 // flat
                } else if r.is_multiple_of(53) {
                    if r.is_multiple_of(2) {
                        lo
                    } else {
                        hi
                    }
                } else {
                    (x * 3 + y * 2) as i32 / 4 + (r % 7) as i32 - 3
                };
                data.push(v.clamp(lo, hi) as i16);
            }
        }
        Plane { width: w, height: h, lo, hi, data }
    }

    fn specs(planes: &[Plane]) -> Vec<(usize, usize, i32, i32)> {
        planes.iter().map(|p| (p.width, p.height, p.lo, p.hi)).collect()
    }

    /// Decodes into whole planes, checking the order rows arrive in on each stripe's thread: a plane's rows in
    /// order, and for the same pixels, the earlier full-size planes first.
    fn decode(payload: &[u8], specs: &[(usize, usize, i32, i32)]) -> Result<Vec<Plane>> {
        let height = specs[0].1;
        let (rows, count) = layout(payload, height)?;
        let planes: Vec<Plane> =
            specs.iter().map(|&(w, h, lo, hi)| Plane { width: w, height: h, lo, hi, data: vec![0; w * h] }).collect();
        let planes = std::sync::Mutex::new(planes);
        // Each band: its stripe index and how many rows of each plane it has received.
        let bands: Vec<(usize, Vec<usize>)> = (0..count).map(|s| (s, vec![0; specs.len()])).collect();
        decode_stripes(payload, specs, bands, &|(s, got): &mut (usize, Vec<usize>), k, y, row| {
            let full = |j: usize| specs[j].1 == height;
            if got[k] != y || (k > 0 && full(k) && full(k - 1) && got[k - 1] <= y) {
                return Err(Error::format("rows out of order"));
            }
            got[k] += 1;
            let (y0, _) = stripe_span(height, specs[k].1, rows, *s);
            let w = specs[k].0;
            planes.lock().unwrap()[k].data[(y0 + y) * w..(y0 + y + 1) * w].copy_from_slice(row);
            Ok(())
        })?;
        Ok(planes.into_inner().unwrap())
    }

    #[test]
    fn round_trip_exact_in_any_stripes() {
        for (w, h, lo, hi) in
            [(1usize, 1usize, 0, 1), (37, 23, 0, 255), (64, 9, -255, 255), (3, 40, 0, 7), (9, 9, -3, 3), (5, 7, 4, 4)]
        {
            for rows in [2, 4, 6, 32, 1 << 20] {
                // YCoCg-R-like planes, 4:2:0-like half planes and an alpha plane.
                let ch = (w.div_ceil(2), h.div_ceil(2));
                let planes = vec![
                    plane(w, h, lo, hi, 1),
                    plane(ch.0, ch.1, lo, hi, 2),
                    plane(ch.0, ch.1, lo, hi, 3),
                    plane(w, h, 0, 255, 4),
                ];
                let payload = encode_planes_in(&planes, rows).unwrap();
                assert_eq!(decode(&payload, &specs(&planes)).unwrap(), planes, "{w}x{h} {lo}..{hi} rows {rows}");
                let full = vec![plane(w, h, lo, hi, 5), plane(w, h, lo, hi, 6), plane(w, h, lo, hi, 7)];
                let payload = encode_planes_in(&full, rows).unwrap();
                assert_eq!(decode(&payload, &specs(&full)).unwrap(), full);
            }
        }
    }

    #[test]
    fn runs_that_end_on_chunk_boundaries_and_rows() {
        // Flat rows of every length up to 70 (run chunks of 1, 2, 4, ... pixels end exactly at the row's end or one
        // short of it), with and without an interrupting pixel, and a flat plane.
        for w in 1..70 {
            let mut p = Plane { width: w, height: 6, lo: 0, hi: 9, data: vec![5; w * 6] };
            p.data[w * 3 + w / 2] = 7;
            p.data[w * 5 - 1] = 0;
            let payload = encode_planes_in(std::slice::from_ref(&p), 2).unwrap();
            assert_eq!(decode(&payload, &specs(std::slice::from_ref(&p))).unwrap()[0], p, "width {w}");
        }
        let flat = Plane { width: 4000, height: 300, lo: 0, hi: 255, data: vec![77; 4000 * 300] };
        let payload = encode_planes(std::slice::from_ref(&flat)).unwrap();
        assert!(payload.len() < 4000, "{} bytes for a flat plane", payload.len());
        assert_eq!(decode(&payload, &specs(std::slice::from_ref(&flat))).unwrap()[0], flat);
    }

    #[test]
    fn noise_costs_about_its_entropy() {
        // Uniform noise over 16 values: 4 bits a pixel; Golomb codes of a flat distribution cost a little more.
        let mut s = 3;
        let data = (0..256 * 256).map(|_| (lcg(&mut s) % 16) as i16).collect();
        let p = Plane { width: 256, height: 256, lo: 0, hi: 15, data };
        let bits = 8 * encode_planes(std::slice::from_ref(&p)).unwrap().len();
        assert!(bits > 4 * 256 * 256 && bits < 5 * 256 * 256, "{} bits a pixel", bits as f64 / 65536.0);
    }

    #[test]
    fn stripe_heights_are_even_and_bounded() {
        for (w, h) in [(1, 1), (1, 2), (768, 512), (4000, 3000), (65536, 10), (3, 100000)] {
            let r = stripe_rows(w, h);
            assert!(r >= 2 && r.is_multiple_of(2), "{w}x{h}: {r}");
            assert!(r >= 32.min(h + h % 2), "{w}x{h}: {r}");
            assert!(w * r <= (1 << 17) || r == 32 || r >= h, "{w}x{h}: {r}");
        }
    }

    #[test]
    fn truncated_and_damaged_streams_are_format_errors() {
        let planes = vec![plane(50, 40, 0, 255, 8), plane(50, 40, -255, 255, 9)];
        let sp = specs(&planes);
        let payload = encode_planes_in(&planes, 8).unwrap();
        for n in 0..payload.len() {
            assert!(matches!(decode(&payload[..n], &sp), Err(Error::Format(_))), "cut at {n}");
        }
        // A stripe cut short inside a valid table: the lengths say 10 bytes, the stream needs more.
        let (_, streams) = split(&payload, 40).unwrap();
        let mut short = payload[..4].to_vec();
        for _ in &streams {
            short.extend_from_slice(&10u32.to_le_bytes());
        }
        for s in &streams {
            short.extend_from_slice(&s[..10]);
        }
        assert!(matches!(decode(&short, &sp), Err(Error::Format(_))));
        // Bad stripe heights.
        for rows in [0u32, 1, 3, 7] {
            let mut bad = payload.clone();
            bad[..4].copy_from_slice(&rows.to_le_bytes());
            assert!(matches!(decode(&bad, &sp), Err(Error::Format(_))), "rows {rows}");
        }
        // A length that overflows, and a payload longer than its stripes.
        let mut bad = payload.clone();
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&bad, &sp), Err(Error::Format(_))));
        let mut long = payload.clone();
        long.push(0);
        assert!(matches!(decode(&long, &sp), Err(Error::Format(_))));
    }

    #[test]
    fn garbage_never_panics() {
        let mut s = 99u64;
        for len in [0usize, 1, 4, 5, 12, 17, 300, 3000] {
            for rows in [2u32, 4, 64] {
                for _ in 0..20 {
                    let mut data: Vec<u8> = (0..len).map(|_| lcg(&mut s) as u8).collect();
                    if data.len() >= 8 {
                        data[..4].copy_from_slice(&rows.to_le_bytes());
                        let n = (13usize).div_ceil(rows as usize);
                        let body = (data.len() - 4).saturating_sub(4 * n) as u32 / n as u32;
                        for k in 0..n.min((data.len() - 4) / 4) {
                            data[4 + 4 * k..8 + 4 * k].copy_from_slice(&body.to_le_bytes());
                        }
                    }
                    let _ = decode(&data, &[(13, 13, -20, 20), (7, 7, 0, 200), (13, 13, 0, 0)]);
                }
            }
        }
    }
}
