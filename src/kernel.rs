//! The contiguous-run kernel: fills a run of elements of one stream, a group of blocks at a
//! time, with an instruction set's pieces (`Isa`) and any distribution.

use crate::lanes::{Deferred, Lanes, MAX_BATCH};
use crate::philox::{Stream, LANES};
use crate::real::{Real, Store, Transform};
use crate::simd::{Isa, Portable};

/// Values rounded into a 16-bit format are made this many at a time in a stack buffer.
const ROUND_CHUNK: usize = 1024;

/// `fill(out, first)` for a storage format: straight into `out` where it stores the kernels'
/// type, else a chunk at a time into a stack buffer, each value rounded into place (so no
/// float32 copy of the array is ever made). Inlined into each instruction set's entry point,
/// the rounding loop is vectorised for that set.
#[inline(always)]
pub fn fill_rounded<S: Store, I: Isa>(
    isa: I,
    out: &mut [S],
    first: u64,
    mut fill: impl FnMut(&mut [S::Real], u64),
) {
    if let Some(out) = S::as_real(out) {
        return fill(out, first);
    }
    let mut buffer = Lanes([S::Real::from_f64(0.0); ROUND_CHUNK]);
    for (k, chunk) in out.chunks_mut(ROUND_CHUNK).enumerate() {
        // The kernel's own prefetches reach only the stack buffer; ask for the lines after
        // this chunk's destination (2 KiB: the next chunk of a 16-bit format).
        prefetch_ahead(chunk);
        let values = &mut buffer[..chunk.len()];
        fill(values, first + (k * ROUND_CHUNK) as u64);
        S::round_into(isa, chunk, values);
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
/// their way from memory: large fills are bound by memory writes, and the hardware prefetcher
/// does not run far enough ahead of a store stream (docs/dev/performance-history.md).
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
    x.one(Portable, T::draw(&words, within / LANES, j))
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
        *slot = x.one(Portable, T::draw(&words, within / LANES, within % LANES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::{Normal, TruncNormal, Uniform};

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
        fill_run(&Normal::<f64>::new(1.0, 3.0), &stream, &mut out, 0);
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
