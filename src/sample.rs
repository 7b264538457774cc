//! Distributions: how the words of one element become one value, and the contiguous-run kernel.
//!
//! float32 values take one 32-bit word each, float64 values two (docs/stream-spec.md). Each
//! transform has a scalar form (`one`) and a batched form (`many`) built from the same inline
//! pieces, so both give the same bits; the batched forms are plain loops that LLVM turns into
//! vector code. The distributions are written once; `Real` holds what differs by precision.

use crate::dispatch::{Isa, Portable};
use crate::math::*;
use crate::philox::{Stream, LANES};
use core::mem::MaybeUninit;
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
    /// The bit pattern, widened: tests compare these, since `==` equates -0 and +0.
    fn bits(self) -> u64;
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
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
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
        deferred.settle(x, out);
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
    fn bits(self) -> u64 {
        self.to_bits()
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

/// The most draws one `many` call takes: one group of float32.
pub const MAX_BATCH: usize = 4 * LANES;

/// A batch's worth of lanes on whole cache lines, for the arrays the kernels store from vector
/// registers and load back. Left at the alignment of their elements, where they fell depended
/// on the stack depth at the call (and the main thread's stack start is randomised per
/// process): the same kernel ran 10-15% slower at some stack offsets than at others.
#[repr(C, align(64))]
struct Lanes<T, const N: usize = MAX_BATCH>([T; N]);

impl<T, const N: usize> core::ops::Deref for Lanes<T, N> {
    type Target = [T; N];
    #[inline(always)]
    fn deref(&self) -> &[T; N] {
        &self.0
    }
}

impl<T, const N: usize> core::ops::DerefMut for Lanes<T, N> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T; N] {
        &mut self.0
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

/// What float32 defers: nothing.
pub struct NothingDeferred;

/// Lanes set aside by the batched kernels, and where they go.
pub trait Deferred {
    fn new() -> Self;
    /// Lanes added from now on belong to the batch whose first value is `out[base]`.
    fn set_base(&mut self, base: usize);
    /// Whether another pair of groups might not fit: `settle` first.
    fn nearly_full(&self) -> bool;
}

impl Deferred for NothingDeferred {
    #[inline(always)]
    fn new() -> Self {
        NothingDeferred
    }
    #[inline(always)]
    fn set_base(&mut self, _: usize) {}
    #[inline(always)]
    fn nearly_full(&self) -> bool {
        false
    }
}

/// float64 lanes whose |Phi^-1| needs AS 241's tail (about 15%: c > 0.425), with a log, a
/// square root and two divisions. Made a few per batch, their dependency chains stall the
/// core and the last vector is mostly padding; collected over a few thousand values, they run
/// as a loop of independent full vectors.
///
/// The lists start uninitialised (each fill makes one, so zeroing 4 KiB would cost short runs);
/// the first `len` entries of each are written.
pub struct TailLanes {
    base: usize,
    len: usize,
    /// Where each lane's value goes in `out`.
    at: [MaybeUninit<usize>; TAIL_LANES],
    /// Each lane's t = min(p, 1 - p) > 0 with its value's sign in its sign bit.
    signed_t: [MaybeUninit<f64>; TAIL_LANES],
}

/// Room for `2 * MAX_BATCH` more lanes beyond `nearly_full`, and for padding to a whole chunk.
const TAIL_LANES: usize = 256;

impl Deferred for TailLanes {
    #[inline(always)]
    fn new() -> Self {
        TailLanes {
            base: 0,
            len: 0,
            at: [const { MaybeUninit::uninit() }; TAIL_LANES],
            signed_t: [const { MaybeUninit::uninit() }; TAIL_LANES],
        }
    }
    #[inline(always)]
    fn set_base(&mut self, base: usize) {
        self.base = base;
    }
    #[inline(always)]
    fn nearly_full(&self) -> bool {
        self.len > TAIL_LANES - 2 * MAX_BATCH
    }
}

impl TailLanes {
    /// Set aside the lanes of one batch (at most `MAX_BATCH`) that need the tail. The lanes are
    /// found through a bit mask (a vector compare), then only its set bits are visited.
    #[inline(always)]
    pub fn add(&mut self, c: &[f64], t: &[f64], negative: &[bool]) {
        let mut mask = 0u64;
        for (j, &centre) in c.iter().enumerate() {
            mask |= u64::from(centre > AS241_SPLIT) << j;
        }
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            self.at[self.len].write(self.base + j);
            self.signed_t[self.len].write(f64::with_sign(negative[j], t[j]));
            self.len += 1;
        }
    }

    /// `add` with AVX-512, for whole vectors of eight lanes (a float64 batch is 32): each is
    /// packed with a register compress (the memory form is slow on AMD Zen 4) and stored whole
    /// at the end of the lists (the lanes past the new length are overwritten later), with no
    /// branch per lane.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F/BW/DQ/VL.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub unsafe fn add_avx512(&mut self, c: &[f64], t: &[f64], negative: &[bool]) {
        use core::arch::x86_64::*;
        const W: usize = 8;
        let n = c.len();
        assert!(
            n.is_multiple_of(W)
                && t.len() == n
                && negative.len() == n
                && self.len + n <= TAIL_LANES
        );
        let split = _mm512_set1_pd(AS241_SPLIT);
        let sign = _mm512_set1_pd(-0.0);
        let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        for k in (0..n).step_by(W) {
            // SAFETY: k + 8 <= n for each of the three slices, and the two stores address the
            // eight entries from `len`, which the assert above keeps inside the lists.
            unsafe {
                let centre = _mm512_loadu_pd(c.as_ptr().add(k));
                let t = _mm512_loadu_pd(t.as_ptr().add(k));
                let signs = _mm_loadl_epi64(negative.as_ptr().add(k).cast());
                let signed_t =
                    _mm512_mask_xor_pd(t, _mm_test_epi8_mask(signs, signs) as u8, t, sign);
                let at = _mm512_add_epi64(_mm512_set1_epi64((self.base + k) as i64), lanes);
                let tail = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(centre, split);
                _mm512_storeu_pd(
                    self.signed_t.as_mut_ptr().add(self.len).cast(),
                    _mm512_maskz_compress_pd(tail, signed_t),
                );
                _mm512_storeu_si512(
                    self.at.as_mut_ptr().add(self.len).cast(),
                    _mm512_maskz_compress_epi64(tail, at),
                );
                self.len += tail.count_ones() as usize;
            }
        }
    }

    /// Finish every lane set aside into `out`, exactly as `ndtri_abs_f64` branches. Each step
    /// is one loop over all the lanes, padded to a whole vector with a harmless value: a loop
    /// of run-time length is vectorised at full register width, where eight-lane arrays were
    /// packed into 2-wide vectors once the kernel was inlined into a larger function (fat LTO).
    #[inline(always)]
    fn settle<X: Transform<f64>>(&mut self, x: &X, out: &mut [f64]) {
        const PAD_TO: usize = 8;
        let len = self.len;
        let padded = len.next_multiple_of(PAD_TO);
        for slot in &mut self.signed_t[len..padded] {
            slot.write(0.25);
        }
        // SAFETY: entries below `len` were written by `add`, those up to `padded` just above;
        // `MaybeUninit<f64>` has the layout of `f64`.
        let signed_t: &[f64] = unsafe { &*(&raw const self.signed_t[..padded] as *const [f64]) };
        // `z` holds each lane's r = sqrt(-ln t) first, then |Phi^-1|.
        let mut z = [0f64; TAIL_LANES];
        let z = &mut z[..padded];
        let mut any_far = false;
        for (z, &t) in z.iter_mut().zip(signed_t) {
            *z = as241_r(t.abs());
        }
        for z in z.iter_mut() {
            any_far |= *z > AS241_FAR;
            *z = as241_near_tail(*z);
        }
        if any_far {
            far_tail_lanes(signed_t, z);
        }
        for ((at, &t), &z) in self.at[..len].iter().zip(signed_t).zip(&*z) {
            // SAFETY: entries below `len` were written by `add`.
            out[unsafe { at.assume_init() }] = x.finish(t.is_sign_negative(), z);
        }
        self.len = 0;
    }
}

/// AS 241's far tail (r > 5, p below about 1.4e-11) for the lanes that need it: out of line,
/// as it is rare.
#[cold]
#[inline(never)]
fn far_tail_lanes(signed_t: &[f64], z: &mut [f64]) {
    for (&t, z) in signed_t.iter().zip(z) {
        let r = as241_r(t.abs());
        if r > AS241_FAR {
            *z = as241_far_tail(r);
        }
    }
}

/// Normal(mean, std).
#[derive(Clone, Copy, Debug)]
pub struct Normal<T> {
    pub mean: T,
    pub std: T,
}

impl<T: Real> Transform<T> for Normal<T> {
    #[inline(always)]
    fn one(&self, draw: T::Draw) -> T {
        let (negative, centre, tail) = T::normal_parts(draw);
        self.finish(negative, T::ndtri_abs(centre, tail))
    }
    #[inline(always)]
    fn many<I: Isa>(&self, isa: I, draws: &[T::Draw], out: &mut [T], deferred: &mut T::Deferred) {
        let n = out.len();
        let zero = T::from_f64(0.0);
        let (mut negative, mut centre, mut tail) = (
            Lanes([false; MAX_BATCH]),
            Lanes([zero; MAX_BATCH]),
            Lanes([zero; MAX_BATCH]),
        );
        for j in 0..n {
            (negative[j], centre[j], tail[j]) = T::normal_parts(draws[j]);
        }
        T::ndtri_abs_many(isa, &centre[..], &tail[..], &negative[..], out, deferred);
        for j in 0..n {
            out[j] = self.finish(negative[j], out[j]);
        }
    }
    /// mean + std * (±|z|).
    #[inline(always)]
    fn finish(&self, negative: bool, magnitude: T) -> T {
        self.mean + self.std * T::with_sign(negative, magnitude)
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

impl<T: Real> Transform<T> for Uniform<T> {
    #[inline(always)]
    fn one(&self, draw: T::Draw) -> T {
        (self.center + self.half_width * T::signed_unit(draw)).clamp_to(self.low, self.high)
    }
}

/// Normal(mean, std) truncated to [low, high], by the exact inverse CDF:
/// z = Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))) with one draw per value.
/// An interval entirely above the mean is sampled as its mirror image below it, so that p is
/// always a small, precisely held lower-tail probability where the interval is in a tail.
/// Where that probability cannot hold the interval to the output's precision, the value is
/// computed in double precision by one of the `Wide` forms instead.
#[derive(Clone, Copy, Debug)]
pub struct TruncNormal<T> {
    mean: T,
    std: T,
    low: T,
    high: T,
    p_low: T,
    p_width: T,
    mirrored: bool,
    /// Where set, every value is computed by this form from `double`.
    wide: Option<Wide>,
    /// (mean, std, low, high) unrounded, for the `Wide` forms.
    double: [f64; 4],
}

/// The double-precision forms of the truncated normal (docs/stream-spec.md), each for
/// intervals the lane kernel's probabilities would blur. All end in
/// `clamp(value, low, high)` rounded to the output type.
#[derive(Clone, Copy, Debug)]
enum Wide {
    /// The lower-tail probability p = p_low + u p_width, in double precision; the value
    /// mean + std * z in the output type where that cannot overflow (as stream v2 has it).
    Tail {
        p_low: f64,
        p_width: f64,
        finish_in_output: bool,
    },
    /// A narrow interval within one sigma of the mean: c = Phi(x) - 1/2 = c_low + u c_width
    /// keeps full relative precision where p = 1/2 + c would not.
    Centred { c_low: f64, c_width: f64 },
    /// Both bounds within FLAT_WITHIN sigma of the mean: the density varies by less than
    /// a rounding error over the interval, so the distribution is uniform on [low, high].
    Flat,
    /// The (mirrored) interval lies beyond FAR_TAIL_BEYOND sigma, where Phi underflows: the
    /// value is the nearer bound moved inwards by `far_tail_offset(b, h, u)` sigma.
    FarTail { b: f64, h: f64 },
}

/// Below this many sigma on both sides, exp(-x^2 / 2) is 1 to within 2^-55.
const FLAT_WITHIN: f64 = 1.0 / 134_217_728.0; // 2^-27
/// Narrow intervals (in probability) within one sigma of the mean use `Wide::Centred`.
const CENTRED_BELOW_WIDTH: f64 = 1.0 / 1_048_576.0; // 2^-20

impl<T: Real> TruncNormal<T> {
    /// The caller validates: finite mean, std > 0, low < high.
    pub fn new(mean: f64, std: f64, low: f64, high: f64) -> Self {
        let (alpha, beta) = ((low - mean) / std, (high - mean) / std);
        let mirrored = alpha > 0.0;
        let (alpha, beta) = if mirrored {
            (-beta, -alpha)
        } else {
            (alpha, beta)
        };
        let (p_low, p_high) = (ndtr(alpha), ndtr(beta));
        let p_width = p_high - p_low;
        let wide = if alpha.abs().max(beta.abs()) <= FLAT_WITHIN {
            Some(Wide::Flat)
        } else if beta < -FAR_TAIL_BEYOND {
            Some(Wide::FarTail {
                b: -beta,
                h: beta - alpha,
            })
        } else if -1.0 <= alpha && beta <= 1.0 && p_width < CENTRED_BELOW_WIDTH {
            let c_low = ndtr_centred(alpha);
            Some(Wide::Centred {
                c_low,
                c_width: ndtr_centred(beta) - c_low,
            })
        } else if T::trunc_needs_double(mean, std, alpha, beta, p_width) {
            let reach = mean.abs() + std * alpha.abs().max(beta.abs()).min(FAR_TAIL_BEYOND + 3.0);
            Some(Wide::Tail {
                p_low,
                p_width,
                finish_in_output: T::from_f64(2.0 * reach.max(std)).is_finite(),
            })
        } else {
            None
        };
        Self {
            mean: T::from_f64(mean),
            std: T::from_f64(std),
            low: T::from_f64(low),
            high: T::from_f64(high),
            p_low: T::from_f64(p_low),
            p_width: T::from_f64(p_width),
            mirrored,
            wide,
            double: [mean, std, low, high],
        }
    }

    /// One value by the `wide` form, from u uniform in (0, 1).
    #[inline(never)]
    fn wide_value(&self, wide: Wide, u: f64) -> T {
        let [mean, std, low, high] = self.double;
        let value = match wide {
            Wide::Flat => low + u * (high - low),
            // The nearer bound (`high` unless mirrored), moved inwards.
            Wide::FarTail { b, h } if self.mirrored => low + std * far_tail_offset(b, h, u),
            Wide::FarTail { b, h } => high - std * far_tail_offset(b, h, u),
            Wide::Centred { c_low, c_width } => {
                let c = c_low + u * c_width;
                let z = f64::with_sign((c < 0.0) != self.mirrored, as241_central(c.abs()));
                mean + std * z
            }
            Wide::Tail {
                p_low,
                p_width,
                finish_in_output,
            } => {
                let (negative, c, t) = f64::prob_parts(p_low + u * p_width);
                let z = f64::with_sign(negative != self.mirrored, ndtri_abs_f64(c, t));
                if finish_in_output {
                    return (self.mean + self.std * T::from_f64(z)).clamp_to(self.low, self.high);
                }
                mean + std * z
            }
        };
        T::from_f64(value.clamp(low, high))
    }
}

impl<T: Real> Transform<T> for TruncNormal<T> {
    #[inline(always)]
    fn one(&self, draw: T::Draw) -> T {
        match self.wide {
            None => {
                let p = self.p_low + T::open_unit(draw) * self.p_width;
                let (negative, centre, tail) = T::prob_parts(p);
                self.finish(negative, T::ndtri_abs(centre, tail))
            }
            Some(wide) => self.wide_value(wide, T::wide_unit(draw)),
        }
    }
    #[inline(always)]
    fn many<I: Isa>(&self, isa: I, draws: &[T::Draw], out: &mut [T], deferred: &mut T::Deferred) {
        let n = out.len();
        if self.wide.is_some() {
            for j in 0..n {
                out[j] = self.one(draws[j]);
            }
            return;
        }
        let zero = T::from_f64(0.0);
        let (mut negative, mut centre, mut tail) = (
            Lanes([false; MAX_BATCH]),
            Lanes([zero; MAX_BATCH]),
            Lanes([zero; MAX_BATCH]),
        );
        for j in 0..n {
            let p = self.p_low + T::open_unit(draws[j]) * self.p_width;
            (negative[j], centre[j], tail[j]) = T::prob_parts(p);
        }
        T::ndtri_abs_many(isa, &centre[..], &tail[..], &negative[..], out, deferred);
        for j in 0..n {
            out[j] = self.finish(negative[j], out[j]);
        }
    }
    /// mean + std * (±|z|), with the mirror undone, clamped against last-bit rounding.
    #[inline(always)]
    fn finish(&self, negative: bool, magnitude: T) -> T {
        let z = T::with_sign(negative != self.mirrored, magnitude);
        (self.mean + self.std * z).clamp_to(self.low, self.high)
    }
}
/// Fill `out` with elements `first, first + 1, ...` of the stream: element by element up to
/// the first group boundary, a group at a time through the middle, element by element after.
#[inline(always)]
pub fn fill_run<T: Real, X: Transform<T>>(x: &X, stream: &Stream, out: &mut [T], first: u64) {
    fill_run_with(x, Portable, stream, out, first)
}

/// How far ahead of the group being made its destination is prefetched.
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD_BYTES: usize = 2048;

/// Ask for the cache lines `PREFETCH_AHEAD_BYTES` beyond those of `values` (as many as they
/// span), so that by the time values are stored there the lines are in cache instead of on
/// their way from memory. On a 64 MiB fill this made the float32 normal 6-13% faster and the
/// uniform about 5% (Rust kernel bench, alternating runs).
#[inline(always)]
fn prefetch_ahead<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let ahead = values
            .as_ptr()
            .cast::<i8>()
            .wrapping_add(PREFETCH_AHEAD_BYTES);
        for line in (0..core::mem::size_of_val(values)).step_by(64) {
            // SAFETY: a prefetch is only a hint: it never faults, even past the end of the
            // array, and it changes no value.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

/// `fill_run` with the given instruction set's pieces (see `dispatch::Isa`).
#[inline(always)]
pub fn fill_run_with<T: Real, X: Transform<T>, I: Isa>(
    x: &X,
    isa: I,
    stream: &Stream,
    out: &mut [T],
    first: u64,
) {
    let len = out.len() as u64;
    let head = ((T::GROUP - first % T::GROUP) % T::GROUP).min(len) as usize;
    let (head_out, rest) = out.split_at_mut(head);
    fill_within_group(x, isa, stream, head_out, first);
    let group = T::GROUP as usize;
    // Element `at` of `rest` is element `start + at` of the stream, in block group
    // `(start + at) / GROUP`.
    let start = first + head as u64;
    let first_block = |at: usize| (start + at as u64) / T::GROUP * LANES as u64;
    let mut deferred = T::Deferred::new();
    // Two groups at a time: Philox's rounds are a chain of multiplies, and two groups give the
    // core independent chains to overlap.
    let mut at = 0;
    while at + 2 * group <= rest.len() {
        let pair = &mut rest[at..at + 2 * group];
        prefetch_ahead(pair);
        let [a, b] = isa.blocks_pair(stream, first_block(at));
        let (first_half, second_half) = pair.split_at_mut(group);
        deferred.set_base(at);
        T::batch(x, isa, &a, first_half, &mut deferred);
        deferred.set_base(at + group);
        T::batch(x, isa, &b, second_half, &mut deferred);
        if deferred.nearly_full() {
            T::settle(x, &mut deferred, rest);
        }
        at += 2 * group;
    }
    if at + group <= rest.len() {
        let chunk = &mut rest[at..at + group];
        prefetch_ahead(chunk);
        let words = isa.blocks(stream, first_block(at));
        deferred.set_base(at);
        T::batch(x, isa, &words, chunk, &mut deferred);
        at += group;
    }
    T::settle(x, &mut deferred, rest);
    fill_within_group(x, isa, stream, &mut rest[at..], start + at as u64);
}

/// Elements `first..` of at most one group: a few one at a time (one Philox block each),
/// more by making the whole group batched and copying the part asked for. Both give the bits
/// `fill_scalar` gives; this only avoids its cost on the short runs of shards and strided rows.
#[inline(always)]
fn fill_within_group<T: Real, X: Transform<T>, I: Isa>(
    x: &X,
    isa: I,
    stream: &Stream,
    out: &mut [T],
    first: u64,
) {
    const FEW: usize = 4;
    if out.len() < FEW {
        for (k, slot) in out.iter_mut().enumerate() {
            *slot = one_element(x, stream, first + k as u64);
        }
        return;
    }
    let offset = (first % T::GROUP) as usize;
    let mut group = Lanes([T::from_f64(0.0); MAX_BATCH]);
    let group = &mut group[..T::GROUP as usize];
    let mut deferred = T::Deferred::new();
    T::batch(
        x,
        isa,
        &isa.blocks(stream, first / T::GROUP * LANES as u64),
        group,
        &mut deferred,
    );
    T::settle(x, &mut deferred, group);
    out.copy_from_slice(&group[offset..offset + out.len()]);
}

/// Element `index` alone: only the one block it draws from is computed.
#[inline(always)]
fn one_element<T: Real, X: Transform<T>>(x: &X, stream: &Stream, index: u64) -> T {
    let (group, within) = (index / T::GROUP, (index % T::GROUP) as usize);
    let j = within % LANES;
    let block = stream.block(group * LANES as u64 + j as u64);
    let mut words = [[0u32; LANES]; 4];
    for (word, value) in words.iter_mut().zip(block) {
        word[j] = value;
    }
    x.one(T::draw(&words, within / LANES, j))
}

/// One element at a time (the reference path), computing each group's blocks once.
pub fn fill_scalar<T: Real, X: Transform<T>>(x: &X, stream: &Stream, out: &mut [T], first: u64) {
    let mut cached: Option<(u64, [[u32; LANES]; 4])> = None;
    for (offset, slot) in out.iter_mut().enumerate() {
        let index = first + offset as u64;
        let (group, within) = (index / T::GROUP, (index % T::GROUP) as usize);
        let words = match cached {
            Some((g, words)) if g == group => words,
            _ => {
                let mut words = [[0u32; LANES]; 4];
                for j in 0..LANES {
                    let block = stream.block(group * LANES as u64 + j as u64);
                    for (word, value) in words.iter_mut().zip(block) {
                        word[j] = value;
                    }
                }
                cached = Some((group, words));
                words
            }
        };
        *slot = x.one(T::draw(&words, within / LANES, within % LANES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_in_bounds() {
        let stream = Stream::new(1, 0);
        let mut out = vec![0f32; 200_000];
        for (low, high) in [(-2.0, 2.0), (0.5, 0.50001), (-9.0, -8.0), (30.0, 31.0)] {
            fill_run(
                &TruncNormal::<f32>::new(0.0, 1.0, low, high),
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
    fn extreme_truncations_stay_in_bounds_and_spread() {
        let stream = Stream::new(3, 0);
        let mut out32 = vec![0f32; 4096];
        let mut out64 = vec![0f64; 4096];
        // (mean, std, low, high): flat, centred, far tail on both sides, an overflowing std.
        for (mean, std, low, high) in [
            (0.0, 1e300, -1.0, 1.0),
            (0.0, 1e8, -1.0, 1.0),
            (3.0, 1e7, -1.0, 1.0),
            (0.0, 1.0, -39.0, -38.0),
            (0.0, 1.0, 1e3, 1e3 + 1.0),
            (0.0, 1e39, -3e38, 3e38),
            (1e300, 1e-300, -1.0, 1.0),
        ] {
            fill_run(
                &TruncNormal::<f32>::new(mean, std, low, high),
                &stream,
                &mut out32,
                0,
            );
            fill_run(
                &TruncNormal::<f64>::new(mean, std, low, high),
                &stream,
                &mut out64,
                0,
            );
            let in32 = |v: &f32| v.is_finite() && *v >= low as f32 && *v <= high as f32;
            let in64 = |v: &f64| v.is_finite() && *v >= low && *v <= high;
            assert!(
                out32.iter().all(in32) && out64.iter().all(in64),
                "{low} {high}"
            );
            let distinct = |bits: Vec<u64>| {
                let mut bits = bits;
                bits.sort_unstable();
                bits.dedup();
                bits.len()
            };
            let spread = distinct(out64.iter().map(|v| v.to_bits()).collect());
            // All at the bound only where the interval is 1e600 sigma from the mean.
            assert!(
                spread > 4000 || mean == 1e300,
                "{low} {high}: {spread} values"
            );
        }
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
            &TruncNormal::<f64>::new(0.0, 1.0, -2.0, 2.0),
            &stream,
            &mut out,
            0,
        );
        let (mean, var) = moments(&out);
        let expected_var = 0.879_625_661_034_239_8_f64.powi(2);
        assert!(mean.abs() < 5.0 * expected_var.sqrt() / (n as f64).sqrt());
        assert!(
            (var - expected_var).abs() < 5.0 * 0.6 * (2.0 / n as f64).sqrt(),
            "var {var}"
        );
    }
}
