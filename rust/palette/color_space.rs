//! Colour spaces for palettes: sRGB as stored (bytes 0..255) and Oklab (perceptual).
//!
//! Clustering and nearest-colour search work on `[f32; 3]` points. In RGB a point is the byte triple itself; in Oklab
//! it is Björn Ottosson's Oklab of the sRGB colour, scaled by 255 so that distances have magnitudes like RGB's and the
//! same tolerances make sense in both.

use crate::error::{Error, Result};

/// Where distances between colours are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSpace {
    /// Euclidean distance between sRGB byte triples (what PSNR measures).
    Rgb,
    /// Euclidean distance in Oklab, times 255 (closer to perceived difference).
    Oklab,
}

impl ColorSpace {
    /// Parses the Python spelling: `"rgb"` or `"oklab"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "rgb" => Ok(ColorSpace::Rgb),
            "oklab" => Ok(ColorSpace::Oklab),
            _ => Err(Error::value("color_space", format!("expected 'rgb' or 'oklab', got {s:?}"))),
        }
    }

    /// The point of an sRGB colour given as floats in 0..255.
    #[inline]
    pub fn point(self, rgb: [f32; 3]) -> [f32; 3] {
        match self {
            ColorSpace::Rgb => rgb,
            ColorSpace::Oklab => oklab_from_srgb(rgb),
        }
    }

    /// The sRGB byte triple nearest (by rounding and clamping) to point `p` of this space.
    pub fn to_rgb8(self, p: [f32; 3]) -> [u8; 3] {
        let rgb = match self {
            ColorSpace::Rgb => p,
            ColorSpace::Oklab => srgb_from_oklab(p),
        };
        rgb.map(|v| v.round().clamp(0.0, 255.0) as u8)
    }
}

/// sRGB value 0..255 to linear light 0..1.
#[inline]
fn to_linear(v: f32) -> f32 {
    let v = v / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light 0..1 to an sRGB value 0..255 (not clamped).
#[inline]
fn from_linear(v: f32) -> f32 {
    let s = if v <= 0.003_130_8 { 12.92 * v } else { 1.055 * v.max(0.0).powf(1.0 / 2.4) - 0.055 };
    s * 255.0
}

/// Oklab (times 255) of an sRGB colour with components in 0..255.
pub fn oklab_from_srgb(rgb: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = rgb.map(to_linear);
    let l = (0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b).cbrt();
    let m = (0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b).cbrt();
    let s = (0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b).cbrt();
    [
        255.0 * (0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s),
        255.0 * (1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s),
        255.0 * (0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s),
    ]
}

/// sRGB (floats 0..255, not clamped) of an Oklab point (times 255).
pub fn srgb_from_oklab(p: [f32; 3]) -> [f32; 3] {
    let [ll, a, b] = p.map(|v| v / 255.0);
    let l = (ll + 0.396_337_78 * a + 0.215_803_76 * b).powi(3);
    let m = (ll - 0.105_561_346 * a - 0.063_854_17 * b).powi(3);
    let s = (ll - 0.089_484_18 * a - 1.291_485_5 * b).powi(3);
    [
        from_linear(4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s),
        from_linear(-1.268_438 * l + 2.609_757_4 * m - 0.341_319_4 * s),
        from_linear(-0.004_196_086_3 * l - 0.703_418_6 * m + 1.707_614_7 * s),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_argument() {
        assert_eq!(ColorSpace::parse("oklab").unwrap(), ColorSpace::Oklab);
        assert_eq!(ColorSpace::parse("rgb").unwrap(), ColorSpace::Rgb);
        let e = ColorSpace::parse("hsv").unwrap_err();
        assert!(e.to_string().starts_with("color_space:"));
    }

    #[test]
    fn oklab_round_trips_every_grey_and_corner() {
        let mut colours: Vec<[u8; 3]> = (0..=255u8).map(|v| [v, v, v]).collect();
        for i in 0..8u8 {
            colours.push([(i & 1) * 255, ((i >> 1) & 1) * 255, ((i >> 2) & 1) * 255]);
        }
        colours.push([12, 200, 77]);
        for c in colours {
            let p = ColorSpace::Oklab.point(c.map(f32::from));
            assert_eq!(ColorSpace::Oklab.to_rgb8(p), c, "{c:?} -> {p:?}");
        }
    }

    #[test]
    fn oklab_of_white_is_l_one() {
        let p = oklab_from_srgb([255.0; 3]);
        assert!((p[0] - 255.0).abs() < 0.1 && p[1].abs() < 0.1 && p[2].abs() < 0.1, "{p:?}");
    }
}
