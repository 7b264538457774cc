//! Element types: how the Philox words of one element become its draw, and the
//! precision-specific pieces of the transforms (float32 uses a table of polynomials, float64
//! Wichura's AS 241). The distributions (src/distributions.rs) are written once over `Real`;
//! a new output type is a new `impl Real` here.
//!
//! float32 values take one 32-bit word each, float64 values two (docs/stream-spec.md). Each
//! transform has a scalar form (`one`) and a batched form (`many`) built from the same inline
//! pieces, so both give the same bits; the batched forms are plain loops that LLVM turns into
//! vector code.

use crate::lanes::{Deferred, Lanes, NothingDeferred, TailLanes, MAX_BATCH};
use crate::math::*;
use crate::philox::LANES;
use crate::simd::{Isa, Portable};
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
    fn is_sign_negative(self) -> bool;
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
    fn signed_unit<I: Isa>(isa: I, draw: Self::Draw) -> Self;
    /// Uniform in (0, 1), exact: (k + 1/2) over a power of two.
    fn open_unit<I: Isa>(isa: I, draw: Self::Draw) -> Self;
    /// Uniform in (0, 1) in double precision, for `TruncNormal`'s wide-math intervals.
    fn wide_unit(draw: Self::Draw) -> f64;
    /// Whether a truncated normal whose standardised (mirrored) interval is [alpha, beta],
    /// with probability `p_width`, needs double precision (`Wide::Tail`) for this type.
    fn trunc_needs_double(mean: f64, std: f64, alpha: f64, beta: f64, p_width: f64) -> bool;
    /// The standard-normal parts of a draw: (negative, centre distance, tail distance), each
    /// held exactly, as `ndtri_abs` takes them.
    fn normal_parts<I: Isa>(isa: I, draw: Self::Draw) -> (bool, Self, Self);
    /// The same parts for a probability p in (0, 1).
    fn prob_parts(p: Self) -> (bool, Self, Self);
    /// |Phi^-1| from the parts.
    fn ndtri_abs(centre: Self, tail: Self) -> Self;
    /// `ndtri_abs` over up to `MAX_BATCH` lanes into `z`, or, for lanes it defers, later.
    /// `sign` is each lane's sign as a signed zero (`with_sign(negative, 0)`): lanes of
    /// floats, where an array of `bool` costs byte packing and unpacking in vector code.
    fn ndtri_abs_many<I: Isa>(
        isa: I,
        centre: &[Self],
        tail: &[Self],
        sign: &[Self],
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
    #[inline(always)]
    fn is_sign_negative(self) -> bool {
        f32::is_sign_negative(self)
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
    fn signed_unit<I: Isa>(_: I, draw: u32) -> f32 {
        let k = (draw >> 8) as i32;
        (2 * k + 1 - (1 << 24)) as f32 * TWO_POW_M24
    }
    #[inline(always)]
    fn open_unit<I: Isa>(_: I, draw: u32) -> f32 {
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
    fn normal_parts<I: Isa>(_: I, draw: u32) -> (bool, f32, f32) {
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
        _: &[f32],
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
    #[inline(always)]
    fn is_sign_negative(self) -> bool {
        f64::is_sign_negative(self)
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
    fn signed_unit<I: Isa>(isa: I, draw: u64) -> f64 {
        let k = (draw >> 11) as i64;
        isa.f64_of_i64(2 * k + 1 - (1 << 53)) * TWO_POW_M53
    }
    #[inline(always)]
    fn open_unit<I: Isa>(isa: I, draw: u64) -> f64 {
        (isa.f64_of_i64((draw >> 11) as i64) + 0.5) * TWO_POW_M53
    }
    #[inline(always)]
    fn wide_unit(draw: u64) -> f64 {
        Self::open_unit(Portable, draw)
    }
    fn trunc_needs_double(_: f64, _: f64, _: f64, _: f64, _: f64) -> bool {
        false
    }
    /// (negative, |p - 0.5|, min(p, 1 - p)) of one 64-bit draw.
    #[inline(always)]
    fn normal_parts<I: Isa>(isa: I, draw: u64) -> (bool, f64, f64) {
        let r = (draw & 0x7fff_ffff_ffff_ffff) as i64;
        let c = (isa.f64_of_i64(r) + 0.5) * TWO_POW_M64;
        let t = (isa.f64_of_i64(i64::MAX - r) + 0.5) * TWO_POW_M64;
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
        sign: &[f64],
        z: &mut [f64],
        deferred: &mut TailLanes,
    ) {
        let n = z.len();
        isa.as241_central_many(&c[..n], z);
        isa.defer_tail_lanes(deferred, &c[..n], &t[..n], &sign[..n]);
    }
    #[inline(always)]
    fn with_sign(negative: bool, magnitude: f64) -> f64 {
        f64::from_bits(magnitude.to_bits() | (u64::from(negative) << 63))
    }
}

/// A distribution for element type `T`: one value from one draw.
pub trait Transform<T: Real>: Sync {
    /// The value of one draw, converting through `isa` (every `Isa` gives the same bits).
    fn one<I: Isa>(&self, isa: I, draw: T::Draw) -> T;
    /// `out[j] = one(draws[j])` for up to `MAX_BATCH` draws, but for lanes put off to
    /// `deferred` (see `Real::batch`). The loops run to a length known only at run time, which
    /// LLVM vectorises at full register width (a constant 16 gets unrolled first and then
    /// packed into narrow vectors).
    #[inline(always)]
    fn many<I: Isa>(&self, isa: I, draws: &[T::Draw], out: &mut [T], _: &mut T::Deferred) {
        for (slot, &draw) in out.iter_mut().zip(draws) {
            *slot = self.one(isa, draw);
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

/// What an array element is: a `Real` stored as it is (float32, float64), or a float32 value
/// rounded to a 16-bit format (float16, bfloat16) as its last step. The kernels compute in
/// `Self::Real`; a new output format is a new `Store`.
pub trait Store: Copy + Send + Sync + 'static {
    /// The type the kernels compute in (itself a `Store`, of itself).
    type Real: Real + Store<Real = Self::Real>;
    /// The format's name, as NumPy names its dtype.
    const FORMAT: &'static str;
    /// The largest finite value.
    const LARGEST: f64;
    /// `out` as the kernels' own type, where the storage is that type.
    fn as_real(out: &mut [Self]) -> Option<&mut [Self::Real]>;
    /// `x` rounded to this format, to nearest with ties to even.
    fn from_real(x: Self::Real) -> Self;
    /// `out[j] = from_real(values[j])`, with `isa`'s conversion where it has one.
    #[inline(always)]
    fn round_into<I: Isa>(isa: I, out: &mut [Self], values: &[Self::Real]) {
        let _ = isa;
        for (slot, &v) in out.iter_mut().zip(values) {
            *slot = Self::from_real(v);
        }
    }
    /// The bounds of a bounded distribution as this format holds them: [low, high] moved
    /// inwards to values it represents, so that every rounded value stays inside [low, high].
    fn inside(low: f64, high: f64) -> (f64, f64);
}

macro_rules! store_as_itself {
    ($t:ident, $format:literal) => {
        impl Store for $t {
            type Real = $t;
            const FORMAT: &'static str = $format;
            const LARGEST: f64 = <$t>::MAX as f64;
            #[inline(always)]
            fn as_real(out: &mut [$t]) -> Option<&mut [$t]> {
                Some(out)
            }
            #[inline(always)]
            fn from_real(x: $t) -> $t {
                x
            }
            fn inside(low: f64, high: f64) -> (f64, f64) {
                (low, high)
            }
        }
    };
}
store_as_itself!(f32, "float32");
store_as_itself!(f64, "float64");

/// IEEE 754 binary16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

/// bfloat16 bits: the top half of a float32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct BF16(pub u16);

/// A 16-bit format: its rounding from float32 and its exact value as a float64.
pub trait Bits16: Copy + Send + Sync + 'static {
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    fn bits(self) -> u16;
    fn from_bits(bits: u16) -> Self;
}

impl Bits16 for BF16 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        let bits = x.to_bits();
        // Round to nearest even on the 16 bits dropped; a carry moves into the exponent. A NaN
        // stays a (quiet) NaN. Both computed and selected, so the loop has no branch.
        let rounded = ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
        let quiet_nan = (bits >> 16) as u16 | 0x40;
        BF16(if x.is_nan() { quiet_nan } else { rounded })
    }
    fn to_f64(self) -> f64 {
        f64::from(f32::from_bits(u32::from(self.0) << 16))
    }
    fn bits(self) -> u16 {
        self.0
    }
    fn from_bits(bits: u16) -> Self {
        BF16(bits)
    }
}

impl Bits16 for F16 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        F16(f16_bits_from_f32(x))
    }
    fn to_f64(self) -> f64 {
        let sign = if self.0 & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exponent = i32::from((self.0 >> 10) & 0x1f);
        let mantissa = f64::from(self.0 & 0x3ff);
        sign * match exponent {
            0 => mantissa * 2f64.powi(-24),
            0x1f if mantissa == 0.0 => f64::INFINITY,
            0x1f => f64::NAN,
            _ => (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
        }
    }
    fn bits(self) -> u16 {
        self.0
    }
    fn from_bits(bits: u16) -> Self {
        F16(bits)
    }
}

/// The next value of a 16-bit format towards +inf (`up`) or -inf.
fn step<B: Bits16>(value: B, up: bool) -> B {
    let bits = value.bits();
    let positive = bits & 0x8000 == 0;
    B::from_bits(match (positive, up) {
        (true, true) | (false, false) => bits + 1,
        (false, true) if bits == 0x8000 => 0x0001,
        (true, false) if bits == 0 => 0x8001,
        _ => bits - 1,
    })
}

/// `Store` for a 16-bit format; `$item`s override the trait's defaults.
macro_rules! store_as_bits16 {
    ($t:ty, $format:literal, $largest:expr $(, $item:item)*) => {
        impl Store for $t {
            type Real = f32;
            const FORMAT: &'static str = $format;
            const LARGEST: f64 = $largest;
            #[inline(always)]
            fn as_real(_: &mut [$t]) -> Option<&mut [f32]> {
                None
            }
            #[inline(always)]
            fn from_real(x: f32) -> $t {
                <$t as Bits16>::from_f32(x)
            }
            fn inside(low: f64, high: f64) -> (f64, f64) {
                let mut up = <$t>::from_f32(low as f32);
                while up.to_f64() < low {
                    up = step(up, true);
                }
                let mut down = <$t>::from_f32(high as f32);
                while down.to_f64() > high {
                    down = step(down, false);
                }
                if up.to_f64() > down.to_f64() {
                    // No value of the format lies in [low, high] (a point, or a sliver between
                    // two neighbours): the bounds rounded to nearest, as the values are.
                    let nearest = |x: f64| <$t>::from_f32(x as f32).to_f64();
                    return (nearest(low), nearest(high));
                }
                (up.to_f64(), down.to_f64())
            }
            $($item)*
        }
    };
}
store_as_bits16!(
    F16,
    "float16",
    65504.0,
    /// With `isa`'s conversion (F16C on the avx2 and avx512 paths).
    #[inline(always)]
    fn round_into<I: Isa>(isa: I, out: &mut [F16], values: &[f32]) {
        // SAFETY: F16 is a `repr(transparent)` u16, so the slices have the same layout.
        let bits = unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr().cast(), out.len()) };
        isa.round_f16(bits, values)
    }
);
store_as_bits16!(BF16, "bfloat16", 3.3895313892515355e38);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_rounding_is_to_nearest_even() {
        // (float32, float16 bits, bfloat16 bits), from NumPy's and ml_dtypes' astype.
        for (x, f16, bf16) in [
            (1.0f32, 0x3c00, 0x3f80),
            (0.1, 0x2e66, 0x3dcd),
            (-2.5, 0xc100, 0xc020),
            (65504.0, 0x7bff, 0x4780),
            (65520.0, 0x7c00, 0x4780), // float16: the tie above its largest value goes to inf
            (5.960_464_5e-8, 0x0001, 0x3380), // 2^-24, float16's smallest subnormal
            (2.980_232_2e-8, 0x0000, 0x3300), // 2^-25: a tie, to even (zero)
            (1.0009766, 0x3c01, 0x3f80),
            (3.0e38, 0x7c00, 0x7f62),
        ] {
            assert_eq!(F16::from_f32(x).0, f16, "float16 of {x}");
            assert_eq!(BF16::from_f32(x).0, bf16, "bfloat16 of {x}");
        }
    }

    #[test]
    fn inside_bounds_are_representable_and_inside() {
        for (low, high) in [
            (-0.1, 0.1),
            (-2.0, 2.0),
            (1e-6, 3e-6),
            (f64::NEG_INFINITY, 0.3),
        ] {
            for (l, h) in [F16::inside(low, high), BF16::inside(low, high)] {
                assert!(low <= l && l <= h && h <= high, "{low} {high}: {l} {h}");
                assert_eq!(f64::from(l as f32), l);
            }
        }
        assert_eq!(
            F16::inside(-0.1, 0.1),
            (-0.099_975_585_937_5, 0.099_975_585_937_5)
        );
        assert_eq!(f32::inside(-0.1, 0.1), (-0.1, 0.1));
        // No float16 lies in [0.3, 0.3] or [0.30001, 0.30002]: the nearest one, 0.300048828125.
        assert_eq!(F16::inside(0.3, 0.3), (0.300048828125, 0.300048828125));
        assert_eq!(
            F16::inside(0.30001, 0.30002),
            (0.300048828125, 0.300048828125)
        );
        let (l, h) = BF16::inside(0.3, 0.3);
        assert!(l == h && (l - 0.3).abs() < 2e-3);
    }
}
