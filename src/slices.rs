//! The safe fills for Rust callers: a whole slice, or a (strided) block of a larger logical
//! array held in a slice, on the worker threads.

use crate::distributions::{Distribution, Element};
use crate::error::{Error, GeometryError};
use crate::fill::Plan;
use crate::philox::Stream;
use core::sync::atomic::AtomicBool;

/// Fill `out` from `distribution`: `out[i]` becomes value `i` of `stream`, on the worker
/// threads (`set_num_threads`). The values never depend on the thread count or the CPU.
///
/// Errors where the values would overflow `T` (`Distribution::check_fits`), before anything
/// is written.
pub fn fill_slice<T: Element, D: Distribution>(
    distribution: &D,
    stream: &Stream,
    out: &mut [T],
) -> Result<(), Error> {
    let plan = Plan::new(&[out.len()], &[1], &[out.len() as u64], &[0])?;
    // SAFETY: the plan covers exactly `out`, which the `&mut` borrow holds for the call.
    unsafe { distribution.fill_plan(stream, out.as_mut_ptr(), &plan, &AtomicBool::new(false)) }
}

/// Where a block of a larger C-order logical array lies in a slice: element `(i, j, ...)` of
/// the block is at `i * strides[0] + j * strides[1] + ...` of the slice and is element
/// `(offset[0] + i, offset[1] + j, ...)` of the array of `global_shape`.
#[derive(Clone, Copy, Debug)]
pub struct Block<'a> {
    /// The block's shape.
    pub shape: &'a [usize],
    /// Its strides in the slice, in elements (none 0).
    pub strides: &'a [usize],
    /// The shape of the whole logical array.
    pub global_shape: &'a [u64],
    /// Where the block starts in it.
    pub offset: &'a [u64],
}

/// Fill the block `block` of a logical array held in `out` from `distribution`, on the worker
/// threads: each element gets the value its global C-order index has in `stream`, so a block
/// filled alone equals the same block of the whole array filled at once. Elements of `out`
/// outside the block are left as they are.
///
/// Errors, before anything is written, where the block does not fit its array or `out`, or
/// where the values would overflow `T`. Strides that make elements overlap are allowed; the
/// block is then filled on one thread, in C order.
pub fn fill_block<T: Element, D: Distribution>(
    distribution: &D,
    stream: &Stream,
    out: &mut [T],
    block: &Block<'_>,
) -> Result<(), Error> {
    let strides: Vec<isize> = block
        .strides
        .iter()
        .map(|&s| isize::try_from(s).unwrap_or(isize::MAX))
        .collect();
    let plan = Plan::new(block.shape, &strides, block.global_shape, block.offset)?;
    if plan.elements() > 0 {
        let reach: u128 = block
            .shape
            .iter()
            .zip(block.strides)
            .map(|(&n, &s)| (n as u128 - 1) * s as u128)
            .sum();
        if reach >= out.len() as u128 {
            return Err(GeometryError::OutsideSlice {
                reach,
                len: out.len(),
            }
            .into());
        }
    }
    // SAFETY: every element the plan addresses lies inside `out` (checked above), which the
    // `&mut` borrow holds for the call.
    unsafe { distribution.fill_plan(stream, out.as_mut_ptr(), &plan, &AtomicBool::new(false)) }
}
