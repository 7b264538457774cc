//! Property tests (proptest) of the index and counter arithmetic: any block of any logical
//! array, in any memory layout, on any thread count and CPU path, gets exactly the values the
//! scalar reference gives its global C-order indices.

use crate::dispatch::{fill_run_on, Path};
use crate::error::GeometryError;
use crate::fill::{fill, Plan};
use crate::kernel::fill_scalar;
use crate::philox::{Stream, LANES};
use crate::pool;
use crate::real::{Real, Store, Transform};
use crate::transforms::{Normal, TruncNormal, Uniform};
use proptest::prelude::*;

/// A block `offset .. offset + shape` of `global`, laid out in memory with the axes in `order`
/// (outermost first), each stepped by `step` and reversed where `negate`.
#[derive(Debug, Clone)]
struct Layout {
    global: Vec<u64>,
    offset: Vec<u64>,
    shape: Vec<usize>,
    order: Vec<usize>,
    step: Vec<usize>,
    negate: Vec<bool>,
}

fn layouts(max_rank: usize, max_side: u64) -> impl Strategy<Value = Layout> {
    (1..=max_rank)
        .prop_flat_map(move |rank| {
            (
                prop::collection::vec(1..=max_side, rank),
                Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
                prop::collection::vec(1usize..=2, rank),
                prop::collection::vec(any::<bool>(), rank),
            )
        })
        .prop_flat_map(|(global, order, step, negate)| {
            let blocks: Vec<_> = global
                .iter()
                .map(|&g| (0..=g).prop_flat_map(move |o| (Just(o), 0..=(g - o) as usize)))
                .collect();
            (Just(global), blocks, Just(order), Just(step), Just(negate))
        })
        .prop_map(|(global, block, order, step, negate)| Layout {
            global,
            offset: block.iter().map(|b| b.0).collect(),
            shape: block.iter().map(|b| b.1).collect(),
            order,
            step,
            negate,
        })
}

impl Layout {
    /// Element strides of the block in a buffer, and the buffer offset of its first element.
    fn strides(&self) -> (Vec<isize>, isize, usize) {
        let rank = self.shape.len();
        let mut strides = vec![0isize; rank];
        let mut span = 1usize;
        for &axis in self.order.iter().rev() {
            strides[axis] = (span * self.step[axis]) as isize;
            span *= self.shape[axis].max(1) * self.step[axis];
        }
        let mut start = 0isize;
        for ((stride, &n), &negate) in strides.iter_mut().zip(&self.shape).zip(&self.negate) {
            if negate {
                start += (n.max(1) as isize - 1) * *stride;
                *stride = -*stride;
            }
        }
        (strides, start, span)
    }

    fn global_index(&self, flat: usize) -> (u64, isize) {
        let (strides, start, _) = self.strides();
        let (mut rem, mut global, mut gstride, mut mem) = (flat, 0u64, 1u64, start);
        for axis in (0..self.shape.len()).rev() {
            let i = rem % self.shape[axis];
            rem /= self.shape[axis];
            global += (self.offset[axis] + i as u64) * gstride;
            gstride *= self.global[axis];
            mem += i as isize * strides[axis];
        }
        (global, mem)
    }
}

/// Fill the layout's block and compare every element with the scalar reference at its global
/// index, and every other element of the buffer with the sentinel it started as.
fn check_layout<T: Real + Store<Real = T> + PartialEq + core::fmt::Debug, X: Transform<T>>(
    x: &X,
    layout: &Layout,
    seed: u64,
) -> Result<(), TestCaseError> {
    let stream = Stream::new(seed, 5);
    let (strides, start, span) = layout.strides();
    let plan = Plan::new(&layout.shape, &strides, &layout.global, &layout.offset)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let sentinel = T::from_f64(-1e30);
    let mut buffer = vec![sentinel; span];
    // SAFETY: `buffer` spans every element the layout addresses from `start`.
    unsafe { fill(x, &stream, buffer.as_mut_ptr().offset(start), &plan) }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let count: usize = layout.shape.iter().product();
    let mut written = vec![false; span];
    for flat in 0..count {
        let (global, mem) = layout.global_index(flat);
        let mut expected = [sentinel];
        fill_scalar(x, &stream, &mut expected, global);
        prop_assert_eq!(
            buffer[mem as usize],
            expected[0],
            "element {} (global {})",
            flat,
            global
        );
        written[mem as usize] = true;
    }
    for (value, was_written) in buffer.iter().zip(written) {
        prop_assert!(
            was_written || *value == sentinel,
            "an element outside the block was written"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_block_in_any_layout_equals_the_reference(
        layout in layouts(4, 6),
        seed in any::<u64>(),
        threads in 1usize..=3,
    ) {
        pool::set_threads(threads);
        check_layout(&Normal::<f32>::new(0.5, 2.0), &layout, seed)?;
        check_layout(&Uniform::<f64>::new(-1.0, 3.0), &layout, seed)?;
    }

    #[test]
    fn plan_never_panics_and_keeps_blocks_inside_the_global_array(
        (shape, global, offset, strides) in (0usize..5).prop_flat_map(|rank| (
            prop::collection::vec(0usize..5, rank),
            prop::collection::vec(prop_oneof![0u64..8, any::<u64>(), Just(1u64 << 32)], rank),
            prop::collection::vec(prop_oneof![0u64..8, any::<u64>()], rank),
            prop::collection::vec(-9isize..9, rank),
        )),
    ) {
        match Plan::new(&shape, &strides, &global, &offset) {
            Ok(plan) => {
                prop_assert_eq!(plan.elements(), shape.iter().product::<usize>());
                let total = global.iter().try_fold(1u64, |a, &g| a.checked_mul(g));
                prop_assert!(total.is_some_and(|t| t <= i64::MAX as u64));
                for axis in 0..shape.len() {
                    prop_assert!(u128::from(offset[axis]) + shape[axis] as u128 <= u128::from(global[axis]));
                }
            }
            // Rejected: for the first rule the block breaks, in Plan::new's order.
            Err(e) => {
                let total = global.iter().try_fold(1u64, |a, &g| a.checked_mul(g));
                let outside = (0..shape.len()).find(|&a| {
                    u128::from(offset[a]) + shape[a] as u128 > u128::from(global[a])
                });
                let zero_stride = (0..shape.len()).find(|&a| shape[a] > 1 && strides[a] == 0);
                let expected = if total.is_none_or(|t| t > i64::MAX as u64) {
                    GeometryError::TooManyElements
                } else if let Some(axis) = outside {
                    GeometryError::OutOfRange {
                        axis,
                        offset: offset[axis],
                        len: shape[axis],
                        global: global[axis],
                    }
                } else {
                    prop_assert!(shape.iter().product::<usize>() > 0, "an empty block was refused");
                    GeometryError::ZeroStride { axis: zero_stride.expect("the only rule left") }
                };
                prop_assert_eq!(e, expected);
            }
        }
    }

    #[test]
    fn runs_anywhere_in_the_stream_equal_the_reference_on_every_path(
        seed in any::<u64>(),
        stream_id in any::<u64>(),
        first in 0u64..(1u64 << 63) - 4096,
        len in 0usize..400,
    ) {
        let stream = Stream::new(seed, stream_id);
        check_run(&Normal::<f32>::new(0.0, 1.0), &stream, first, len)?;
        check_run(&Normal::<f64>::new(0.0, 1.0), &stream, first, len)?;
        check_run(&Uniform::<f32>::new(-1.0, 1.0), &stream, first, len)?;
        check_run(&TruncNormal::<f32>::new(0.0, 1.0, -2.0, 2.0), &stream, first, len)?;
        check_run(&TruncNormal::<f64>::new(0.0, 1.0, 3.0, 9.0), &stream, first, len)?;
    }

    #[test]
    fn batched_and_simd_philox_blocks_equal_single_blocks_anywhere(
        seed in any::<u64>(),
        stream_id in any::<u64>(),
        // Also batches that straddle a carry into the high counter word.
        first in prop_oneof![0u64..u64::MAX - LANES as u64, ((1u64 << 32) - 15)..(1u64 << 32)],
    ) {
        let stream = Stream::new(seed, stream_id);
        let batch = stream.blocks(first);
        for lane in 0..LANES {
            let single = stream.block(first + lane as u64);
            for (word, value) in batch.iter().zip(single) {
                prop_assert_eq!(word[lane], value);
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            use crate::simd::x86::{blocks_avx2, blocks_avx512};
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was detected.
                prop_assert_eq!(unsafe { blocks_avx2(&stream, first) }, batch);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F was detected.
                prop_assert_eq!(unsafe { blocks_avx512(&stream, first) }, batch);
            }
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: every aarch64 CPU has NEON.
        prop_assert_eq!(unsafe { crate::simd::neon::blocks_neon(&stream, first) }, batch);
    }
}

fn check_run<T: Real + Store<Real = T> + PartialEq + core::fmt::Debug, X: Transform<T>>(
    x: &X,
    stream: &Stream,
    first: u64,
    len: usize,
) -> Result<(), TestCaseError> {
    let mut reference = vec![T::from_f64(0.0); len];
    fill_scalar(x, stream, &mut reference, first);
    crate::tests::report_skipped_paths("runs_equal_the_reference");
    for path in Path::ALL.into_iter().filter(|p| p.supported()) {
        let mut out = vec![T::from_f64(0.0); len];
        fill_run_on(path, x, stream, &mut out, first);
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        prop_assert!(
            bits(&out) == bits(&reference),
            "{} differs at {}",
            path.name(),
            first
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Blocks large enough for the parallel path.
    #[test]
    fn large_blocks_on_the_pool_equal_the_reference(
        layout in layouts(2, 400),
        seed in any::<u64>(),
        threads in 2usize..=4,
    ) {
        pool::set_threads(threads);
        check_layout(&Normal::<f32>::new(0.0, 1.0), &layout, seed)?;
    }
}

proptest! {
    /// The float64 kernels' integer conversions by bit tricks round exactly as `as f64` does,
    /// for any 64-bit integer (rounding cases included: odd values above 2^53), and the small
    /// one is exact over its range.
    #[test]
    fn integer_conversions_by_halves_round_as_the_cast_does(
        x in any::<i64>(),
        shift in 0u32..64,
        small in -(1i64 << 51) + 1..(1i64 << 51),
    ) {
        use crate::math::f64_of_small_i64;
        use crate::simd::f64_of_i64_in_halves;
        for value in [x, x >> shift, i64::MAX - (x >> shift).wrapping_abs().max(0), i64::MIN, i64::MAX, 0, -1] {
            prop_assert_eq!(f64_of_i64_in_halves(value).to_bits(), (value as f64).to_bits());
        }
        prop_assert_eq!(f64_of_small_i64(small).to_bits(), (small as f64).to_bits());
    }
}

proptest! {
    /// AS 241's rationals taken many lanes at a time (each instruction set's interleave width,
    /// and a remainder past the last whole chunk) give each lane the bits of the one-lane form.
    #[test]
    fn interleaved_as241_rationals_equal_the_one_lane_forms(
        centre in proptest::collection::vec(0.0f64..=crate::math::AS241_SPLIT, 0..80),
        shift in 0usize..3,
    ) {
        use crate::math::*;
        // Map the centres onto r = sqrt(-ln t) of the near tail, (1.31, 5].
        let r: Vec<f64> = centre.iter().map(|&c| 1.31 + c / AS241_SPLIT * (AS241_FAR - 1.31)).collect();
        fn check<const L: usize>(centre: &[f64], r: &[f64]) -> Result<(), TestCaseError> {
            let mut z = vec![0.0; centre.len()];
            as241_central_interleaved::<L>(centre, &mut z);
            for (&c, &z) in centre.iter().zip(&z) {
                prop_assert_eq!(z.to_bits(), as241_central(c).to_bits(), "central, L = {}", L);
            }
            let mut z = r.to_vec();
            as241_near_tail_interleaved::<L>(&mut z);
            for (&r, &z) in r.iter().zip(&z) {
                prop_assert_eq!(z.to_bits(), as241_near_tail(r).to_bits(), "near tail, L = {}", L);
            }
            Ok(())
        }
        let (centre, r) = (&centre[shift.min(centre.len())..], &r[shift.min(r.len())..]);
        check::<8>(centre, r)?;
        check::<16>(centre, r)?;
        check::<32>(centre, r)?;
    }
}
