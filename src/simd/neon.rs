//! The aarch64 kernels: Philox with NEON. LLVM leaves the portable Philox scalar on aarch64
//! but vectorises the float math, so only Philox is written by hand.

use crate::philox::{round_keys, Stream, LANES, M0, M1};

/// `blocks` with NEON, which every aarch64 CPU has. LLVM keeps the portable loop's 32 x 32
/// -> 64-bit products scalar on aarch64; here each counter word of the 16 blocks sits in four
/// registers of four lanes, `umull`/`umull2` give the products of two lanes each, and
/// `uzp1`/`uzp2` collect their low and high words. Integer arithmetic is exact, so the words
/// equal `blocks`'s.
///
/// # Safety
/// The CPU must support NEON (every aarch64 CPU does; the signature matches the other sets'
/// kernels, which `target_isa!` calls alike).
#[inline]
pub(crate) unsafe fn blocks_neon(stream: &Stream, first: u64) -> [[u32; LANES]; 4] {
    use core::arch::aarch64::*;
    let mut words = stream.counters(first);
    // SAFETY: NEON is part of the aarch64 baseline, and every pointer addresses four
    // in-bounds u32s of a 16-element row: one unaligned 128-bit load or store.
    unsafe {
        let load = |row: &[u32; LANES]| -> [uint32x4_t; 4] {
            core::array::from_fn(|r| vld1q_u32(row[4 * r..].as_ptr()))
        };
        let [mut c0, mut c1, mut c2, mut c3] = words.each_ref().map(load);
        let (m0, m1) = (vdupq_n_u32(M0), vdupq_n_u32(M1));
        // (high words, low words) of the four 64-bit products a * m.
        let mul = |a: uint32x4_t, m: uint32x4_t| {
            let low_pair = vreinterpretq_u32_u64(vmull_u32(vget_low_u32(a), vget_low_u32(m)));
            let high_pair = vreinterpretq_u32_u64(vmull_high_u32(a, m));
            (
                vuzp2q_u32(low_pair, high_pair),
                vuzp1q_u32(low_pair, high_pair),
            )
        };
        for [k0, k1] in round_keys(stream.key) {
            let (key0, key1) = (vdupq_n_u32(k0), vdupq_n_u32(k1));
            for r in 0..4 {
                let (hi0, lo0) = mul(c0[r], m0);
                let (hi1, lo1) = mul(c2[r], m1);
                c0[r] = veorq_u32(veorq_u32(hi1, c1[r]), key0);
                c2[r] = veorq_u32(veorq_u32(hi0, c3[r]), key1);
                c1[r] = lo1;
                c3[r] = lo0;
            }
        }
        for (row, regs) in words.iter_mut().zip([c0, c1, c2, c3]) {
            for (r, v) in regs.into_iter().enumerate() {
                vst1q_u32(row[4 * r..].as_mut_ptr(), v);
            }
        }
    }
    words
}

crate::simd::target_isa!(
    /// NEON, made only in dispatch's `neon` entry point. Only Philox is written by hand; the
    /// table lookups stay portable (scalar loads): a `tbl` version and a load-and-transpose
    /// one came out slower than scalar loads in llvm-mca's models of most cores
    /// (docs/dev/performance-history.md).
    Neon, blocks: blocks_neon, i64_to_f64: crate::simd::f64_of_i64_native
);
