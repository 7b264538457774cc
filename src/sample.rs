//! Distributions: how the words of one element become one value, and the contiguous-run kernel.
//!
//! float32 values take one 32-bit word each, float64 values two; element `i` reads block
//! `i / PER_BLOCK` and its lane `i % PER_BLOCK` (docs/stream-spec.md). Each transform has a
//! scalar form (`one`) and a lane-batched form (`many`) built from the same inline pieces, so
//! both give the same bits; the batched forms are written as plain loops over `[_; LANES]`
//! arrays, which LLVM turns into vector code.

use crate::math::*;
use crate::philox::{Stream, LANES};

/// A floating-point element type with its mapping from Philox words to per-value draws.
pub trait Real: Copy + Send + Sync + PartialOrd + 'static {
    /// The random bits of one value.
    type Draw: Copy + Default;
    /// Values per 128-bit Philox block.
    const PER_BLOCK: usize;
    fn from_f64(x: f64) -> Self;
    fn draw(words: &[u32; 4], lane: usize) -> Self::Draw;
    /// `LANES` blocks to `LANES * PER_BLOCK` values, written in element order.
    fn batch<X: Transform<Self>>(x: &X, words: &[[u32; LANES]; 4], out: &mut [Self]);
    #[inline(always)]
    fn clamp_to(self, low: Self, high: Self) -> Self {
        let v = if self < low { low } else { self };
        if v > high {
            high
        } else {
            v
        }
    }
}

impl Real for f32 {
    type Draw = u32;
    const PER_BLOCK: usize = 4;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn draw(words: &[u32; 4], lane: usize) -> u32 {
        words[lane]
    }
    #[inline(always)]
    fn batch<X: Transform<f32>>(x: &X, words: &[[u32; LANES]; 4], out: &mut [f32]) {
        let out = &mut out[..4 * LANES];
        for (k, lane_words) in words.iter().enumerate() {
            let values = x.many(lane_words);
            for j in 0..LANES {
                out[4 * j + k] = values[j];
            }
        }
    }
}

impl Real for f64 {
    type Draw = u64;
    const PER_BLOCK: usize = 2;
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn draw(words: &[u32; 4], lane: usize) -> u64 {
        u64::from(words[2 * lane]) | (u64::from(words[2 * lane + 1]) << 32)
    }
    #[inline(always)]
    fn batch<X: Transform<f64>>(x: &X, words: &[[u32; LANES]; 4], out: &mut [f64]) {
        let out = &mut out[..2 * LANES];
        for k in 0..2 {
            let mut draws = [0u64; LANES];
            for j in 0..LANES {
                draws[j] = u64::from(words[2 * k][j]) | (u64::from(words[2 * k + 1][j]) << 32);
            }
            let values = x.many(&draws);
            for j in 0..LANES {
                out[2 * j + k] = values[j];
            }
        }
    }
}

/// A distribution for element type `T`: one value from one draw.
pub trait Transform<T: Real>: Sync {
    fn one(&self, draw: T::Draw) -> T;
    #[inline(always)]
    fn many(&self, draws: &[T::Draw; LANES]) -> [T; LANES] {
        core::array::from_fn(|j| self.one(draws[j]))
    }
}

const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
const TWO_POW_M31: f32 = 1.0 / 2_147_483_648.0;
const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;
const TWO_POW_M64: f64 = 1.0 / 18_446_744_073_709_551_616.0;

/// Symmetric uniform in (-1, 1): the odd integers 2k + 1 - 2^24 over 2^24, exact in f32.
#[inline(always)]
fn signed_unit_f32(draw: u32) -> f32 {
    let k = (draw >> 8) as i32;
    (2 * k + 1 - (1 << 24)) as f32 * TWO_POW_M24
}

#[inline(always)]
fn signed_unit_f64(draw: u64) -> f64 {
    let k = (draw >> 11) as i64;
    (2 * k + 1 - (1 << 53)) as f64 * TWO_POW_M53
}

/// Uniform in (0, 1): (k + 1/2) / 2^24, exact in f32.
#[inline(always)]
fn open_unit_f32(draw: u32) -> f32 {
    ((draw >> 8) as f32 + 0.5) * TWO_POW_M24
}

#[inline(always)]
fn open_unit_f64(draw: u64) -> f64 {
    ((draw >> 11) as f64 + 0.5) * TWO_POW_M53
}

/// The standard-normal parts of one 32-bit draw: (negative, |2p - 1|, 2 min(p, 1 - p)), with
/// the top bit as the sign and the other 31 bits giving both distances exactly.
#[inline(always)]
fn normal_parts_f32(draw: u32) -> (bool, f32, f32) {
    let r = draw & 0x7fff_ffff;
    let abs_x = (r as f32 + 0.5) * TWO_POW_M31;
    let q = ((0x7fff_ffff - r) as f32 + 0.5) * TWO_POW_M31;
    (draw >> 31 != 0, abs_x, q)
}

/// (negative, |p - 0.5|, min(p, 1 - p)) of one 64-bit draw.
#[inline(always)]
fn normal_parts_f64(draw: u64) -> (bool, f64, f64) {
    let r = draw & 0x7fff_ffff_ffff_ffff;
    let c = (r as f64 + 0.5) * TWO_POW_M64;
    let t = ((0x7fff_ffff_ffff_ffff - r) as f64 + 0.5) * TWO_POW_M64;
    (draw >> 63 != 0, c, t)
}

#[inline(always)]
fn with_sign_f32(negative: bool, magnitude: f32) -> f32 {
    f32::from_bits(magnitude.to_bits() | (u32::from(negative) << 31))
}

#[inline(always)]
fn with_sign_f64(negative: bool, magnitude: f64) -> f64 {
    f64::from_bits(magnitude.to_bits() | (u64::from(negative) << 63))
}

/// Lane-batched |Phi^-1| in f32: the tail polynomial runs only for batches that need it.
#[inline(always)]
fn ndtri_abs_many_f32(abs_x: &[f32; LANES], q: &[f32; LANES]) -> [f32; LANES] {
    let w: [f32; LANES] = core::array::from_fn(|j| giles_w(q[j]));
    let mut poly: [f32; LANES] = core::array::from_fn(|j| giles_central(w[j]));
    if w.iter().fold(false, |any, &wj| any | (wj >= GILES_SPLIT)) {
        for j in 0..LANES {
            let tail = giles_tail(w[j]);
            poly[j] = if w[j] < GILES_SPLIT { poly[j] } else { tail };
        }
    }
    let mut z: [f32; LANES] =
        core::array::from_fn(|j| poly[j] * abs_x[j] * core::f32::consts::SQRT_2);
    if w.iter().fold(false, |any, &wj| any | (wj >= GILES_FAR)) {
        for j in 0..LANES {
            if w[j] >= GILES_FAR {
                z[j] = giles_far(abs_x[j], q[j]);
            }
        }
    }
    z
}

/// Lane-batched |Phi^-1| in f64, selecting per lane exactly as `ndtri_abs_f64` branches.
#[inline(always)]
fn ndtri_abs_many_f64(c: &[f64; LANES], t: &[f64; LANES]) -> [f64; LANES] {
    let mut out: [f64; LANES] = core::array::from_fn(|j| as241_central(c[j]));
    if c.iter().fold(false, |any, &cj| any | (cj > AS241_SPLIT)) {
        let r: [f64; LANES] = core::array::from_fn(|j| as241_r(t[j]));
        let near: [f64; LANES] = core::array::from_fn(|j| as241_near_tail(r[j]));
        let far_needed = r.iter().fold(false, |any, &rj| any | (rj > AS241_FAR));
        for j in 0..LANES {
            let tail = if far_needed && r[j] > AS241_FAR {
                as241_far_tail(r[j])
            } else {
                near[j]
            };
            out[j] = if c[j] <= AS241_SPLIT { out[j] } else { tail };
        }
    }
    out
}

/// Normal(mean, std).
#[derive(Clone, Copy, Debug)]
pub struct Normal<T> {
    pub mean: T,
    pub std: T,
}

impl Transform<f32> for Normal<f32> {
    #[inline(always)]
    fn one(&self, draw: u32) -> f32 {
        let (negative, abs_x, q) = normal_parts_f32(draw);
        self.mean + self.std * with_sign_f32(negative, ndtri_abs_f32(abs_x, q))
    }
    #[inline(always)]
    fn many(&self, draws: &[u32; LANES]) -> [f32; LANES] {
        let parts: [(bool, f32, f32); LANES] = core::array::from_fn(|j| normal_parts_f32(draws[j]));
        let z = ndtri_abs_many_f32(&parts.map(|p| p.1), &parts.map(|p| p.2));
        core::array::from_fn(|j| self.mean + self.std * with_sign_f32(parts[j].0, z[j]))
    }
}

impl Transform<f64> for Normal<f64> {
    #[inline(always)]
    fn one(&self, draw: u64) -> f64 {
        let (negative, c, t) = normal_parts_f64(draw);
        self.mean + self.std * with_sign_f64(negative, ndtri_abs_f64(c, t))
    }
    #[inline(always)]
    fn many(&self, draws: &[u64; LANES]) -> [f64; LANES] {
        let parts: [(bool, f64, f64); LANES] = core::array::from_fn(|j| normal_parts_f64(draws[j]));
        let z = ndtri_abs_many_f64(&parts.map(|p| p.1), &parts.map(|p| p.2));
        core::array::from_fn(|j| self.mean + self.std * with_sign_f64(parts[j].0, z[j]))
    }
}

/// Uniform on [low, high]: center + half_width * s with s symmetric in (-1, 1), so a symmetric
/// range gives an exactly symmetric distribution; the clamp only catches rounding.
#[derive(Clone, Copy, Debug)]
pub struct Uniform<T> {
    center: T,
    half_width: T,
    low: T,
    high: T,
}

impl<T: Real> Uniform<T> {
    pub fn new(low: f64, high: f64) -> Self {
        Self {
            center: T::from_f64(0.5 * low + 0.5 * high),
            half_width: T::from_f64(0.5 * high - 0.5 * low),
            low: T::from_f64(low),
            high: T::from_f64(high),
        }
    }
}

impl Transform<f32> for Uniform<f32> {
    #[inline(always)]
    fn one(&self, draw: u32) -> f32 {
        (self.center + self.half_width * signed_unit_f32(draw)).clamp_to(self.low, self.high)
    }
}

impl Transform<f64> for Uniform<f64> {
    #[inline(always)]
    fn one(&self, draw: u64) -> f64 {
        (self.center + self.half_width * signed_unit_f64(draw)).clamp_to(self.low, self.high)
    }
}

/// Normal(mean, std) truncated to [low, high], by the exact inverse CDF:
/// z = Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))) with one draw per value.
/// An interval entirely above the mean is sampled as its mirror image below it, so that p is
/// always a small, precisely held lower-tail probability where the interval is in a tail.
#[derive(Clone, Copy, Debug)]
pub struct TruncNormal<T> {
    mean: T,
    std: T,
    low: T,
    high: T,
    p_low: T,
    p_width: T,
    mirrored: bool,
    /// float32 output whose whole interval lies beyond 5 sigma: computed in f64 (see new()).
    wide_math: Option<(f64, f64)>,
}

impl<T: Real> TruncNormal<T> {
    /// Standardised bounds must satisfy alpha < beta (the caller validates).
    pub fn new(mean: f64, std: f64, low: f64, high: f64, wide_math_below: f64) -> Self {
        let (alpha, beta) = ((low - mean) / std, (high - mean) / std);
        let mirrored = alpha > 0.0;
        let (alpha, beta) = if mirrored {
            (-beta, -alpha)
        } else {
            (alpha, beta)
        };
        let (p_low, p_high) = (ndtr(alpha), ndtr(beta));
        // In single precision Phi^-1 loses accuracy where Phi(beta) is tiny: use f64 math there.
        let wide_math = (beta < wide_math_below).then_some((p_low, p_high - p_low));
        Self {
            mean: T::from_f64(mean),
            std: T::from_f64(std),
            low: T::from_f64(low),
            high: T::from_f64(high),
            p_low: T::from_f64(p_low),
            p_width: T::from_f64(p_high - p_low),
            mirrored,
            wide_math,
        }
    }

    #[inline(always)]
    fn finish(&self, z: T, to_value: impl Fn(T, T, T) -> T) -> T {
        to_value(self.mean, self.std, z).clamp_to(self.low, self.high)
    }
}

/// (negative, |2p - 1| or |p - 1/2|-style centre distance, tail) of a probability p, as the
/// f32 / f64 inverse CDFs take them.
#[inline(always)]
fn prob_parts_f32(p: f32) -> (bool, f32, f32) {
    let upper = 1.0 - p;
    (
        (p < 0.5),
        (p + p - 1.0).abs(),
        2.0 * if p < upper { p } else { upper },
    )
}

#[inline(always)]
fn prob_parts_f64(p: f64) -> (bool, f64, f64) {
    let upper = 1.0 - p;
    (
        (p < 0.5),
        (p - 0.5).abs(),
        if p < upper { p } else { upper },
    )
}

#[inline(always)]
fn affine_f32(mean: f32, std: f32, z: f32) -> f32 {
    mean + std * z
}

#[inline(always)]
fn affine_f64(mean: f64, std: f64, z: f64) -> f64 {
    mean + std * z
}

impl Transform<f32> for TruncNormal<f32> {
    #[inline(always)]
    fn one(&self, draw: u32) -> f32 {
        let z = match self.wide_math {
            None => {
                let p = self.p_low + open_unit_f32(draw) * self.p_width;
                let (negative, abs_x, q) = prob_parts_f32(p);
                with_sign_f32(negative, ndtri_abs_f32(abs_x, q))
            }
            Some((p_low, p_width)) => {
                let u = (f64::from(draw) + 0.5) * (1.0 / 4_294_967_296.0);
                let (negative, c, t) = prob_parts_f64(p_low + u * p_width);
                with_sign_f64(negative, ndtri_abs_f64(c, t)) as f32
            }
        };
        self.finish(if self.mirrored { -z } else { z }, affine_f32)
    }
    #[inline(always)]
    fn many(&self, draws: &[u32; LANES]) -> [f32; LANES] {
        if self.wide_math.is_some() {
            return core::array::from_fn(|j| self.one(draws[j]));
        }
        let parts: [(bool, f32, f32); LANES] = core::array::from_fn(|j| {
            prob_parts_f32(self.p_low + open_unit_f32(draws[j]) * self.p_width)
        });
        let z = ndtri_abs_many_f32(&parts.map(|p| p.1), &parts.map(|p| p.2));
        core::array::from_fn(|j| {
            let z = with_sign_f32(parts[j].0, z[j]);
            self.finish(if self.mirrored { -z } else { z }, affine_f32)
        })
    }
}

impl Transform<f64> for TruncNormal<f64> {
    #[inline(always)]
    fn one(&self, draw: u64) -> f64 {
        let (negative, c, t) = prob_parts_f64(self.p_low + open_unit_f64(draw) * self.p_width);
        let z = with_sign_f64(negative, ndtri_abs_f64(c, t));
        self.finish(if self.mirrored { -z } else { z }, affine_f64)
    }
    #[inline(always)]
    fn many(&self, draws: &[u64; LANES]) -> [f64; LANES] {
        let parts: [(bool, f64, f64); LANES] = core::array::from_fn(|j| {
            prob_parts_f64(self.p_low + open_unit_f64(draws[j]) * self.p_width)
        });
        let z = ndtri_abs_many_f64(&parts.map(|p| p.1), &parts.map(|p| p.2));
        core::array::from_fn(|j| {
            let z = with_sign_f64(parts[j].0, z[j]);
            self.finish(if self.mirrored { -z } else { z }, affine_f64)
        })
    }
}

/// Fill `out` with elements `first, first + 1, ...` of the stream: scalar up to the first
/// batch boundary, lane-batched through the middle, scalar for the rest.
#[inline(always)]
pub fn fill_run<T: Real, X: Transform<T>>(x: &X, stream: &Stream, out: &mut [T], first: u64) {
    let batch = (LANES * T::PER_BLOCK) as u64;
    let len = out.len() as u64;
    let head = ((batch - first % batch) % batch).min(len) as usize;
    let (head_out, rest) = out.split_at_mut(head);
    fill_scalar(x, stream, head_out, first);
    let mut index = first + head as u64;
    let mut chunks = rest.chunks_exact_mut(batch as usize);
    for chunk in &mut chunks {
        T::batch(x, &stream.blocks(index / T::PER_BLOCK as u64), chunk);
        index += batch;
    }
    fill_scalar(x, stream, chunks.into_remainder(), index);
}

/// One element at a time, computing each block once.
pub fn fill_scalar<T: Real, X: Transform<T>>(x: &X, stream: &Stream, out: &mut [T], first: u64) {
    let per_block = T::PER_BLOCK as u64;
    let mut cached: Option<(u64, [u32; 4])> = None;
    for (offset, slot) in out.iter_mut().enumerate() {
        let index = first + offset as u64;
        let block = index / per_block;
        let words = match cached {
            Some((b, words)) if b == block => words,
            _ => {
                let words = stream.block(block);
                cached = Some((block, words));
                words
            }
        };
        *slot = x.one(T::draw(&words, (index % per_block) as usize));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_paths_agree<T: Real + core::fmt::Debug, X: Transform<T>>(x: &X)
    where
        T: PartialEq,
    {
        let stream = Stream::new(99, 5);
        let n = 1000;
        for first in [0u64, 1, 3, 63, 64, 1_000_003, (1 << 40) + 7] {
            let mut batched = vec![T::from_f64(0.0); n];
            let mut scalar = vec![T::from_f64(0.0); n];
            fill_run(x, &stream, &mut batched, first);
            fill_scalar(x, &stream, &mut scalar, first);
            for (i, (a, b)) in batched.iter().zip(&scalar).enumerate() {
                assert!(
                    a == b || (a != a && b != b),
                    "index {}: batched {a:?} scalar {b:?}",
                    first + i as u64
                );
            }
        }
    }

    #[test]
    fn batched_and_scalar_kernels_give_the_same_bits() {
        check_paths_agree(&Normal {
            mean: 0.5f32,
            std: 2.0,
        });
        check_paths_agree(&Normal {
            mean: 0.5f64,
            std: 2.0,
        });
        check_paths_agree(&Uniform::<f32>::new(-3.0, 1.0));
        check_paths_agree(&Uniform::<f64>::new(-3.0, 1.0));
        for (low, high) in [(-2.0, 2.0), (1.0, f64::INFINITY), (-9.0, -8.0), (6.0, 7.0)] {
            check_paths_agree(&TruncNormal::<f32>::new(0.0, 1.0, low, high, -5.0));
            check_paths_agree(&TruncNormal::<f64>::new(0.0, 1.0, low, high, -5.0));
        }
    }

    #[test]
    fn values_stay_in_bounds() {
        let stream = Stream::new(1, 0);
        let mut out = vec![0f32; 200_000];
        for (low, high) in [(-2.0, 2.0), (0.5, 0.50001), (-9.0, -8.0), (30.0, 31.0)] {
            fill_run(
                &TruncNormal::<f32>::new(0.0, 1.0, low, high, -5.0),
                &stream,
                &mut out,
                0,
            );
            assert!(
                out.iter().all(|&v| v >= low as f32 && v <= high as f32),
                "[{low}, {high}]"
            );
        }
        fill_run(&Uniform::<f32>::new(-1e-3, 1e-3), &stream, &mut out, 0);
        assert!(out.iter().all(|&v| (-1e-3..=1e-3).contains(&v)));
    }

    #[test]
    fn moments_are_right() {
        let stream = Stream::new(2024, 0);
        let n = 1 << 20;
        let mut out = vec![0f64; n];
        let moments = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
            (mean, var)
        };
        fill_run(
            &Normal {
                mean: 1.0,
                std: 3.0,
            },
            &stream,
            &mut out,
            0,
        );
        let (mean, var) = moments(&out);
        // 5-sigma bands: sd(mean) = 3/sqrt(n), sd(var) = 9 sqrt(2/n).
        assert!(
            (mean - 1.0).abs() < 5.0 * 3.0 / (n as f64).sqrt(),
            "mean {mean}"
        );
        assert!(
            (var - 9.0).abs() < 5.0 * 9.0 * (2.0 / n as f64).sqrt(),
            "var {var}"
        );
        fill_run(
            &TruncNormal::<f64>::new(0.0, 1.0, -2.0, 2.0, -5.0),
            &stream,
            &mut out,
            0,
        );
        let (mean, var) = moments(&out);
        let expected_var = 0.879_625_661_034_239_78_f64.powi(2);
        assert!(mean.abs() < 5.0 * expected_var.sqrt() / (n as f64).sqrt());
        assert!(
            (var - expected_var).abs() < 5.0 * 0.6 * (2.0 / n as f64).sqrt(),
            "var {var}"
        );
    }
}
