//! Element types: how the Philox words of one element become its draw, and the
//! precision-specific pieces of the transforms (float32 uses a table of polynomials, float64
//! Wichura's AS 241). The distributions (src/distributions.rs) are written once over `Real`;
//! a new output type is a new `impl Real` here.
//!
//! float32 values take one 32-bit word each, float64 values two (docs/stream-spec.md). Each
//! transform has a scalar form (`one`) and a batched form (`many`) built from the same inline
//! pieces, so both give the same bits; the batched forms are plain loops that LLVM turns into
//! vector code.

use crate::isa::Isa;
use crate::lanes::{Deferred, Lanes, NothingDeferred, TailLanes, MAX_BATCH};
use crate::math::*;
use crate::philox::LANES;
use core::ops::{Add, Mul};

/// A floating-point element type: its mapping from Philox words to per-value draws, and the
/// precision-specific pieces of the transforms (f32 uses a table of polynomials, f64 Wichura's
/// AS 241).
///
/// Elements come in groups of `16 * PER_BLOCK`, one group per `LANES` = 16 consecutive blocks:
/// element `16 * k + j` of group `g` takes lane `k` (a word for f32, a pair of words for f64)
/// of block `16 g + j`. The lane-batched kernel then reads each word row contiguously.
pub trait Real:
    Copy + Send + Sync + PartialOrd + Add<Output = Self> + Mul<Output = Self> + 'static
{
    /// The random bits of one value.
    type Draw: Copy;
    /// Values per 128-bit Philox block.
    const PER_BLOCK: usize;
    /// Elements per group of LANES blocks.
    const GROUP: u64 = (LANES * Self::PER_BLOCK) as u64;
    fn from_f64(x: f64) -> Self;
    fn is_finite(self) -> bool;
    fn to_f64(self) -> f64;
    /// Lane `lane` of column `j` of a group's transposed words.
    fn draw(words: &[[u32; LANES]; 4], lane: usize, j: usize) -> Self::Draw;
    /// Lanes whose |Phi^-1| is put off and made many at a time by `settle`: float64's AS 241
    /// tail lanes; none for float32.
    type Deferred: Deferred;
    /// One group's words to its `GROUP` values, in element order; lanes put off go to
    /// `deferred`, and their values in `out` are only placeholders until `settle`.
    fn batch<X: Transform<Self>, I: Isa>(
        x: &X,
        isa: I,
        words: &[[u32; LANES]; 4],
        out: &mut [Self],
        deferred: &mut Self::Deferred,
    );
    /// Write the deferred lanes' values into `out`, the slice their positions refer to.
    fn settle<X: Transform<Self>>(x: &X, deferred: &mut Self::Deferred, out: &mut [Self]);
    /// Symmetric uniform in (-1, 1), exact: odd integers over a power of two.
    fn signed_unit(draw: Self::Draw) -> Self;
    /// Uniform in (0, 1), exact: (k + 1/2) over a power of two.
    fn open_unit(draw: Self::Draw) -> Self;
    /// Uniform in (0, 1) in double precision, for `TruncNormal`'s wide-math intervals.
    fn wide_unit(draw: Self::Draw) -> f64;
    /// Whether a truncated normal whose standardised (mirrored) interval is [alpha, beta],
    /// with probability `p_width`, needs double precision (`Wide::Tail`) for this type.
    fn trunc_needs_double(mean: f64, std: f64, alpha: f64, beta: f64, p_width: f64) -> bool;
    /// The standard-normal parts of a draw: (negative, centre distance, tail distance), each
    /// held exactly, as `ndtri_abs` takes them.
    fn normal_parts(draw: Self::Draw) -> (bool, Self, Self);
    /// The same parts for a probability p in (0, 1).
    fn prob_parts(p: Self) -> (bool, Self, Self);
    /// |Phi^-1| from the parts.
    fn ndtri_abs(centre: Self, tail: Self) -> Self;
    /// `ndtri_abs` over up to `MAX_BATCH` lanes into `z`, or, for lanes it defers, later.
    fn ndtri_abs_many<I: Isa>(
        isa: I,
        centre: &[Self],
        tail: &[Self],
        negative: &[bool],
        z: &mut [Self],
        deferred: &mut Self::Deferred,
    );
    /// `magnitude` (sign bit clear) with its sign bit set to `negative`.
    fn with_sign(negative: bool, magnitude: Self) -> Self;
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

const TWO_POW_M24: f32 = 1.0 / 16_777_216.0;
const TWO_POW_M31: f32 = 1.0 / 2_147_483_648.0;
const TWO_POW_M32: f64 = 1.0 / 4_294_967_296.0;
const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;
const TWO_POW_M64: f64 = 1.0 / 18_446_744_073_709_551_616.0;

impl Real for f32 {
    type Draw = u32;
    const PER_BLOCK: usize = 4;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn draw(words: &[[u32; LANES]; 4], lane: usize, j: usize) -> u32 {
        words[lane][j]
    }
    type Deferred = NothingDeferred;
    #[inline(always)]
    fn batch<X: Transform<f32>, I: Isa>(
        x: &X,
        isa: I,
        words: &[[u32; LANES]; 4],
        out: &mut [f32],
        deferred: &mut NothingDeferred,
    ) {
        x.many(isa, words.as_flattened(), out, deferred);
    }
    #[inline(always)]
    fn settle<X: Transform<f32>>(_: &X, _: &mut NothingDeferred, _: &mut [f32]) {}
    #[inline(always)]
    fn signed_unit(draw: u32) -> f32 {
        let k = (draw >> 8) as i32;
        (2 * k + 1 - (1 << 24)) as f32 * TWO_POW_M24
    }
    #[inline(always)]
    fn open_unit(draw: u32) -> f32 {
        ((draw >> 8) as f32 + 0.5) * TWO_POW_M24
    }
    #[inline(always)]
    fn wide_unit(draw: u32) -> f64 {
        (f64::from(draw) + 0.5) * TWO_POW_M32
    }
    /// Beyond 5 sigma Phi^-1 in single precision loses accuracy; below 2^-10 in probability
    /// the float32 p holds too few steps; and mean + std * z must not overflow float32.
    fn trunc_needs_double(mean: f64, std: f64, alpha: f64, beta: f64, p_width: f64) -> bool {
        const FAR_BEYOND: f64 = 5.0;
        const NARROW_BELOW: f64 = 1.0 / 1024.0;
        let reach = mean.abs() + std * alpha.abs().max(beta.abs()).min(FAR_BEYOND + 1.0);
        beta < -FAR_BEYOND || p_width < NARROW_BELOW || reach >= f64::from(f32::MAX) / 2.0
    }
    /// (negative, |2p - 1|, 2 min(p, 1 - p)): the top bit is the sign, the other 31 bits give
    /// both distances exactly.
    #[inline(always)]
    fn normal_parts(draw: u32) -> (bool, f32, f32) {
        let r = draw & 0x7fff_ffff;
        let abs_x = (r as f32 + 0.5) * TWO_POW_M31;
        let q = ((0x7fff_ffff - r) as f32 + 0.5) * TWO_POW_M31;
        (draw >> 31 != 0, abs_x, q)
    }
    #[inline(always)]
    fn prob_parts(p: f32) -> (bool, f32, f32) {
        let upper = 1.0 - p;
        (
            (p < 0.5),
            (p + p - 1.0).abs(),
            2.0 * if p < upper { p } else { upper },
        )
    }
    #[inline(always)]
    fn ndtri_abs(abs_x: f32, q: f32) -> f32 {
        ndtri_abs_f32(abs_x, q)
    }
    #[inline(always)]
    fn ndtri_abs_many<I: Isa>(
        isa: I,
        abs_x: &[f32],
        q: &[f32],
        _: &[bool],
        z: &mut [f32],
        _: &mut NothingDeferred,
    ) {
        ndtri_abs_many_f32(isa, abs_x, q, z)
    }
    #[inline(always)]
    fn with_sign(negative: bool, magnitude: f32) -> f32 {
        f32::from_bits(magnitude.to_bits() | (u32::from(negative) << 31))
    }
}

impl Real for f64 {
    type Draw = u64;
    const PER_BLOCK: usize = 2;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn draw(words: &[[u32; LANES]; 4], lane: usize, j: usize) -> u64 {
        u64::from(words[2 * lane][j]) | (u64::from(words[2 * lane + 1][j]) << 32)
    }
    type Deferred = TailLanes;
    #[inline(always)]
    fn batch<X: Transform<f64>, I: Isa>(
        x: &X,
        isa: I,
        words: &[[u32; LANES]; 4],
        out: &mut [f64],
        deferred: &mut TailLanes,
    ) {
        // Row by row (not element by element), so the pairs are built with widening moves
        // instead of gathers.
        let mut draws = Lanes([0u64; 2 * LANES]);
        for (lane, row) in draws.chunks_exact_mut(LANES).enumerate() {
            let (low, high) = (&words[2 * lane], &words[2 * lane + 1]);
            for ((d, &lo), &hi) in row.iter_mut().zip(low).zip(high) {
                *d = u64::from(lo) | (u64::from(hi) << 32);
            }
        }
        x.many(isa, &draws[..], out, deferred);
    }
    #[inline(always)]
    fn settle<X: Transform<f64>>(x: &X, deferred: &mut TailLanes, out: &mut [f64]) {
        deferred.settle(out, |negative, magnitude| x.finish(negative, magnitude));
    }
    #[inline(always)]
    fn signed_unit(draw: u64) -> f64 {
        let k = (draw >> 11) as i64;
        (2 * k + 1 - (1 << 53)) as f64 * TWO_POW_M53
    }
    #[inline(always)]
    fn open_unit(draw: u64) -> f64 {
        ((draw >> 11) as f64 + 0.5) * TWO_POW_M53
    }
    #[inline(always)]
    fn wide_unit(draw: u64) -> f64 {
        Self::open_unit(draw)
    }
    fn trunc_needs_double(_: f64, _: f64, _: f64, _: f64, _: f64) -> bool {
        false
    }
    /// (negative, |p - 0.5|, min(p, 1 - p)) of one 64-bit draw.
    #[inline(always)]
    fn normal_parts(draw: u64) -> (bool, f64, f64) {
        let r = draw & 0x7fff_ffff_ffff_ffff;
        let c = (r as f64 + 0.5) * TWO_POW_M64;
        let t = ((0x7fff_ffff_ffff_ffff - r) as f64 + 0.5) * TWO_POW_M64;
        (draw >> 63 != 0, c, t)
    }
    #[inline(always)]
    fn prob_parts(p: f64) -> (bool, f64, f64) {
        let upper = 1.0 - p;
        (
            (p < 0.5),
            (p - 0.5).abs(),
            if p < upper { p } else { upper },
        )
    }
    #[inline(always)]
    fn ndtri_abs(c: f64, t: f64) -> f64 {
        ndtri_abs_f64(c, t)
    }
    #[inline(always)]
    fn ndtri_abs_many<I: Isa>(
        isa: I,
        c: &[f64],
        t: &[f64],
        negative: &[bool],
        z: &mut [f64],
        deferred: &mut TailLanes,
    ) {
        let n = z.len();
        for j in 0..n {
            z[j] = as241_central(c[j]);
        }
        isa.defer_tail_lanes(deferred, &c[..n], &t[..n], &negative[..n]);
    }
    #[inline(always)]
    fn with_sign(negative: bool, magnitude: f64) -> f64 {
        f64::from_bits(magnitude.to_bits() | (u64::from(negative) << 63))
    }
}

/// A distribution for element type `T`: one value from one draw.
pub trait Transform<T: Real>: Sync {
    fn one(&self, draw: T::Draw) -> T;
    /// `out[j] = one(draws[j])` for up to `MAX_BATCH` draws, but for lanes put off to
    /// `deferred` (see `Real::batch`). The loops run to a length known only at run time, which
    /// LLVM vectorises at full register width (a constant 16 gets unrolled first and then
    /// packed into narrow vectors).
    #[inline(always)]
    fn many<I: Isa>(&self, _: I, draws: &[T::Draw], out: &mut [T], _: &mut T::Deferred) {
        for (slot, &draw) in out.iter_mut().zip(draws) {
            *slot = self.one(draw);
        }
    }
    /// The value for a standard normal of sign `negative` and size `magnitude`: how a
    /// deferred lane is finished. Only transforms built on Phi^-1 defer lanes.
    #[inline(always)]
    fn finish(&self, negative: bool, magnitude: T) -> T {
        T::with_sign(negative, magnitude)
    }
}

/// Batched |Phi^-1| in f32 into `z`, exactly as `ndtri_abs_f32` computes each lane: the
/// table polynomials through `isa` (a register permute per coefficient on AVX-512), and the
/// rare lanes beyond the table (about 1 in 5500) in double precision.
#[inline(always)]
fn ndtri_abs_many_f32<I: Isa>(isa: I, abs_x: &[f32], q: &[f32], z: &mut [f32]) {
    let n = z.len();
    let (abs_x, q) = (&abs_x[..n], &q[..n]);
    let (mut segment, mut t, mut scale) = (
        Lanes([0u32; MAX_BATCH]),
        Lanes([0f32; MAX_BATCH]),
        Lanes([0f32; MAX_BATCH]),
    );
    let mut any_far = false;
    for j in 0..n {
        (segment[j], t[j], scale[j]) = ndtri_f32_segment(abs_x[j], q[j]);
        any_far |= segment[j] >= NDTRI_F32_SEGMENTS;
    }
    let mut poly = Lanes([0f32; MAX_BATCH]);
    isa.ndtri_f32_poly_many(&segment, &t, &mut poly);
    for j in 0..n {
        z[j] = poly[j] * scale[j];
    }
    if any_far {
        ndtri_f32_far_lanes(abs_x, q, &segment, z);
    }
}

/// The lanes of `ndtri_abs_many_f32` beyond the table. Out of line, so that the double-precision
/// code stays out of the hot loop's instruction cache footprint.
#[cold]
#[inline(never)]
fn ndtri_f32_far_lanes(abs_x: &[f32], q: &[f32], segment: &[u32; MAX_BATCH], z: &mut [f32]) {
    for (j, slot) in z.iter_mut().enumerate() {
        if segment[j] >= NDTRI_F32_SEGMENTS {
            *slot = ndtri_f32_far(abs_x[j], q[j]);
        }
    }
}
