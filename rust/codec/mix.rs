//! Logistic mixing of binary probabilities (for QAC3, see `model`): several models' probabilities of a 0 bit are
//! combined in the logistic domain with weights that learn online (a neural network of one neuron, as in PAQ and
//! lpaq), and the result is refined by an adaptive probability map (APM, or secondary estimation) in a small context.
//!
//! All integer arithmetic, with tables built at compile time from integers (lpaq's interpolated squash), so every
//! platform computes the same probabilities.

/// `squash` at `-2048, -1920, .. 2048` (lpaq's table, 12-bit probabilities): `4096 / (1 + e^(-d / 256))`.
const SQUASH_POINTS: [i32; 33] = [
    1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901,
    3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
];

/// Probabilities the mixer and the APM hand to the range coder stay within this and `65536 - P_MIN`.
pub(crate) const P_MIN: u32 = 32;

/// The logistic function in 1/65536 of a stretched value `d` (1/256 units, clamped to -2047..=2047), by
/// interpolation between [`SQUASH_POINTS`] (scaled to 16 bits).
const fn squash_of(d: i32) -> u32 {
    let d = if d > 2047 {
        2047
    } else if d < -2047 {
        -2047
    } else {
        d
    };
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    let p = (SQUASH_POINTS[i] * 16 * (128 - w) + SQUASH_POINTS[i + 1] * 16 * w + 64) >> 7;
    let p = p as u32;
    if p < P_MIN {
        P_MIN
    } else if p > 65536 - P_MIN {
        65536 - P_MIN
    } else {
        p
    }
}

/// [`squash_of`] for `d + 2048`, `d` in -2048..2048.
static SQUASH: [u16; 4096] = {
    let mut t = [0u16; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = squash_of(i as i32 - 2048) as u16;
        i += 1;
    }
    t
};

/// The inverse of `squash` on 12-bit probabilities (`p >> 4` of a 16-bit one): within -2047..=2047.
static STRETCH: [i16; 4096] = {
    let mut t = [0i16; 4096];
    let mut pi = 0usize;
    let mut x = -2047i32;
    while x <= 2047 {
        let v = (squash_of(x) >> 4) as usize;
        let mut i = pi;
        while i <= v && i < 4096 {
            t[i] = x as i16;
            i += 1;
        }
        if v + 1 > pi {
            pi = v + 1;
        }
        x += 1;
    }
    while pi < 4096 {
        t[pi] = 2047;
        pi += 1;
    }
    t
};

/// The stretched value (1/256 units) of a 16-bit probability.
#[inline(always)]
pub(crate) fn stretch(p: u32) -> i32 {
    STRETCH[(p >> 4) as usize & 4095] as i32
}

/// The 16-bit probability of a stretched value.
#[inline(always)]
pub(crate) fn squash(d: i32) -> u32 {
    SQUASH[(d.clamp(-2047, 2047) + 2048) as usize] as u32
}

/// One weight set of a mixer of `N` stretched inputs (the last one usually a constant bias), in 1/65536.
#[derive(Clone, Copy)]
pub(crate) struct Mixer<const N: usize> {
    w: [i32; N],
}

impl<const N: usize> Mixer<N> {
    /// Weights `w0` (1/65536) each.
    pub(crate) const fn new(w0: i32) -> Self {
        Mixer { w: [w0; N] }
    }

    /// The mixed value in the stretched domain.
    #[inline(always)]
    pub(crate) fn dot(&self, x: &[i32; N]) -> i32 {
        let mut s: i64 = 0;
        for k in 0..N {
            s += self.w[k] as i64 * x[k] as i64;
        }
        (s >> 16).clamp(-2047, 2047) as i32
    }

    /// Learns from the coded bit: `err` is `(target - p) >> 4` with `target` 65535 for a 0 bit, else 0 (so within
    /// -4095..=4095), `lr` the learning rate.
    #[inline(always)]
    pub(crate) fn update(&mut self, x: &[i32; N], err: i32, lr: i32) {
        let e = err * lr;
        for k in 0..N {
            self.w[k] = (self.w[k] + ((x[k] * e + (1 << 13)) >> 14)).clamp(-(1 << 22), 1 << 22);
        }
    }
}

/// An adaptive probability map: a probability per stretched input (33 cells, interpolated) in one context.
#[derive(Clone, Copy)]
pub(crate) struct Apm {
    t: [u16; 33],
}

impl Apm {
    /// The identity map.
    pub(crate) const NEW: Apm = {
        let mut t = [0u16; 33];
        let mut j = 0;
        while j < 33 {
            t[j] = squash_of((j as i32 - 16) * 128) as u16;
            j += 1;
        }
        Apm { t }
    };

    /// The refined probability of stretched `d`, and the cell to update.
    #[inline(always)]
    pub(crate) fn p(&self, d: i32) -> (u32, usize) {
        let s = (d.clamp(-2047, 2047) + 2048) as u32;
        let (lo, w) = ((s >> 7) as usize, s & 127);
        let p = (self.t[lo] as u32 * (128 - w) + self.t[(lo + 1).min(32)] as u32 * w) >> 7;
        (p, lo + (w >> 6) as usize)
    }

    /// Moves cell `i` toward the coded bit by `1 / 2^rate`.
    #[inline(always)]
    pub(crate) fn update(&mut self, i: usize, bit: u32, rate: u32) {
        let c = &mut self.t[i.min(32)];
        let target = if bit == 0 { 65536 - P_MIN as i32 } else { P_MIN as i32 };
        *c = (*c as i32 + ((target - *c as i32) >> rate)) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_and_stretch_are_monotonic_inverses() {
        let mut last = 0;
        for d in -2047..=2047 {
            let p = squash(d);
            assert!(p >= last && (P_MIN..=65536 - P_MIN).contains(&p));
            last = p;
            if d.abs() <= 1200 {
                // Beyond, 12 bits of probability resolve the stretched value coarsely.
                assert!((stretch(p) - d).abs() <= 40, "{d} {p} {}", stretch(p));
            }
        }
        assert_eq!(squash(0), 32752);
        let mut last = -2048;
        for p in 0..65536 {
            assert!(stretch(p) >= last);
            last = stretch(p);
        }
    }

    #[test]
    fn apm_starts_as_the_identity_and_learns() {
        let mut a = Apm::NEW;
        for d in [-2000, -500, 0, 700, 2047] {
            assert!((a.p(d).0 as i32 - squash(d) as i32).abs() < 400, "{d}");
        }
        for _ in 0..200 {
            let (_, i) = a.p(0);
            a.update(i, 1, 5);
        }
        assert!(a.p(0).0 < 4000);
    }
}
