//! `PhiloxRng`: a heinit_rs stream as a `rand` generator.
//!
//! The stream behind every fill is Philox4x32-10 (docs/stream-spec.md): block `b` of stream
//! `t` under key `k` is four 32-bit words. `PhiloxRng` hands those words out in order (block 0,
//! 1, 2, ..., each word 0 to 3) through `rand_core`'s traits, so `rand` and `rand_distr` can
//! draw from the very words the array kernels read, and any position can be jumped to in O(1).
//!
//! ```
//! use heinit_rs::PhiloxRng;
//! use rand::{RngExt, SeedableRng};
//!
//! let mut rng = PhiloxRng::new(42, 0); // key 42, stream 0: the words `seed=42` fills read
//! let x: f64 = rng.random();
//! rng.seek(1 << 40, 2); // word 2 of block 2^40, at once
//! let y = rng.next_u32();
//! # use rand::Rng;
//! assert_eq!(PhiloxRng::seed_from_u64(7).position(), (0, 0));
//! # let _ = (x, y);
//! ```

use crate::philox::Stream;
use core::convert::Infallible;

/// One stream of Philox4x32-10 under one key, read word by word from a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhiloxRng {
    stream: Stream,
    block: u64,
    words: [u32; 4],
    /// The next word to hand out from `words` (4: `block` is not computed yet).
    used: usize,
}

impl PhiloxRng {
    /// Word 0 of block 0 of stream `stream` under `key`.
    pub fn new(key: u64, stream: u64) -> Self {
        Self {
            stream: Stream::new(key, stream),
            block: 0,
            words: [0; 4],
            used: 4,
        }
    }

    /// Continue from word `word` (0 to 3) of block `block`.
    ///
    /// # Panics
    /// If `word` is 4 or more.
    pub fn seek(&mut self, block: u64, word: usize) {
        assert!(word < 4, "a Philox block has 4 words, got word {word}");
        self.words = self.stream.block(block);
        self.block = block.wrapping_add(1);
        self.used = word;
    }

    /// (block, word) of the next word this generator hands out.
    pub fn position(&self) -> (u64, usize) {
        if self.used == 4 {
            (self.block, 0)
        } else {
            (self.block.wrapping_sub(1), self.used)
        }
    }
}

impl rand_core::TryRng for PhiloxRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        if self.used == 4 {
            self.words = self.stream.block(self.block);
            self.block = self.block.wrapping_add(1);
            self.used = 0;
        }
        self.used += 1;
        Ok(self.words[self.used - 1])
    }

    /// Two consecutive words, the first as the low half.
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let lo = self.try_next_u32()?;
        let hi = self.try_next_u32()?;
        Ok(u64::from(lo) | (u64::from(hi) << 32))
    }

    /// Consecutive words, little-endian; a partial last word is used up.
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(4) {
            let word = self.try_next_u32()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::SeedableRng for PhiloxRng {
    /// The key (8 bytes, little-endian) then the stream (8 bytes, little-endian).
    type Seed = [u8; 16];

    fn from_seed(seed: [u8; 16]) -> Self {
        let (key, stream) = seed.split_at(8);
        Self::new(
            u64::from_le_bytes(key.try_into().expect("8 bytes")),
            u64::from_le_bytes(stream.try_into().expect("8 bytes")),
        )
    }
}
