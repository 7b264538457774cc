//! Philox4x32-10, the counter-based bit generator of Salmon et al., "Parallel random numbers:
//! as easy as 1, 2, 3" (SC'11), as published in Random123.
//!
//! heinit_rs addresses it as: key = the 64-bit seed, counter = (block index: 64 bits,
//! stream: 64 bits). Each 128-bit block gives four 32-bit words; see docs/stream-spec.md.

pub(crate) const M0: u32 = 0xD251_1F53;
pub(crate) const M1: u32 = 0xCD9E_8D57;
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
pub(crate) fn round_keys([k0, k1]: [u32; 2]) -> [[u32; 2]; 10] {
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

/// A keyed stream: the pair (seed, stream) that one initializer call draws from. Value `i` of a
/// fill is made from block(s) near `i` of it alone (docs/stream-spec.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    pub(crate) key: [u32; 2],
    pub(crate) stream: [u32; 2],
}

impl Stream {
    /// Stream `stream` under key `seed` (Philox's key; stream 0 is what a plain integer seed
    /// gives in Python).
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
    pub(crate) fn counters(&self, first: u64) -> [[u32; LANES]; 4] {
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
        for (counter, key, expected) in crate::tests::KNOWN_ANSWERS {
            assert_eq!(philox4x32_10(counter, key), expected);
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
