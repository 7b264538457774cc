//! `PhiloxRng` as a Rust user of `rand` meets it: its words are Random123's known answers and
//! the very words the array kernels turn into values.

use crate::kernel::fill_scalar;
use crate::philox::{Stream, LANES};
use crate::real::Transform;
use crate::rng::PhiloxRng;
use crate::tests::KNOWN_ANSWERS;
use crate::transforms::Uniform;
use rand::{Rng, RngExt, SeedableRng};

fn join(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

#[test]
fn words_are_random123s_known_answers() {
    for (counter, key, expected) in KNOWN_ANSWERS {
        // Counter words 0-1 are the block, 2-3 the stream; key words 0-1 the 64-bit key.
        let mut rng = PhiloxRng::new(join(key[0], key[1]), join(counter[2], counter[3]));
        rng.seek(join(counter[0], counter[1]), 0);
        let words: Vec<u32> = (0..4).map(|_| rng.next_u32()).collect();
        assert_eq!(words, expected);
    }
}

#[test]
fn seeding_reading_and_seeking_agree() {
    let mut seed = [0u8; 16];
    seed[..8].copy_from_slice(&7u64.to_le_bytes());
    seed[8..].copy_from_slice(&3u64.to_le_bytes());
    let mut from_seed = PhiloxRng::from_seed(seed);
    let mut direct = PhiloxRng::new(7, 3);
    assert_eq!(from_seed, direct);
    let stream = Stream::new(7, 3);
    for block in 0..3 {
        for word in stream.block(block) {
            assert_eq!(direct.next_u32(), word);
        }
    }
    assert_eq!(direct.position(), (3, 0));
    let mut bytes = [0u8; 6];
    direct.fill_bytes(&mut bytes);
    assert_eq!(&bytes[..4], &stream.block(3)[0].to_le_bytes());
    assert_eq!(&bytes[4..], &stream.block(3)[1].to_le_bytes()[..2]);
    assert_eq!(direct.position(), (3, 2)); // the partial second word was used up whole
    from_seed.seek(2, 3);
    assert_eq!(from_seed.position(), (2, 3));
    assert_eq!(
        from_seed.next_u64(),
        join(stream.block(2)[3], stream.block(3)[0])
    );
}

#[test]
fn rand_draws_from_it_like_any_generator() {
    let mut rng = PhiloxRng::new(2024, 0);
    let n = 200_000;
    let mean = (0..n).map(|_| rng.random::<f64>()).sum::<f64>() / n as f64;
    // sd of the mean of U(0, 1) is 1/sqrt(12 n) = 6.5e-4; a 5 sd band.
    assert!(
        (mean - 0.5).abs() < 5.0 * (1.0 / (12.0 * n as f64)).sqrt(),
        "{mean}"
    );
    let dice: Vec<u32> = (0..6000).map(|_| rng.random_range(1..=6)).collect();
    assert!((1..=6).all(|face| dice.iter().filter(|&&d| d == face).count() > 800));
}

#[test]
fn its_words_are_the_words_a_float32_fill_consumes() {
    // float32 element 64 g + 16 k + j takes word k of block 16 g + j (docs/stream-spec.md),
    // so a uniform fill's values are the uniform transform of the generator's words.
    let (key, stream_id) = (99, 5);
    let uniform = Uniform::<f32>::new(-1.0, 1.0);
    let mut values = vec![0f32; 256];
    fill_scalar(&uniform, &Stream::new(key, stream_id), &mut values, 0);
    let mut rng = PhiloxRng::new(key, stream_id);
    for block in 0..(values.len() / 4) as u64 {
        let (group, j) = (block / LANES as u64, block % LANES as u64);
        for k in 0..4u64 {
            let element = (64 * group + 16 * k + j) as usize;
            assert_eq!(
                uniform.one(crate::simd::Portable, rng.next_u32()),
                values[element]
            );
        }
    }
}
