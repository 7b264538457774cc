//! The x86-64 kernels: Philox with AVX2 and AVX-512, the float32 inverse CDF's table lookups
//! with SSE2, AVX2 and AVX-512, the float64 tail-lane compress with AVX-512, and float16
//! rounding with F16C. Each gives the portable code's bits (the tests below and
//! `dispatch`'s compare them); the `target_isa!` calls at the end make the `Avx2` and `Avx512`
//! tokens of them.

use crate::lanes::{TailLanes, TAIL_LANES};
use crate::math::{f16_bits_from_f32, AS241_SPLIT, NDTRI_F32_SEGMENTS, NDTRI_F32_TABLE};
use crate::philox::{round_keys, Stream, LANES, M0, M1};

/// `blocks` with explicit AVX-512 instructions. Each counter word of the 16 blocks lives in
/// two registers of eight 64-bit lanes, its value in the low half of each lane. One `vpmuludq`
/// then gives a whole 32 x 32 -> 64-bit product per lane: the low half is the product's low
/// word as it stands, and one `vpshufd` copies the high word down. The high halves of the lanes
/// hold leftovers that nothing reads (`vpmuludq` ignores them, and the xors keep each half
/// separate), so a round costs 4 multiplies, 4 shuffles and 4 three-way xors, and the
/// multiplier port is no longer the bottleneck. Integer arithmetic is exact, so the words
/// equal `blocks`'s.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
pub unsafe fn blocks_avx512(stream: &Stream, first: u64) -> [[u32; LANES]; 4] {
    // SAFETY: the caller guarantees AVX-512F, as `blocks_avx512_groups` needs.
    let [out] = unsafe { blocks_avx512_groups::<1, 2>(stream, first) };
    out
}

/// `G` groups of 16 blocks from `first` (`H` = 2 G registers of 8 blocks per word), their
/// rounds interleaved, so that the core has `H` independent chains of multiplies to overlap.
/// With the destination prefetch (`kernel::fill_run_with`), two groups beat one; four spill
/// registers (docs/dev/performance-history.md).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
pub unsafe fn blocks_avx512_groups<const G: usize, const H: usize>(
    stream: &Stream,
    first: u64,
) -> [[[u32; LANES]; 4]; G] {
    use core::arch::x86_64::*;
    const { assert!(H == 2 * G) };
    let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    // Blocks first + 8h .. first + 8h + 8: the low word is in each lane's low half.
    let blocks: [__m512i; H] = core::array::from_fn(|h| {
        _mm512_add_epi64(
            _mm512_set1_epi64(first.wrapping_add(8 * h as u64) as i64),
            lanes,
        )
    });
    let mut c0 = blocks;
    let mut c1: [__m512i; H] = core::array::from_fn(|h| _mm512_srli_epi64::<32>(blocks[h]));
    let mut c2 = [_mm512_set1_epi64(i64::from(stream.stream[0])); H];
    let mut c3 = [_mm512_set1_epi64(i64::from(stream.stream[1])); H];
    let m0 = _mm512_set1_epi64(i64::from(M0));
    let m1 = _mm512_set1_epi64(i64::from(M1));
    // a ^ b ^ c in one instruction.
    const XOR3: i32 = 0x96;
    // Each key is broadcast straight from memory (a load, no shuffle-port work), not moved
    // into a general register and broadcast from there.
    for key in &round_keys(stream.key) {
        // SAFETY: `key` points to two u32s; each broadcast reads one of them.
        let (key0, key1) = unsafe {
            (
                _mm512_broadcastd_epi32(_mm_loadu_si32(key.as_ptr().cast())),
                _mm512_broadcastd_epi32(_mm_loadu_si32(key[1..].as_ptr().cast())),
            )
        };
        for h in 0..H {
            let product0 = _mm512_mul_epu32(c0[h], m0);
            let product1 = _mm512_mul_epu32(c2[h], m1);
            let hi0 = _mm512_shuffle_epi32::<0b11_11_01_01>(product0);
            let hi1 = _mm512_shuffle_epi32::<0b11_11_01_01>(product1);
            c0[h] = _mm512_ternarylogic_epi32::<XOR3>(hi1, c1[h], key0);
            c2[h] = _mm512_ternarylogic_epi32::<XOR3>(hi0, c3[h], key1);
            c1[h] = product1;
            c3[h] = product0;
        }
    }
    // The low half of every lane of each pair of registers, in block order.
    let pick_low = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    let mut out = [[[0u32; LANES]; 4]; G];
    for (g, group) in out.iter_mut().enumerate() {
        for (row, c) in group.iter_mut().zip([c0, c1, c2, c3]) {
            let words = _mm512_permutex2var_epi32(c[2 * g], pick_low, c[2 * g + 1]);
            // SAFETY: `row` is 16 u32s, exactly one unaligned 512-bit store.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), words) };
        }
    }
    out
}

/// `blocks_avx512`'s scheme with AVX2: each counter word of the 16 blocks in four registers of
/// four 64-bit lanes, one `vpmuludq` per product, `vpshufd` for its high word, and two xors
/// where AVX-512 has one three-way xor.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub unsafe fn blocks_avx2(stream: &Stream, first: u64) -> [[u32; LANES]; 4] {
    use core::arch::x86_64::*;
    let lanes = _mm256_set_epi64x(3, 2, 1, 0);
    let blocks: [__m256i; 4] = core::array::from_fn(|h| {
        _mm256_add_epi64(
            _mm256_set1_epi64x(first.wrapping_add(4 * h as u64) as i64),
            lanes,
        )
    });
    let mut c0 = blocks;
    let mut c1 = blocks;
    for v in &mut c1 {
        *v = _mm256_srli_epi64::<32>(*v);
    }
    let mut c2 = [_mm256_set1_epi64x(i64::from(stream.stream[0])); 4];
    let mut c3 = [_mm256_set1_epi64x(i64::from(stream.stream[1])); 4];
    let m0 = _mm256_set1_epi64x(i64::from(M0));
    let m1 = _mm256_set1_epi64x(i64::from(M1));
    // Two passes of 8 blocks: their 8 state registers, the multipliers and the round keys fit
    // AVX2's 16 registers, where all 16 blocks' state at once would spill to the stack.
    let keys = round_keys(stream.key);
    for pass in [0..2, 2..4] {
        for key in &keys {
            // From memory, as in `blocks_avx512_groups` (through a general register it cost
            // two shuffle-port operations a round: the avx2 float64 normal ran 7% slower on
            // Zen 3).
            // SAFETY: `key` points to two u32s; each broadcast reads one of them.
            let (key0, key1) = unsafe {
                (
                    _mm256_broadcastd_epi32(_mm_loadu_si32(key.as_ptr().cast())),
                    _mm256_broadcastd_epi32(_mm_loadu_si32(key[1..].as_ptr().cast())),
                )
            };
            for h in pass.clone() {
                let product0 = _mm256_mul_epu32(c0[h], m0);
                let product1 = _mm256_mul_epu32(c2[h], m1);
                let hi0 = _mm256_shuffle_epi32::<0b11_11_01_01>(product0);
                let hi1 = _mm256_shuffle_epi32::<0b11_11_01_01>(product1);
                c0[h] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[h]), key0);
                c2[h] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[h]), key1);
                c1[h] = product1;
                c3[h] = product0;
            }
        }
    }
    // The low half of every lane, in block order: gather them into the low 128 bits of each
    // register, then join register pairs.
    let pick_low = _mm256_set_epi32(7, 5, 3, 1, 6, 4, 2, 0);
    let mut out = [[0u32; LANES]; 4];
    for (row, regs) in out.iter_mut().zip([c0, c1, c2, c3]) {
        for (pair, chunk) in regs.chunks_exact(2).zip(row.chunks_exact_mut(8)) {
            let a = _mm256_permutevar8x32_epi32(pair[0], pick_low);
            let b = _mm256_permutevar8x32_epi32(pair[1], pick_low);
            let words = _mm256_permute2x128_si256::<0x20>(a, b);
            // SAFETY: `chunk` is 8 u32s, exactly one unaligned 256-bit store.
            unsafe { _mm256_storeu_si256(chunk.as_mut_ptr().cast(), words) };
        }
    }
    out
}

/// The table by columns (coefficient k of every segment), for register permutes.
const NDTRI_F32_COLUMNS: [[f32; 32]; 6] = {
    let mut columns = [[0f32; 32]; 6];
    let mut i = 0;
    while i < 32 {
        let mut k = 0;
        while k < 6 {
            columns[k][i] = NDTRI_F32_TABLE[i][k];
            k += 1;
        }
        i += 1;
    }
    columns
};

/// `ndtri_f32_poly` on 64 lanes with AVX-512: each coefficient is one `vpermt2ps` from two
/// registers holding its 32 segments, which uses the segment's low five bits as `% 32` does.
/// The multiplies and adds are the scalar ones, in the same order, so the bits are equal.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
pub unsafe fn ndtri_f32_poly_avx512(segment: &[u32; 64], t: &[f32; 64], out: &mut [f32; 64]) {
    use core::arch::x86_64::*;
    let column = |k: usize| {
        // SAFETY: each pointer here and below addresses 16 in-bounds elements of a 32- or
        // 64-element array, one unaligned 512-bit access.
        unsafe {
            (
                _mm512_loadu_ps(NDTRI_F32_COLUMNS[k].as_ptr()),
                _mm512_loadu_ps(NDTRI_F32_COLUMNS[k][16..].as_ptr()),
            )
        }
    };
    let columns: [(__m512, __m512); 6] = core::array::from_fn(column);
    for chunk in 0..4 {
        let at = 16 * chunk;
        // SAFETY: as above.
        let (index, t) = unsafe {
            (
                _mm512_loadu_si512(segment[at..].as_ptr().cast()),
                _mm512_loadu_ps(t[at..].as_ptr()),
            )
        };
        let (low, high) = columns[5];
        let mut p = _mm512_permutex2var_ps(low, index, high);
        for &(low, high) in columns[..5].iter().rev() {
            let c = _mm512_permutex2var_ps(low, index, high);
            p = _mm512_add_ps(_mm512_mul_ps(p, t), c);
        }
        // SAFETY: as above.
        unsafe { _mm512_storeu_ps(out[at..].as_mut_ptr(), p) };
    }
}

/// The table by rows padded to 8 (coefficients 0-5, then two zeros), 32-byte aligned: one
/// segment's coefficients are two 128-bit loads.
#[repr(C, align(32))]
struct NdtriF32Rows([[f32; 8]; 32]);

/// The padded row of `segment` (`% 32`, as the scalar code).
#[inline(always)]
fn ndtri_f32_row(segment: u32) -> &'static [f32; 8] {
    &NDTRI_F32_ROWS.0[(segment % NDTRI_F32_SEGMENTS) as usize]
}

static NDTRI_F32_ROWS: NdtriF32Rows = {
    let mut rows = [[0f32; 8]; 32];
    let mut i = 0;
    while i < 32 {
        let mut k = 0;
        while k < 6 {
            rows[i][k] = NDTRI_F32_TABLE[i][k];
            k += 1;
        }
        i += 1;
    }
    NdtriF32Rows(rows)
};

/// `ndtri_f32_poly` on 64 lanes with AVX2, 8 at a time: each lane's row of coefficients is
/// loaded by its segment (`% 32`, as the scalar code), lanes j and j + 4 into one register,
/// and a 4 x 4 transpose within each 128-bit half turns the rows into coefficient vectors in
/// lane order. Loads and in-lane shuffles instead of the 32-entry register lookups (four
/// `vpermps` and three blends a coefficient). Same multiplies and adds as the scalar code.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub unsafe fn ndtri_f32_poly_avx2(segment: &[u32; 64], t: &[f32; 64], out: &mut [f32; 64]) {
    use core::arch::x86_64::*;
    let coefficients = |at: usize| -> [__m256; 6] {
        let row = |lane: usize| ndtri_f32_row(segment[at + lane]);
        // Lanes j (low half) and j + 4 (high half): coefficients 0-3, then 4-5 (and padding).
        // SAFETY: each address starts 4 floats of an 8-float row.
        let first: [__m256; 4] = core::array::from_fn(|j| unsafe {
            _mm256_loadu2_m128(row(j + 4).as_ptr(), row(j).as_ptr())
        });
        // SAFETY: as above.
        let last: [__m256; 4] = core::array::from_fn(|j| unsafe {
            _mm256_loadu2_m128(row(j + 4)[4..].as_ptr(), row(j)[4..].as_ptr())
        });
        let low01 = _mm256_unpacklo_ps(first[0], first[1]);
        let high01 = _mm256_unpackhi_ps(first[0], first[1]);
        let low23 = _mm256_unpacklo_ps(first[2], first[3]);
        let high23 = _mm256_unpackhi_ps(first[2], first[3]);
        let tail01 = _mm256_unpacklo_ps(last[0], last[1]);
        let tail23 = _mm256_unpacklo_ps(last[2], last[3]);
        [
            _mm256_shuffle_ps::<0x44>(low01, low23),
            _mm256_shuffle_ps::<0xee>(low01, low23),
            _mm256_shuffle_ps::<0x44>(high01, high23),
            _mm256_shuffle_ps::<0xee>(high01, high23),
            _mm256_shuffle_ps::<0x44>(tail01, tail23),
            _mm256_shuffle_ps::<0xee>(tail01, tail23),
        ]
    };
    for at in (0..64).step_by(8) {
        let c = coefficients(at);
        // SAFETY: 8 in-bounds elements of a 64-element array, one unaligned 256-bit access.
        let t = unsafe { _mm256_loadu_ps(t[at..].as_ptr()) };
        let mut p = c[5];
        for &ck in c[..5].iter().rev() {
            p = _mm256_add_ps(_mm256_mul_ps(p, t), ck);
        }
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(out[at..].as_mut_ptr(), p) };
    }
}

/// `ndtri_f32_poly` on 64 lanes with SSE2, which every x86_64 CPU has (the baseline path),
/// 4 at a time: each lane's row is loaded by its segment and a 4 x 4 transpose turns the rows
/// into coefficient vectors, as `ndtri_f32_poly_avx2` does 8 at a time. Same multiplies and
/// adds as the scalar code.
#[inline(always)]
pub fn ndtri_f32_poly_sse2(segment: &[u32; 64], t: &[f32; 64], out: &mut [f32; 64]) {
    use core::arch::x86_64::*;
    for at in (0..64).step_by(4) {
        let row = |lane: usize| ndtri_f32_row(segment[at + lane]);
        // SAFETY: each address starts 4 floats of an 8-float row; SSE2 is part of x86_64.
        let (first, last): ([__m128; 4], [__m128; 4]) = unsafe {
            (
                core::array::from_fn(|j| _mm_loadu_ps(row(j).as_ptr())),
                core::array::from_fn(|j| _mm_loadu_ps(row(j)[4..].as_ptr())),
            )
        };
        // SAFETY: SSE2 is part of x86_64; 4 in-bounds elements of 64-element arrays.
        unsafe {
            let low01 = _mm_unpacklo_ps(first[0], first[1]);
            let high01 = _mm_unpackhi_ps(first[0], first[1]);
            let low23 = _mm_unpacklo_ps(first[2], first[3]);
            let high23 = _mm_unpackhi_ps(first[2], first[3]);
            let tail01 = _mm_unpacklo_ps(last[0], last[1]);
            let tail23 = _mm_unpacklo_ps(last[2], last[3]);
            let c = [
                _mm_movelh_ps(low01, low23),
                _mm_movehl_ps(low23, low01),
                _mm_movelh_ps(high01, high23),
                _mm_movehl_ps(high23, high01),
                _mm_movelh_ps(tail01, tail23),
                _mm_movehl_ps(tail23, tail01),
            ];
            let t = _mm_loadu_ps(t[at..].as_ptr());
            let mut p = c[5];
            for &ck in c[..5].iter().rev() {
                p = _mm_add_ps(_mm_mul_ps(p, t), ck);
            }
            _mm_storeu_ps(out[at..].as_mut_ptr(), p);
        }
    }
}

/// `f16_bits_from_f32` on every element with F16C's `vcvtps2ph` (round to nearest even), 8
/// at a time: the same bits for every non-NaN value.
///
/// # Safety
/// The CPU must support AVX and F16C.
#[target_feature(enable = "avx,f16c")]
#[inline]
pub unsafe fn f16_bits_from_f32_f16c(out: &mut [u16], values: &[f32]) {
    use core::arch::x86_64::*;
    let n = out.len().min(values.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n elements of both slices: one unaligned 256-bit load and one
        // unaligned 128-bit store.
        unsafe {
            let v = _mm256_loadu_ps(values.as_ptr().add(i));
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), h);
        }
        i += 8;
    }
    for (slot, &v) in out[i..n].iter_mut().zip(&values[i..n]) {
        *slot = f16_bits_from_f32(v);
    }
}

impl TailLanes {
    /// `add` with AVX-512, for whole vectors of eight lanes (a float64 batch is 32): each is
    /// packed with a register compress (the memory form is slow on AMD Zen 4) and stored whole
    /// at the end of the lists (the lanes past the new length are overwritten later), with no
    /// branch per lane.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F/BW/DQ/VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub unsafe fn add_avx512(&mut self, c: &[f64], t: &[f64], sign: &[f64]) {
        use core::arch::x86_64::*;
        const W: usize = 8;
        let n = c.len();
        assert!(
            n.is_multiple_of(W) && t.len() == n && sign.len() == n && self.len + n <= TAIL_LANES
        );
        let split = _mm512_set1_pd(AS241_SPLIT);
        let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        for k in (0..n).step_by(W) {
            // SAFETY: k + 8 <= n for each of the three slices, and the two stores address the
            // eight entries from `len`, which the assert above keeps inside the lists.
            unsafe {
                let centre = _mm512_loadu_pd(c.as_ptr().add(k));
                let t = _mm512_loadu_pd(t.as_ptr().add(k));
                let signed_t = _mm512_or_pd(t, _mm512_loadu_pd(sign.as_ptr().add(k)));
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
}

// The tokens: each `Isa` piece is one of the kernels above.
crate::simd::target_isa!(
    /// AVX2 with F16C, made only in dispatch's `fill_run_avx2`.
    Avx2, blocks: blocks_avx2, poly: ndtri_f32_poly_avx2, f16: f16_bits_from_f32_f16c,
    central_lanes: 16
);
crate::simd::target_isa!(
    /// AVX-512 F/BW/DQ/VL with F16C, made only in dispatch's `fill_run_avx512`.
    Avx512, blocks: blocks_avx512, poly: ndtri_f32_poly_avx512,
    pair: blocks_avx512_groups::<2, 4>, tail: TailLanes::add_avx512, f16: f16_bits_from_f32_f16c,
    i64_to_f64: crate::simd::f64_of_i64_native, central_lanes: 32
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::ndtri_f32_poly;

    #[test]
    fn simd_blocks_equal_portable_blocks() {
        type Blocks = unsafe fn(&Stream, u64) -> [[u32; LANES]; 4];
        let paths: [(&str, bool, Blocks); 2] = [
            (
                "avx2",
                std::arch::is_x86_feature_detected!("avx2"),
                blocks_avx2,
            ),
            (
                "avx512",
                std::arch::is_x86_feature_detected!("avx512f"),
                blocks_avx512,
            ),
        ];
        let stream = Stream::new(0xdead_beef_0bad_f00d, (1 << 40) + 3);
        for (name, supported, blocks) in paths {
            if !supported {
                eprintln!("SKIPPED simd_blocks_equal_portable_blocks on {name}: not on this CPU");
                continue;
            }
            for first in [0u64, (1 << 32) - 9, u64::MAX / 8] {
                // SAFETY: only paths whose CPU features were detected are run.
                let fast = unsafe { blocks(&stream, first) };
                assert_eq!(fast, stream.blocks(first));
            }
        }
    }

    /// AVX-512's two-group kernel (its `Isa::blocks_pair`) gives the two groups' portable
    /// blocks.
    #[test]
    fn avx512_block_pairs_equal_portable_blocks() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("SKIPPED avx512_block_pairs_equal_portable_blocks: not on this CPU");
            return;
        }
        let stream = Stream::new(0x0123_4567_89ab_cdef, 5);
        for first in [0u64, (1 << 32) - 20, u64::MAX / 4] {
            // SAFETY: AVX-512F was detected.
            let fast = unsafe { blocks_avx512_groups::<2, 4>(&stream, first) };
            let expected = [stream.blocks(first), stream.blocks(first + LANES as u64)];
            assert_eq!(fast, expected, "from {first}");
        }
    }

    /// Every instruction set's table lookup gives the portable polynomial's bits, for every
    /// segment (and segments past the table, which all take modulo 32) against many t.
    #[test]
    fn simd_table_lookups_equal_the_portable_polynomial() {
        let t: [f32; 64] = core::array::from_fn(|j| j as f32 / 61.0 - 0.03);
        for rotation in 0..64 {
            let segment: [u32; 64] = core::array::from_fn(|j| ((j + rotation) % 64) as u32);
            let expected: Vec<u32> = segment
                .iter()
                .zip(&t)
                .map(|(&s, &t)| ndtri_f32_poly(s, t).to_bits())
                .collect();
            let mut kernels: Vec<(&str, [f32; 64])> = Vec::new();
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut out = [0f32; 64];
                    // SAFETY: AVX2 was detected.
                    unsafe { ndtri_f32_poly_avx2(&segment, &t, &mut out) };
                    kernels.push(("avx2", out));
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    let mut out = [0f32; 64];
                    // SAFETY: AVX-512F was detected.
                    unsafe { ndtri_f32_poly_avx512(&segment, &t, &mut out) };
                    kernels.push(("avx512", out));
                }
            }
            for (name, out) in kernels {
                let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                assert_eq!(bits, expected, "{name} at rotation {rotation}");
            }
        }
    }
}
