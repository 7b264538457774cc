//! Scalar float math for the transforms, written only with +, -, *, /, sqrt, comparisons and
//! bit operations. IEEE 754 rounds each of these exactly, and Rust never fuses a multiply and
//! an add on its own, so every CPU path (scalar, SSE2, AVX2, AVX-512, NEON) gives the same bits.
//! Library `ln` is avoided for the same reason and because it does not vectorise.
//!
//! Coefficients are copied digit for digit from their published sources (Cephes, Giles, AS 241,
//! fdlibm) so they can be checked against them; the compiler rounds them to the nearest float.
#![allow(clippy::excessive_precision)]

/// ln(x) for positive normal `x`; Cephes `logf` (about 1 ulp).
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > core::f32::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    exponent += big as i32;
    let f = m - 1.0;
    let z = f * f;
    let mut p = 7.037_683_6e-2_f32;
    p = p * f - 1.151_461e-1;
    p = p * f + 1.167_699_9e-1;
    p = p * f - 1.242_014_1e-1;
    p = p * f + 1.424_932_3e-1;
    p = p * f - 1.666_805_8e-1;
    p = p * f + 2.000_071_5e-1;
    p = p * f - 2.499_999_4e-1;
    p = p * f + 3.333_333_1e-1;
    let e = exponent as f32;
    let mut y = p * f * z;
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    (f + y) + 0.693_359_375 * e
}

/// ln(x) for positive normal `x`; the fdlibm `__ieee754_log` kernel (below 1 ulp).
#[inline(always)]
pub fn ln_f64(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG: [f64; 7] = [
        6.666_666_666_666_735_130e-01,
        3.999_999_999_940_941_908e-01,
        2.857_142_874_366_239_149e-01,
        2.222_219_843_214_978_396e-01,
        1.818_357_216_161_805_012e-01,
        1.531_383_769_920_937_332e-01,
        1.479_819_860_511_658_591e-01,
    ];
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > core::f64::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    exponent += big as i64;
    let f = m - 1.0;
    let k = exponent as f64;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// Giles' single-precision erfinv ("Approximating the erfinv function", GPU Computing Gems,
/// 2011), split so callers can skip the rare tail branch: `w = -ln(1 - x^2)`, and
/// erfinv(x) = poly(w) * x with the central polynomial for w < 5, the tail one otherwise.
#[inline(always)]
pub fn giles_w(q: f32) -> f32 {
    // 1 - x^2 = (1 - |x|)(1 + |x|) = q (2 - q), with q = 1 - |x| held exactly by the caller.
    -ln_f32(q * (2.0 - q))
}

pub const GILES_SPLIT: f32 = 5.0;

#[inline(always)]
pub fn giles_central(w: f32) -> f32 {
    let w = w - 2.5;
    let mut p = 2.810_226_36e-08_f32;
    p = 3.432_739_39e-07 + p * w;
    p = -3.523_387_7e-06 + p * w;
    p = -4.391_506_54e-06 + p * w;
    p = 2.185_808_7e-04 + p * w;
    p = -1.253_725_03e-03 + p * w;
    p = -4.177_681_64e-03 + p * w;
    p = 2.466_407_27e-01 + p * w;
    1.501_409_41 + p * w
}

#[inline(always)]
pub fn giles_tail(w: f32) -> f32 {
    let w = w.sqrt() - 3.0;
    let mut p = -2.002_142_57e-04_f32;
    p = 1.009_505_58e-04 + p * w;
    p = 1.349_343_22e-03 + p * w;
    p = -3.673_428_44e-03 + p * w;
    p = 5.739_507_73e-03 + p * w;
    p = -7.622_461_3e-03 + p * w;
    p = 9.438_870_47e-03 + p * w;
    p = 1.001_674_06 + p * w;
    2.832_976_82 + p * w
}

/// Giles fitted his tail polynomial for w up to about 16 (1 - |x| >= 2^-23); the 31-bit
/// draws reach w = 21.5, where it drifts to 4e-4 relative error. Those lanes (about 1 in 10^7)
/// use AS 241 in double precision instead.
pub const GILES_FAR: f32 = 16.0;

#[inline(always)]
pub fn giles_far(abs_x: f32, q: f32) -> f32 {
    ndtri_abs_f64(f64::from(abs_x) * 0.5, f64::from(q) * 0.5) as f32
}

/// |Phi^-1(p)| in single precision from `abs_x` = |2p - 1| and `q` = 2 min(p, 1 - p), both
/// supplied exactly by the caller so that neither tail loses precision.
#[inline(always)]
pub fn ndtri_abs_f32(abs_x: f32, q: f32) -> f32 {
    let w = giles_w(q);
    if w >= GILES_FAR {
        return giles_far(abs_x, q);
    }
    let poly = if w < GILES_SPLIT {
        giles_central(w)
    } else {
        giles_tail(w)
    };
    poly * abs_x * core::f32::consts::SQRT_2
}

/// Wichura's AS 241 (PPND16), relative accuracy about 1e-16, split like Giles' erfinv.
/// `c` = |p - 0.5| and `t` = min(p, 1 - p); the result is |Phi^-1(p)|.
pub const AS241_SPLIT: f64 = 0.425;

#[inline(always)]
pub fn as241_central(c: f64) -> f64 {
    let r = 0.180_625 - c * c;
    let num = ((((((2_509.080_928_730_122_672_7 * r + 33_430.575_583_588_128_105) * r
        + 67_265.770_927_008_700_853)
        * r
        + 45_921.953_931_549_871_457)
        * r
        + 13_731.693_765_509_461_125)
        * r
        + 1_971.590_950_306_551_442_7)
        * r
        + 133.141_667_891_784_377_45)
        * r
        + 3.387_132_872_796_366_608;
    let den = ((((((5_226.495_278_852_545_925 * r + 28_729.085_735_721_942_674) * r
        + 39_307.895_800_092_710_61)
        * r
        + 21_213.794_301_586_595_867)
        * r
        + 5_394.196_021_424_751_107_7)
        * r
        + 687.187_007_492_057_908_3)
        * r
        + 42.313_330_701_600_911_252)
        * r
        + 1.0;
    c * num / den
}

/// The tail variable r = sqrt(-ln t) of AS 241.
#[inline(always)]
pub fn as241_r(t: f64) -> f64 {
    (-ln_f64(t)).sqrt()
}

pub const AS241_FAR: f64 = 5.0;

/// AS 241 for 0.425 < |p - 0.5| and r <= 5.
#[inline(always)]
pub fn as241_near_tail(r: f64) -> f64 {
    let r = r - 1.6;
    let num = ((((((7.745_450_142_783_414_076_4e-4 * r + 2.272_384_498_926_918_458_33e-2) * r
        + 2.417_807_251_774_506_117_7e-1)
        * r
        + 1.270_458_252_452_368_382_58)
        * r
        + 3.647_848_324_763_204_605_04)
        * r
        + 5.769_497_221_460_691_405_5)
        * r
        + 4.630_337_846_156_545_295_9)
        * r
        + 1.423_437_110_749_683_577_34;
    let den = ((((((1.050_750_071_644_416_843_24e-9 * r + 5.475_938_084_995_344_946e-4) * r
        + 1.519_866_656_361_645_719_66e-2)
        * r
        + 1.481_039_764_274_800_745_9e-1)
        * r
        + 6.897_673_349_851_000_045_5e-1)
        * r
        + 1.676_384_830_183_803_849_4)
        * r
        + 2.053_191_626_637_758_821_87)
        * r
        + 1.0;
    num / den
}

/// AS 241 for r > 5 (p below about 1.4e-11).
#[inline(always)]
pub fn as241_far_tail(r: f64) -> f64 {
    let r = r - 5.0;
    let num = ((((((2.010_334_399_292_288_132_65e-7 * r + 2.711_555_568_743_487_578_15e-5) * r
        + 1.242_660_947_388_078_438_6e-3)
        * r
        + 2.653_218_952_657_612_309_3e-2)
        * r
        + 2.965_605_718_285_048_912_3e-1)
        * r
        + 1.784_826_539_917_291_335_8)
        * r
        + 5.463_784_911_164_114_369_9)
        * r
        + 6.657_904_643_501_103_777_2;
    let den = ((((((2.044_263_103_389_939_785_64e-15 * r + 1.421_511_758_316_445_888_7e-7) * r
        + 1.846_318_317_510_054_681_8e-5)
        * r
        + 7.868_691_311_456_132_591e-4)
        * r
        + 1.487_536_129_085_061_485_25e-2)
        * r
        + 1.369_298_809_227_358_053_1e-1)
        * r
        + 5.998_322_065_558_879_376_9e-1)
        * r
        + 1.0;
    num / den
}

#[inline(always)]
pub fn ndtri_abs_f64(c: f64, t: f64) -> f64 {
    if c <= AS241_SPLIT {
        as241_central(c)
    } else {
        let r = as241_r(t);
        if r <= AS241_FAR {
            as241_near_tail(r)
        } else {
            as241_far_tail(r)
        }
    }
}

/// Phi(x), the standard normal CDF, for set-up work (not per element).
pub fn ndtr(x: f64) -> f64 {
    0.5 * libm::erfc(-x / core::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Phi^-1 through the public split, from p alone, for tests.
    fn ndtri(p: f64) -> f64 {
        let c = (p - 0.5).abs();
        let t = p.min(1.0 - p);
        let z = ndtri_abs_f64(c, t);
        if p < 0.5 {
            -z
        } else {
            z
        }
    }

    #[test]
    fn ln_f32_is_within_two_ulp() {
        let mut x = 1.0e-12_f32;
        while x < 4.0 {
            let exact = (x as f64).ln();
            let got = ln_f32(x) as f64;
            let ulp = f32::EPSILON as f64 * exact.abs().max(f32::MIN_POSITIVE as f64);
            assert!(
                (got - exact).abs() <= 2.0 * ulp + 1e-7 * (exact.abs() < 1e-3) as u8 as f64,
                "ln_f32({x}) = {got}, exact {exact}"
            );
            x *= 1.000_37;
        }
    }

    #[test]
    fn ln_f64_is_within_one_ulp() {
        let mut x = 1.0e-300_f64;
        while x < 4.0 {
            let exact = x.ln();
            let got = ln_f64(x);
            assert!(
                (got - exact).abs() <= 1.0 * f64::EPSILON * exact.abs().max(1e-300),
                "ln_f64({x}) = {got}, std {exact}"
            );
            x *= 1.000_731;
        }
    }

    #[test]
    fn as241_inverts_phi() {
        // Relative error in p, measured through the independent libm erfc.
        let mut p = 1e-300_f64;
        while p < 1.0 {
            let back = ndtr(ndtri(p));
            let tail = p.min(1.0 - p);
            let err = (back - p).abs() / tail;
            assert!(
                err < 2e-13 * (1.0 + ndtri(p).abs()).powi(2),
                "p={p} back={back} err={err}"
            );
            p = if p < 0.5 {
                p * 1.37
            } else {
                1.0 - (1.0 - p) / 1.37
            };
            if (p - 0.5).abs() < 1e-3 {
                p = 0.5 + 1e-3;
            }
            if 1.0 - p < 1e-15 {
                break;
            }
        }
        assert!((ndtri(0.975) - 1.959_963_984_540_054).abs() < 1e-14);
        assert_eq!(ndtri(0.5), 0.0);
    }

    #[test]
    fn giles_matches_as241_in_single_precision() {
        // Every scale of tail probability the f32 normal transform can reach (q >= 2^-32).
        let mut worst: f64 = 0.0;
        let mut q = 2f32.powi(-32);
        while q <= 1.0 {
            let abs_x = 1.0 - q;
            let z = ndtri_abs_f32(abs_x, q) as f64;
            let reference = ndtri_abs_f64(abs_x as f64 / 2.0, q as f64 / 2.0);
            let err = (z - reference).abs() / reference.max(1e-3);
            worst = worst.max(err);
            q *= 1.0007;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
    }
}
