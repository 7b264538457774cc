//! heinit_rs: He (Kaiming) and variance-scaling weight initialization from a counter-based
//! Philox4x32-10 stream, so that the value at each index depends only on the seed and that index
//! (docs/stream-spec.md). The Python package wraps it (python/heinit_rs); Rust users can read the
//! same stream through `rand` (`rng::PhiloxRng`) or fill slices with the kernels.
//!
//! The modules form layers; each uses only those listed before it:
//!
//! | layer | modules | what |
//! |---|---|---|
//! | pure | `error`, `philox`, `math`, `rng` | the error type; the bit generator (with its SIMD blocks); float math (with the table lookups' SIMD forms); the stream as a `rand` generator |
//! | lanes | `lanes` | aligned scratch arrays and the float64 tail lanes |
//! | instruction sets | `isa` | `Isa`: what a kernel takes from an instruction set; proof tokens |
//! | element types | `real` | `Real` (f32, f64): draws, and the precision-specific inverse CDF; `Transform` |
//! | distributions | `distributions` | `Normal`, `Uniform`, `TruncNormal` over any `Real` |
//! | kernel | `kernel` | a contiguous run of one stream, a group of blocks at a time |
//! | dispatch | `dispatch` | run-time choice of the path and its `#[target_feature]` entry points |
//! | fill | `pool`, `fill` | the worker threads; blocks of a global array, strides, tasks |
//! | bindings | `bindings` | the Python module `heinit_rs._core` |
//!
//! Adding an instruction set: its kernels beside the portable ones (`philox`, `math`, `lanes`),
//! a token in `isa`, a `Path` and an entry point in `dispatch`. Adding an output type (float16,
//! bfloat16): an `impl Real` in `real` (its draw, its rounding from float32) and a `match` arm in
//! `bindings`; the distributions, kernel and fill are generic over `Real`.

mod bindings;

/// The version of the value contract in docs/stream-spec.md: the same seed and version give the
/// same values, bit for bit, on every CPU and thread count.
pub const STREAM_VERSION: u32 = 2;

pub mod dispatch;
pub mod distributions;
pub mod error;
pub mod fill;
pub mod isa;
pub mod kernel;
pub mod lanes;
pub mod math;
pub mod philox;
pub mod pool;
pub mod real;
pub mod rng;

/// The README's Rust example, compiled and run by `cargo test` (its other blocks are not Rust).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
