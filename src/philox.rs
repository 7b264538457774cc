//! Philox4x32-10, the counter-based bit generator of Salmon et al., "Parallel random numbers:
//! as easy as 1, 2, 3" (SC'11), as published in Random123.
//!
//! heinit_rs addresses it as: key = the 64-bit seed, counter = (block index: 64 bits,
//! stream: 64 bits). Each 128-bit block gives four 32-bit words; see docs/stream-spec.md.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Blocks computed together by the lane-batched kernels; 16 x 32 bits fill one AVX-512 register.
pub const LANES: usize = 16;

/// The stream reserved for deriving child keys (`Generator.spawn`); draws never reach it.
pub const SPAWN_STREAM: u64 = u64::MAX;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// The key of each of the ten rounds: the key, then bumped by the Weyl constants each round.
#[inline(always)]
fn round_keys([k0, k1]: [u32; 2]) -> [[u32; 2]; 10] {
    core::array::from_fn(|round| {
        let r = round as u32;
        [
            k0.wrapping_add(W0.wrapping_mul(r)),
            k1.wrapping_add(W1.wrapping_mul(r)),
        ]
    })
}

/// One Philox4x32-10 block: the published function, for known-answer tests and scalar paths.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    for [k0, k1] in round_keys(key) {
        let (hi0, lo0) = mulhilo(M0, c0);
        let (hi1, lo1) = mulhilo(M1, c2);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    }
    [c0, c1, c2, c3]
}

/// A keyed stream: the pair (seed, stream) that one initializer call draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    key: [u32; 2],
    stream: [u32; 2],
}

impl Stream {
    pub fn new(seed: u64, stream: u64) -> Self {
        Self {
            key: [seed as u32, (seed >> 32) as u32],
            stream: [stream as u32, (stream >> 32) as u32],
        }
    }

    /// The four words of block `block`.
    #[inline(always)]
    pub fn block(&self, block: u64) -> [u32; 4] {
        philox4x32_10(
            [
                block as u32,
                (block >> 32) as u32,
                self.stream[0],
                self.stream[1],
            ],
            self.key,
        )
    }

    /// Blocks `first .. first + LANES`, transposed: `out[w][l]` is word `w` of block `first + l`.
    /// Plain loops over fixed-size arrays, which LLVM turns into vector instructions.
    #[inline(always)]
    pub fn blocks(&self, first: u64) -> [[u32; LANES]; 4] {
        let mut c = self.counters(first);
        for [k0, k1] in round_keys(self.key) {
            c = round(&c, k0, k1);
        }
        c
    }

    /// The counters of blocks `first .. first + LANES`, transposed as `blocks` returns words.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // one index into four arrays: the shape LLVM vectorises
    fn counters(&self, first: u64) -> [[u32; LANES]; 4] {
        let mut c = [[0u32; LANES]; 4];
        for lane in 0..LANES {
            let block = first + lane as u64;
            c[0][lane] = block as u32;
            c[1][lane] = (block >> 32) as u32;
            c[2][lane] = self.stream[0];
            c[3][lane] = self.stream[1];
        }
        c
    }
}

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
#[cfg(target_arch = "x86_64")]
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
#[cfg(target_arch = "x86_64")]
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
    for [k0, k1] in round_keys(stream.key) {
        let (key0, key1) = (_mm512_set1_epi32(k0 as i32), _mm512_set1_epi32(k1 as i32));
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
#[cfg(target_arch = "x86_64")]
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
        for [k0, k1] in keys {
            let (key0, key1) = (_mm256_set1_epi32(k0 as i32), _mm256_set1_epi32(k1 as i32));
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

/// `blocks` with NEON, which every aarch64 CPU has. LLVM keeps the portable loop's 32 x 32
/// -> 64-bit products scalar on aarch64; here each counter word of the 16 blocks sits in four
/// registers of four lanes, `umull`/`umull2` give the products of two lanes each, and
/// `uzp1`/`uzp2` collect their low and high words. Integer arithmetic is exact, so the words
/// equal `blocks`'s.
#[cfg(target_arch = "aarch64")]
#[inline]
pub fn blocks_neon(stream: &Stream, first: u64) -> [[u32; LANES]; 4] {
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

#[inline(always)]
fn round(c: &[[u32; LANES]; 4], k0: u32, k1: u32) -> [[u32; LANES]; 4] {
    let mut next = [[0u32; LANES]; 4];
    for lane in 0..LANES {
        let (hi0, lo0) = mulhilo(M0, c[0][lane]);
        let (hi1, lo1) = mulhilo(M1, c[2][lane]);
        next[0][lane] = hi1 ^ c[1][lane] ^ k0;
        next[1][lane] = lo1;
        next[2][lane] = hi0 ^ c[3][lane] ^ k1;
        next[3][lane] = lo0;
    }
    next
}

/// The key of child `index` of a generator keyed by `seed`: the first two words of block
/// `index` of the reserved spawn stream.
pub fn derive_key(seed: u64, index: u64) -> u64 {
    let words = Stream::new(seed, SPAWN_STREAM).block(index);
    u64::from(words[0]) | (u64::from(words[1]) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random123_known_answers() {
        let cases = [
            (
                [0u32; 4],
                [0u32; 2],
                [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
            ),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (counter, key, expected) in cases {
            assert_eq!(philox4x32_10(counter, key), expected);
        }
    }

    #[cfg(target_arch = "x86_64")]
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

    #[test]
    fn derived_keys_differ() {
        let keys: Vec<u64> = (0..64).map(|i| derive_key(5, i)).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len());
        assert_ne!(derive_key(5, 0), derive_key(6, 0));
    }
}
