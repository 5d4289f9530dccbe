//! Image quality metrics on 8-bit images: squared error and SSIM.

use crate::alloc::zeroed;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// The sum of squared differences of two equally long byte buffers (exact).
pub fn squared_error_sum(a: &[u8], b: &[u8]) -> Result<u64> {
    if a.len() != b.len() {
        return Err(Error::value("b", format!("expected {} values like a, got {}", a.len(), b.len())));
    }
    let chunk = |(x, y): (&[u8], &[u8])| -> u64 {
        // Sums of u32 over 4096 values cannot overflow (4096 * 255^2 < 2^32) and vectorise well.
        x.chunks(4096)
            .zip(y.chunks(4096))
            .map(|(x, y)| {
                x.iter()
                    .zip(y)
                    .map(|(&p, &q)| {
                        let d = (p as i32 - q as i32).unsigned_abs();
                        d * d
                    })
                    .sum::<u32>() as u64
            })
            .sum()
    };
    Ok(a.par_chunks(1 << 18).zip(b.par_chunks(1 << 18)).map(chunk).sum())
}

/// Mean squared error of two equally long byte buffers.
pub fn mse(a: &[u8], b: &[u8]) -> Result<f64> {
    if a.is_empty() {
        return Err(Error::value("a", "expected a non-empty image"));
    }
    Ok(squared_error_sum(a, b)? as f64 / a.len() as f64)
}

/// Standard deviation of the Gaussian window (Wang et al. 2004).
pub const SSIM_SIGMA: f64 = 1.5;
/// Window radius: `int(3.5 * sigma + 0.5)`, as scikit-image truncates its Gaussian (an 11 x 11 window).
pub const SSIM_RADIUS: usize = 5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

fn gaussian_window() -> [f64; 2 * SSIM_RADIUS + 1] {
    let mut w: [f64; 2 * SSIM_RADIUS + 1] = std::array::from_fn(|i| {
        let x = i as f64 - SSIM_RADIUS as f64;
        (-0.5 * x * x / (SSIM_SIGMA * SSIM_SIGMA)).exp()
    });
    let s: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= s);
    w
}

/// Mean SSIM of two interleaved `height x width x channels` images with values in `0..=data_range`.
///
/// The Gaussian-weighted SSIM of Wang et al. (sigma 1.5, K1 0.01, K2 0.03, population covariances), averaged over the
/// pixels whose whole 11 x 11 window lies inside the image, then over channels. This is what scikit-image's
/// `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` computes (it crops the
/// border the window overlaps, so its padding mode never matters). Needs height and width of at least 11.
pub fn ssim(a: &[u8], b: &[u8], height: usize, width: usize, channels: usize, data_range: f64) -> Result<f64> {
    let n = height
        .checked_mul(width)
        .and_then(|v| v.checked_mul(channels))
        .ok_or_else(|| Error::value("a", "image dimensions overflow"))?;
    if a.len() != n || b.len() != n {
        return Err(Error::value("b", format!("expected {n} values for both images, got {} and {}", a.len(), b.len())));
    }
    let win = 2 * SSIM_RADIUS + 1;
    if height < win || width < win {
        return Err(Error::value(
            "a",
            format!("SSIM needs images of at least {win} x {win} pixels, got {height} x {width}"),
        ));
    }
    if channels == 0 {
        return Err(Error::value("a", "expected 1..4 channels, got 0"));
    }
    if !(data_range > 0.0 && data_range.is_finite()) {
        return Err(Error::value("data_range", format!("expected a finite number > 0, got {data_range}")));
    }
    let c1 = (K1 * data_range).powi(2);
    let c2 = (K2 * data_range).powi(2);
    let range_error = || {
        Error::value(
            "data_range",
            format!(
                "expected a number at which SSIM is defined in floating point (about 1e-150..1e75), got {data_range:e}"
            ),
        )
    };
    // c1 must not underflow to 0 (0/0 on flat regions) and the formula's products must not overflow.
    if !(c1 > 0.0 && (c1 * c2 * 16.0).is_finite()) {
        return Err(range_error());
    }
    let w = gaussian_window();
    let (out_h, out_w) = (height - 2 * SSIM_RADIUS, width - 2 * SSIM_RADIUS);
    // Each task filters a tile of output pixels (BAND rows x TILE columns) of one channel: the horizontal pass over
    // the tile's input rows into five moment planes, then the vertical pass. A task's buffer is
    // (BAND + 10) x TILE x 40 bytes, about 1.7 MB whatever the image's size; the tiles' sums are added in a fixed
    // order, so the result does not depend on the thread count.
    const BAND: usize = 32;
    const TILE: usize = 1024;
    let tasks: Vec<(usize, usize, usize)> = (0..channels)
        .flat_map(|c| (0..out_h).step_by(BAND).flat_map(move |r| (0..out_w).step_by(TILE).map(move |x| (c, r, x))))
        .collect();
    let sums = tasks
        .par_iter()
        .map(|&(c, r0, x0)| -> Result<f64> {
            let r1 = (r0 + BAND).min(out_h);
            let x1 = (x0 + TILE).min(out_w);
            let tw = x1 - x0;
            let rows = r1 - r0 + 2 * SSIM_RADIUS;
            let mut h = zeroed::<[f64; 5]>(rows * tw)?;
            for i in 0..rows {
                let base = (r0 + i) * width * channels + c;
                for x in 0..tw {
                    let mut m = [0.0f64; 5];
                    for (k, &wk) in w.iter().enumerate() {
                        let p = base + (x0 + x + k) * channels;
                        let (u, v) = (a[p] as f64, b[p] as f64);
                        m[0] += wk * u;
                        m[1] += wk * v;
                        m[2] += wk * u * u;
                        m[3] += wk * v * v;
                        m[4] += wk * u * v;
                    }
                    h[i * tw + x] = m;
                }
            }
            let mut sum = 0.0;
            for i in 0..(r1 - r0) {
                for x in 0..tw {
                    let mut m = [0.0f64; 5];
                    for (k, &wk) in w.iter().enumerate() {
                        let hv = &h[(i + k) * tw + x];
                        for j in 0..5 {
                            m[j] += wk * hv[j];
                        }
                    }
                    let (ux, uy) = (m[0], m[1]);
                    let vx = m[2] - ux * ux;
                    let vy = m[3] - uy * uy;
                    let vxy = m[4] - ux * uy;
                    sum += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
                }
            }
            Ok(sum)
        })
        .collect::<Result<Vec<f64>>>()?;
    let total: f64 = sums.iter().sum();
    if !total.is_finite() {
        return Err(range_error());
    }
    Ok(total / (out_h * out_w * channels) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_is_exact() {
        let a: Vec<u8> = (0..1000).map(|i| (i % 256) as u8).collect();
        let b: Vec<u8> = a.iter().map(|&v| v.saturating_add(3)).collect();
        let want: u64 = a.iter().zip(&b).map(|(&x, &y)| ((y - x) as u64).pow(2)).sum();
        assert_eq!(squared_error_sum(&a, &b).unwrap(), want);
        assert_eq!(mse(&a, &a).unwrap(), 0.0);
        assert!(mse(&a, &b[..10]).is_err());
        let big_a = vec![0u8; 1 << 20];
        let big_b = vec![255u8; 1 << 20];
        assert_eq!(mse(&big_a, &big_b).unwrap(), 65025.0);
    }

    #[test]
    fn window_sums_to_one() {
        let w = gaussian_window();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((w[5] - 0.266_011_4).abs() < 1e-6, "{}", w[5]);
    }

    #[test]
    fn ssim_of_identical_images_is_one_and_drops_with_noise() {
        let (h, w) = (40, 37);
        let a: Vec<u8> = (0..h * w * 3).map(|i| ((i * 7919) % 251) as u8).collect();
        assert!((ssim(&a, &a, h, w, 3, 255.0).unwrap() - 1.0).abs() < 1e-12);
        let b: Vec<u8> = a.iter().enumerate().map(|(i, &v)| v.wrapping_add((i % 5) as u8 * 9)).collect();
        let s = ssim(&a, &b, h, w, 3, 255.0).unwrap();
        assert!(s < 0.99 && s > -1.0, "{s}");
    }

    #[test]
    fn ssim_of_wide_images_matches_a_plain_reference() {
        // Wider than one tile, so the column tiling is exercised; the reference is the textbook definition.
        let (h, w) = (13, 2100);
        let a: Vec<u8> = (0..h * w).map(|i| ((i * 7919) % 251) as u8).collect();
        let b: Vec<u8> = a.iter().enumerate().map(|(i, &v)| v.wrapping_add((i % 7) as u8 * 5)).collect();
        let g = gaussian_window();
        let (c1, c2) = ((K1 * 255.0f64).powi(2), (K2 * 255.0f64).powi(2));
        let mut want = 0.0;
        for y in SSIM_RADIUS..h - SSIM_RADIUS {
            for x in SSIM_RADIUS..w - SSIM_RADIUS {
                let mut m = [0.0f64; 5];
                for dy in 0..11 {
                    for dx in 0..11 {
                        let p = (y + dy - SSIM_RADIUS) * w + x + dx - SSIM_RADIUS;
                        let (u, v, k) = (a[p] as f64, b[p] as f64, g[dy] * g[dx]);
                        m = [m[0] + k * u, m[1] + k * v, m[2] + k * u * u, m[3] + k * v * v, m[4] + k * u * v];
                    }
                }
                let (vx, vy, vxy) = (m[2] - m[0] * m[0], m[3] - m[1] * m[1], m[4] - m[0] * m[1]);
                want +=
                    ((2.0 * m[0] * m[1] + c1) * (2.0 * vxy + c2)) / ((m[0] * m[0] + m[1] * m[1] + c1) * (vx + vy + c2));
            }
        }
        want /= ((h - 10) * (w - 10)) as f64;
        let got = ssim(&a, &b, h, w, 1, 255.0).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} {want}");
    }

    #[test]
    fn ssim_rejects_small_or_mismatched_images() {
        let a = vec![0u8; 10 * 10];
        assert!(ssim(&a, &a, 10, 10, 1, 255.0).is_err());
        let b = vec![0u8; 11 * 11];
        assert!(ssim(&b, &a, 11, 11, 1, 255.0).is_err());
        assert!(ssim(&b, &b, 11, 11, 1, 0.0).is_err());
    }
}
