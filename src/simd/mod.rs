//! Instruction sets as the kernels see them: `Isa` is what a batched kernel takes from one
//! (Philox blocks, the float32 inverse CDF's table lookups, the float64 tail-lane compress,
//! the float64 central rational's interleave width, the 64-bit integer conversion, float16
//! rounding), the portable implementation, and `target_isa!`, which makes a set's
//! proof token from its kernels. Each set's kernels and token live in its own file (`x86`,
//! `neon`); the list of paths that use them is `dispatch`'s `simd_paths!`. Nothing here knows
//! of distributions.

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use crate::lanes::{TailLanes, MAX_BATCH};
use crate::math::{as241_central_interleaved, f16_bits_from_f32, f64_of_small_i64, ndtri_f32_poly};
use crate::philox::{Stream, LANES};

/// What the batched kernels take from an instruction set (the pieces listed in the module's
/// doc). Every implementation gives the portable code's bits.
pub trait Isa: Copy {
    fn blocks(self, stream: &Stream, first: u64) -> [[u32; LANES]; 4];
    /// Two groups' blocks, from `first` and from `first + LANES`. Where the set's Philox can
    /// run both groups' rounds side by side, it overrides this.
    #[inline(always)]
    fn blocks_pair(self, stream: &Stream, first: u64) -> [[[u32; LANES]; 4]; 2] {
        [
            self.blocks(stream, first),
            self.blocks(stream, first + LANES as u64),
        ]
    }
    /// `lanes.add(c, t, sign)`: set aside float64 lanes for AS 241's tail.
    #[inline(always)]
    fn defer_tail_lanes(self, lanes: &mut TailLanes, c: &[f64], t: &[f64], sign: &[f64]) {
        lanes.add(c, t, sign)
    }
    /// `z[j] = as241_central(c[j])` for every lane, interleaved over as many lanes as four
    /// registers hold (each Horner step then holds three arrays: 12 of 16 registers): 8 for
    /// 128-bit vectors.
    #[inline(always)]
    fn as241_central_many(self, c: &[f64], z: &mut [f64]) {
        as241_central_interleaved::<8>(c, z)
    }
    /// `out[j] = ndtri_f32_poly(segment[j], t[j])` for every lane.
    #[inline(always)]
    fn ndtri_f32_poly_many(
        self,
        segment: &[u32; MAX_BATCH],
        t: &[f32; MAX_BATCH],
        out: &mut [f32; MAX_BATCH],
    ) {
        for ((slot, &s), &t) in out.iter_mut().zip(segment).zip(t) {
            *slot = ndtri_f32_poly(s, t);
        }
    }
    /// `out[j]` = `values[j]` rounded to binary16 bits (`f16_bits_from_f32`).
    #[inline(always)]
    fn round_f16(self, out: &mut [u16], values: &[f32]) {
        for (slot, &v) in out.iter_mut().zip(values) {
            *slot = f16_bits_from_f32(v);
        }
    }
    /// `x as f64`, rounded to nearest even. By default in operations every vector unit has
    /// (SSE2 and AVX2 have no 64-bit integer conversion, and LLVM converts such lanes one at a
    /// time): `f64_of_i64_in_halves`.
    #[inline(always)]
    fn f64_of_i64(self, x: i64) -> f64 {
        f64_of_i64_in_halves(x)
    }
}

/// `x as f64` from its 32-bit halves, each converted exactly by a bit trick: high * 2^32 and
/// low are exact, so their sum is the one rounding of x, as the conversion rounds it.
#[inline(always)]
pub fn f64_of_i64_in_halves(x: i64) -> f64 {
    const TWO_POW_52: f64 = 4_503_599_627_370_496.0;
    let high = f64_of_small_i64(x >> 32);
    // The low half is the low mantissa bits of 2^52 + low.
    let low = f64::from_bits(0x4330_0000_0000_0000 | (x as u64 & 0xffff_ffff)) - TWO_POW_52;
    high * 4_294_967_296.0 + low
}

/// `x as f64` where the instruction set converts 64-bit integers itself (AVX-512 DQ, NEON).
#[inline(always)]
pub fn f64_of_i64_native(x: i64) -> f64 {
    x as f64
}

/// Plain Rust, vectorised by LLVM for whatever the enclosing function is compiled for.
#[derive(Clone, Copy)]
pub struct Portable;

impl Isa for Portable {
    #[inline(always)]
    fn blocks(self, stream: &Stream, first: u64) -> [[u32; LANES]; 4] {
        stream.blocks(first)
    }
    /// On x86_64, SSE2's loads and transposes (every such CPU has SSE2); elsewhere the
    /// default, scalar loads.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn ndtri_f32_poly_many(
        self,
        segment: &[u32; MAX_BATCH],
        t: &[f32; MAX_BATCH],
        out: &mut [f32; MAX_BATCH],
    ) {
        x86::ndtri_f32_poly_sse2(segment, t, out)
    }
}

/// A proof token that the CPU has an instruction set: an `Isa` whose pieces are that set's
/// `unsafe` kernels. The token is made only inside the `#[target_feature]` function of its set.
macro_rules! target_isa {
    ($(#[$doc:meta])* $name:ident, blocks: $blocks:path $(, poly: $poly:path)?
     $(, pair: $blocks_pair:path)? $(, tail: $defer_tail:path)? $(, f16: $round_f16:path)?
     $(, i64_to_f64: $f64_of_i64:path)? $(, central_lanes: $central_lanes:literal)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name(());

        impl $name {
            /// # Safety
            /// The CPU must support the instruction set: make the token only inside a
            /// `#[target_feature]` function of that set (src/dispatch.rs).
            #[inline(always)]
            pub unsafe fn new() -> Self {
                $name(())
            }
        }

        impl $crate::simd::Isa for $name {
            #[inline(always)]
            fn blocks(self, stream: &$crate::philox::Stream, first: u64) -> [[u32; $crate::philox::LANES]; 4] {
                // SAFETY: the token exists only on CPUs with the kernel's instruction set.
                unsafe { $blocks(stream, first) }
            }
            $(
            #[inline(always)]
            fn blocks_pair(self, stream: &$crate::philox::Stream, first: u64) -> [[[u32; $crate::philox::LANES]; 4]; 2] {
                // SAFETY: as above.
                unsafe { $blocks_pair(stream, first) }
            }
            )?
            $(
            #[inline(always)]
            fn defer_tail_lanes(
                self,
                lanes: &mut $crate::lanes::TailLanes,
                c: &[f64],
                t: &[f64],
                sign: &[f64],
            ) {
                // SAFETY: as above.
                unsafe { $defer_tail(lanes, c, t, sign) }
            }
            )?
            $(
            #[inline(always)]
            fn ndtri_f32_poly_many(
                self,
                segment: &[u32; $crate::lanes::MAX_BATCH],
                t: &[f32; $crate::lanes::MAX_BATCH],
                out: &mut [f32; $crate::lanes::MAX_BATCH],
            ) {
                // SAFETY: as above.
                unsafe { $poly(segment, t, out) }
            }
            )?
            $(
            #[inline(always)]
            fn round_f16(self, out: &mut [u16], values: &[f32]) {
                // SAFETY: as above (the set's entry point also enables F16C).
                unsafe { $round_f16(out, values) }
            }
            )?
            $(
            #[inline(always)]
            fn as241_central_many(self, c: &[f64], z: &mut [f64]) {
                $crate::math::as241_central_interleaved::<$central_lanes>(c, z)
            }
            )?
            $(
            #[inline(always)]
            fn f64_of_i64(self, x: i64) -> f64 {
                $f64_of_i64(x)
            }
            )?
        }
    };
}
pub(crate) use target_isa;
