//! Lane bookkeeping for the batched kernels, below any instruction set or distribution: the
//! aligned scratch arrays, and the float64 lanes set aside for AS 241's tail.

use crate::math::{as241_far_tail, as241_near_tail_interleaved, as241_r, AS241_FAR, AS241_SPLIT};
use crate::philox::LANES;
use core::mem::MaybeUninit;

/// The most draws one `many` call takes: one group of float32.
pub const MAX_BATCH: usize = 4 * LANES;

/// A batch's worth of lanes on whole cache lines, for the arrays the kernels store from vector
/// registers and load back. Left at the alignment of their elements, where they fell depended
/// on the stack depth at the call (and the main thread's stack start is randomised per
/// process): the same kernel ran measurably slower at some stack offsets than at others
/// (docs/dev/performance-history.md).
#[repr(C, align(64))]
pub struct Lanes<T, const N: usize = MAX_BATCH>(pub [T; N]);

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
    pub(crate) base: usize,
    pub(crate) len: usize,
    /// Where each lane's value goes in `out`.
    pub(crate) at: [MaybeUninit<usize>; TAIL_LANES],
    /// Each lane's t = min(p, 1 - p) > 0 with its value's sign in its sign bit.
    pub(crate) signed_t: [MaybeUninit<f64>; TAIL_LANES],
}

/// Room for `2 * MAX_BATCH` more lanes beyond `nearly_full`, and for padding to a whole chunk.
pub(crate) const TAIL_LANES: usize = 256;

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
    pub fn add(&mut self, c: &[f64], t: &[f64], sign: &[f64]) {
        let mut mask = 0u64;
        for (j, &centre) in c.iter().enumerate() {
            mask |= u64::from(centre > AS241_SPLIT) << j;
        }
        while mask != 0 {
            let j = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            self.at[self.len].write(self.base + j);
            self.signed_t[self.len].write(f64::from_bits(t[j].to_bits() | sign[j].to_bits()));
            self.len += 1;
        }
    }

    /// Finish every lane set aside into `out` as `finish(negative, |Phi^-1|)`, with |Phi^-1|
    /// exactly as `ndtri_abs_f64` branches. Each step
    /// is one loop over all the lanes, padded to a whole vector with a harmless value: a loop
    /// of run-time length is vectorised at full register width, where eight-lane arrays were
    /// packed into 2-wide vectors once the kernel was inlined into a larger function (fat LTO).
    #[inline(always)]
    pub fn settle(&mut self, out: &mut [f64], finish: impl Fn(bool, f64) -> f64) {
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
        for z in z.iter() {
            any_far |= *z > AS241_FAR;
        }
        as241_near_tail_interleaved::<8>(z);
        if any_far {
            far_tail_lanes(signed_t, z);
        }
        for ((at, &t), &z) in self.at[..len].iter().zip(signed_t).zip(&*z) {
            // SAFETY: entries below `len` were written by `add`.
            out[unsafe { at.assume_init() }] = finish(t.is_sign_negative(), z);
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
