//! The parallel fill: maps the elements of a (possibly strided) block of a larger logical
//! array to their global C-order indices and hands contiguous runs of them to the kernels.

use crate::dispatch::{self, Path};
use crate::error::{Error, GeometryError};
use crate::philox::Stream;
use crate::pool;
use crate::real::{Real, Store, Transform};
use core::sync::atomic::{AtomicBool, Ordering};
use rayon::prelude::*;
use std::time::Instant;

/// The most elements a task fills, when runs are long enough to split.
const TASK_ELEMENTS: usize = 1 << 16;
/// The fewest elements a task fills where runs are split (for `threads` tasks at least).
const MIN_TASK_ELEMENTS: usize = 1 << 12;
/// Below this many elements the fill runs on the calling thread, unmeasured.
const PARALLEL_THRESHOLD: usize = 1 << 13;
/// Elements the calling thread fills first, timed, to measure what an element costs for
/// this distribution, format, path and machine (a fixed element count cannot know).
const PROBE_ELEMENTS: usize = 1 << 12;
/// Strided runs are generated into a stack buffer of this many elements and then scattered.
const SCATTER_BUFFER: usize = 256;

/// One axis of the iteration: its length, its memory stride (elements) and its global stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Axis {
    len: usize,
    mem: isize,
    global: u64,
}

/// Where each element of a block goes: `base` is the global index of its first element; the
/// last axis is the run the kernels fill (global stride 1), the others are walked in C order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    base: u64,
    outer: Vec<Axis>,
    run: Axis,
    elements: usize,
}

impl Plan {
    /// `shape`/`strides` (elements) describe the memory being filled; it is the block
    /// `offset .. offset + shape` of a C-order logical array of `global_shape`.
    pub fn new(
        shape: &[usize],
        strides: &[isize],
        global_shape: &[u64],
        offset: &[u64],
    ) -> Result<Self, GeometryError> {
        let rank = shape.len();
        if global_shape.len() != rank || offset.len() != rank || strides.len() != rank {
            return Err(GeometryError::RankMismatch {
                arr: rank,
                global: global_shape.len(),
                offset: offset.len(),
            });
        }
        let mut global_total: u64 = 1;
        for &g in global_shape {
            global_total = global_total
                .checked_mul(g)
                .ok_or(GeometryError::TooManyElements)?;
        }
        if global_total > i64::MAX as u64 {
            return Err(GeometryError::TooManyElements);
        }
        for axis in 0..rank {
            if u128::from(offset[axis]) + shape[axis] as u128 > u128::from(global_shape[axis]) {
                return Err(GeometryError::OutOfRange {
                    axis,
                    offset: offset[axis],
                    len: shape[axis],
                    global: global_shape[axis],
                });
            }
        }
        let elements = shape.iter().product::<usize>();
        // Global strides; with every global extent non-zero they cannot overflow given the total.
        let mut global_strides = vec![1u64; rank];
        for axis in (0..rank.saturating_sub(1)).rev() {
            global_strides[axis] = global_strides[axis + 1].saturating_mul(global_shape[axis + 1]);
        }
        let base = if elements == 0 {
            0
        } else {
            (0..rank).map(|a| offset[a] * global_strides[a]).sum()
        };
        let mut axes: Vec<Axis> = (0..rank)
            .filter(|&a| shape[a] != 1)
            .map(|a| Axis {
                len: shape[a],
                mem: strides[a],
                global: global_strides[a],
            })
            .collect();
        if elements > 0 {
            if let Some(axis) = (0..rank).find(|&a| shape[a] > 1 && strides[a] == 0) {
                return Err(GeometryError::ZeroStride { axis });
            }
        }
        // Merge neighbours that are contiguous both in memory and in the global order.
        let mut merged: Vec<Axis> = Vec::with_capacity(axes.len());
        for axis in axes.drain(..) {
            match merged.last_mut() {
                Some(prev)
                    if prev.mem == axis.mem * axis.len as isize
                        && prev.global == axis.global * axis.len as u64 =>
                {
                    *prev = Axis {
                        len: prev.len * axis.len,
                        mem: axis.mem,
                        global: axis.global,
                    };
                }
                _ => merged.push(axis),
            }
        }
        let run = match merged.last() {
            Some(last) if last.global == 1 => merged.pop().expect("non-empty"),
            _ => Axis {
                len: 1,
                mem: 1,
                global: 1,
            },
        };
        Ok(Self {
            base,
            outer: merged,
            run,
            elements,
        })
    }

    pub fn elements(&self) -> usize {
        self.elements
    }

    fn rows(&self) -> usize {
        self.outer.iter().map(|a| a.len).product()
    }

    /// Memory offset and global index of the first element of row `row`.
    fn row_start(&self, mut row: usize) -> (isize, u64) {
        let (mut mem, mut global) = (0isize, self.base);
        for axis in self.outer.iter().rev() {
            let i = row % axis.len;
            row /= axis.len;
            mem += i as isize * axis.mem;
            global += i as u64 * axis.global;
        }
        (mem, global)
    }

    /// Whether distinct elements can share memory (strides that interleave); such arrays are
    /// filled in order on one thread, so the outcome is the same as a serial C-order loop.
    fn may_self_overlap(&self) -> bool {
        let mut axes: Vec<Axis> = self.outer.clone();
        axes.push(self.run);
        axes.retain(|a| a.len > 1);
        axes.sort_by_key(|a| a.mem.unsigned_abs());
        let mut span = 0usize;
        for a in axes {
            if a.mem.unsigned_abs() <= span {
                return true;
            }
            span += (a.len - 1) * a.mem.unsigned_abs();
        }
        false
    }
}

/// A raw pointer the rayon workers may share: every task writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct SharedPtr<T>(*mut T);
// SAFETY: tasks write disjoint elements (checked by `may_self_overlap`, else one thread runs),
// and the caller keeps the buffer alive and unaliased for the whole fill.
unsafe impl<T: Send> Send for SharedPtr<T> {}
// SAFETY: as for Send: shared use never makes two tasks touch the same element.
unsafe impl<T: Send> Sync for SharedPtr<T> {}

/// Fill `len` elements starting at `ptr` (stride `stride`) with stream elements `first..`:
/// straight into memory where the run is contiguous, else through a small buffer, scattered
/// (and rounded to the storage format).
///
/// # Safety
/// `ptr.offset(k * stride)` for `k < len` must be valid, writable and not accessed elsewhere.
unsafe fn fill_strided<S: Store, X: Transform<S::Real>>(
    path: Path,
    x: &X,
    stream: &Stream,
    ptr: *mut S,
    stride: isize,
    len: usize,
    first: u64,
) {
    if stride == 1 {
        // SAFETY: the caller guarantees `len` contiguous writable elements.
        let out = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
        dispatch::fill_run_on(path, x, stream, out, first);
        return;
    }
    let mut buffer = [S::Real::from_f64(0.0); SCATTER_BUFFER];
    let mut done = 0usize;
    while done < len {
        let n = (len - done).min(SCATTER_BUFFER);
        dispatch::fill_run_on(path, x, stream, &mut buffer[..n], first + done as u64);
        for (k, &v) in buffer[..n].iter().enumerate() {
            // SAFETY: (done + k) < len, so this is one of the caller's elements.
            unsafe {
                ptr.offset((done + k) as isize * stride)
                    .write(S::from_real(v))
            };
        }
        done += n;
    }
}

impl Plan {
    /// How many pieces each row's run is split into, and their length: at most TASK_ELEMENTS
    /// each, and small enough that `threads` workers get about four tasks each.
    fn pieces(&self, threads: usize) -> (usize, usize) {
        let target = (self.elements / (4 * threads.max(1))).clamp(MIN_TASK_ELEMENTS, TASK_ELEMENTS);
        let pieces = self.run.len.div_ceil(target).max(1);
        (pieces, self.run.len.div_ceil(pieces))
    }

    /// The fill is `tasks(threads)` tasks in C order; long runs are split into `pieces`, and
    /// each short row is one task.
    fn tasks(&self, threads: usize) -> usize {
        if self.elements == 0 {
            0
        } else {
            self.rows() * self.pieces(threads).0
        }
    }
}

/// Work (at the calling thread's measured rate) below which a fill stays on the calling
/// thread: handing work to the pool costs 20-80 us on a 2-vCPU VM (waking the workers, waiting
/// for the last), and fills of under about 100 us of work ran slower there on 2 threads than
/// on 1 (docs/performance.md has the crossover). A time, not an element count: an element of a
/// float64 truncated normal costs several times one of a float32 uniform.
const SPLIT_ABOVE_NS: f64 = 150_000.0;

/// Whether `serial_ns` of work goes to the pool.
fn split(serial_ns: f64) -> bool {
    serial_ns > SPLIT_ABOVE_NS
}

/// Fill the memory described by `plan` at `ptr` from `stream` with transform `x`.
///
/// # Safety
/// `ptr` with the plan's strides must address `plan.elements()` valid, writable elements of
/// type `S` that nothing else reads or writes during the call.
#[cfg(test)]
pub unsafe fn fill<S: Store, X: Transform<S::Real>>(
    x: &X,
    stream: &Stream,
    ptr: *mut S,
    plan: &Plan,
) -> Result<(), Error> {
    // SAFETY: forwarded from the caller.
    unsafe { fill_until(x, stream, ptr, plan, &AtomicBool::new(false)) }
}

/// `fill`, except that once `stop` is set the tasks not yet begun are skipped: each element
/// then holds its value or is untouched. Stopping this way costs the fill no barrier, unlike
/// filling in slices and checking between them.
///
/// # Safety
/// As for `fill`.
pub unsafe fn fill_until<S: Store, X: Transform<S::Real>>(
    x: &X,
    stream: &Stream,
    ptr: *mut S,
    plan: &Plan,
    stop: &AtomicBool,
) -> Result<(), Error> {
    if plan.elements() == 0 {
        return Ok(());
    }
    let path = dispatch::current();
    let run = plan.run;
    let threads = pool::threads();
    let (pieces, piece_len) = plan.pieces(threads);
    let shared = SharedPtr(ptr);
    let task = move |item: usize| {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (row, piece) = (item / pieces, item % pieces);
        let (mem, global) = plan.row_start(row);
        let start = piece * piece_len;
        let len = piece_len.min(run.len - start);
        let shared = shared;
        // SAFETY: row `row`, elements start..start+len lie inside the caller's block.
        unsafe {
            fill_strided(
                path,
                x,
                stream,
                shared.0.offset(mem + start as isize * run.mem),
                run.mem,
                len,
                global + start as u64,
            )
        };
    };
    let tasks = plan.tasks(threads);
    if plan.elements() < PARALLEL_THRESHOLD || plan.may_self_overlap() || threads == 1 {
        (0..tasks).for_each(task);
        return Ok(());
    }
    // The first tasks on this thread, timed: the rate decides whether the rest is split.
    let task_elements = plan.elements() / tasks;
    let probed = PROBE_ELEMENTS.div_ceil(task_elements.max(1)).min(tasks);
    let start = Instant::now();
    (0..probed).for_each(task);
    let ns_per_element = start.elapsed().as_nanos() as f64 / (probed * task_elements) as f64;
    let remaining_ns = ns_per_element * ((tasks - probed) * task_elements) as f64;
    if !split(remaining_ns) {
        (probed..tasks).for_each(task);
        return Ok(());
    }
    let min_len = (piece_len / run.len.max(1)).max(1);
    pool::get()?.install(|| {
        (probed..tasks)
            .into_par_iter()
            .with_min_len(min_len)
            .for_each(task)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::Normal;

    fn reference(global_shape: &[u64], stream: &Stream) -> Vec<f32> {
        let n = global_shape.iter().product::<u64>() as usize;
        let mut out = vec![0f32; n];
        crate::kernel::fill_scalar(&Normal::<f32>::new(0.0, 1.0), stream, &mut out, 0);
        out
    }

    /// Fill a strided view of `buffer` and compare each element with the reference.
    fn check(global: &[u64], offset: &[u64], shape: &[usize], strides: &[isize], threads: usize) {
        pool::set_threads(threads);
        let stream = Stream::new(11, 2);
        let full = reference(global, &stream);
        let span: usize = shape
            .iter()
            .zip(strides)
            .map(|(&n, &s)| (n.max(1) - 1) * s.unsigned_abs())
            .sum::<usize>()
            + 1;
        let mut buffer = vec![f32::NAN; span];
        // Negative strides start from the far end of the buffer.
        let start: isize = shape
            .iter()
            .zip(strides)
            .filter(|(_, &s)| s < 0)
            .map(|(&n, &s)| (n as isize - 1) * -s)
            .sum();
        let plan = Plan::new(shape, strides, global, offset).unwrap();
        let x = Normal::<f32>::new(0.0, 1.0);
        // SAFETY: `buffer` spans every element the strided view addresses from `start`.
        unsafe { fill(&x, &stream, buffer.as_mut_ptr().offset(start), &plan).unwrap() };
        let rank = shape.len();
        let count: usize = shape.iter().product();
        for flat in 0..count {
            let (mut rem, mut mem, mut g) = (flat, start, 0u64);
            let mut gstride = 1u64;
            let mut gidx = 0u64;
            for a in (0..rank).rev() {
                let i = rem % shape[a];
                rem /= shape[a];
                mem += i as isize * strides[a];
                gidx += (offset[a] + i as u64) * gstride;
                gstride *= global[a];
            }
            g += gidx;
            assert_eq!(
                buffer[mem as usize].to_bits(),
                full[g as usize].to_bits(),
                "element {flat}"
            );
        }
    }

    #[test]
    fn contiguous_full_array_any_thread_count() {
        for threads in [1, 2, 3] {
            check(&[300, 500], &[0, 0], &[300, 500], &[500, 1], threads);
        }
    }

    #[test]
    fn shards_equal_slices() {
        check(&[300, 500], &[17, 0], &[100, 500], &[500, 1], 2);
        check(&[300, 500], &[17, 33], &[100, 201], &[201, 1], 2);
        check(&[7, 300, 50], &[2, 10, 5], &[3, 200, 1], &[200, 1, 1], 2);
        check(&[64, 3], &[0, 2], &[64, 1], &[1, 1], 1);
    }

    #[test]
    fn strided_views() {
        // Transposed (Fortran order), negative strides, and every-other-element views.
        check(&[120, 700], &[0, 0], &[120, 700], &[1, 120], 2);
        check(&[120, 700], &[0, 0], &[120, 700], &[-700, -1], 2);
        check(&[50, 3000], &[0, 0], &[50, 3000], &[6000, 2], 3);
    }

    #[test]
    fn a_set_stop_flag_skips_every_task() {
        pool::set_threads(2);
        let plan = Plan::new(&[300, 700], &[700, 1], &[300, 700], &[0, 0]).unwrap();
        let x = Normal::<f32>::new(0.0, 1.0);
        let stream = Stream::new(11, 2);
        let mut buffer = vec![f32::NAN; 300 * 700];
        let fill_with_stop = |buffer: &mut [f32], stop: bool| {
            let stop = AtomicBool::new(stop);
            // SAFETY: `buffer` holds the plan's 300 x 700 contiguous elements.
            unsafe { fill_until(&x, &stream, buffer.as_mut_ptr(), &plan, &stop) }.unwrap();
        };
        fill_with_stop(&mut buffer, true);
        assert!(buffer.iter().all(|v| v.is_nan()), "a stopped fill wrote");
        fill_with_stop(&mut buffer, false);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&buffer), bits(&reference(&[300, 700], &stream)));
    }

    #[test]
    fn a_fill_is_split_by_its_measured_time_in_pieces_for_every_thread() {
        assert!(!split(100_000.0) && split(200_000.0));
        // Every split covers the run (3 x 70,000 merged into one) in pieces of at most
        // TASK_ELEMENTS, at least 4 per thread where that keeps them near MIN_TASK_ELEMENTS.
        let plan = Plan::new(&[3, 70_000], &[70_000, 1], &[3, 70_000], &[0, 0]).unwrap();
        for (threads, expected) in [(1, 4), (2, 8), (16, 52)] {
            let (pieces, len) = plan.pieces(threads);
            assert_eq!(pieces, expected);
            assert!(pieces * len >= 210_000 && (pieces - 1) * len < 210_000);
            assert!((MIN_TASK_ELEMENTS / 2..=TASK_ELEMENTS).contains(&len));
        }
    }

    #[test]
    fn geometry_errors() {
        assert_eq!(
            Plan::new(&[2], &[1], &[2, 2], &[0, 0]),
            Err(GeometryError::RankMismatch {
                arr: 1,
                global: 2,
                offset: 2
            })
        );
        assert!(matches!(
            Plan::new(&[3], &[1], &[4], &[2]),
            Err(GeometryError::OutOfRange { axis: 0, .. })
        ));
        assert_eq!(
            Plan::new(&[1, 1], &[1, 1], &[1 << 32, 1 << 32], &[0, 0]),
            Err(GeometryError::TooManyElements)
        );
        assert_eq!(
            Plan::new(&[4, 2], &[0, 1], &[4, 2], &[0, 0]),
            Err(GeometryError::ZeroStride { axis: 0 })
        );
        // A block of a huge logical array: the index arithmetic stays in range.
        let plan = Plan::new(
            &[2, 3],
            &[3, 1],
            &[10_000_000, 10_000_000],
            &[9_999_998, 9_999_997],
        )
        .unwrap();
        assert_eq!(plan.base, 9_999_998 * 10_000_000 + 9_999_997);
    }
}
