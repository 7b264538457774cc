//! heinit_rs: He (Kaiming) and variance-scaling weight initialization from a counter-based
//! Philox4x32-10 stream, so that the value at each index depends only on the seed and that index
//! (docs/stream-spec.md), on every thread count and CPU. The Python package
//! (python/heinit_rs) wraps it; Rust users fill slices with it, or read the same stream through
//! `rand`.
//!
//! ```
//! use heinit_rs::{fill_block, fill_slice, Block, Stream, Uniform};
//!
//! // nn.Linear(512, 256)'s weight: U(-1/sqrt(512), 1/sqrt(512)), on every core.
//! let bound = 1.0 / 512f64.sqrt();
//! let linear = Uniform::new(-bound, bound)?;
//! let stream = Stream::new(42, 0); // key 42, stream 0
//! let mut weight = vec![0f32; 256 * 512];
//! fill_slice(&linear, &stream, &mut weight)?;
//!
//! // Rows 64..128 alone, as a shard would make them: the same values.
//! let mut rows = vec![0f32; 64 * 512];
//! let block = Block { shape: &[64, 512], strides: &[512, 1], global_shape: &[256, 512], offset: &[64, 0] };
//! fill_block(&linear, &stream, &mut rows, &block)?;
//! assert_eq!(rows, weight[64 * 512..128 * 512]);
//! # Ok::<(), heinit_rs::Error>(())
//! ```
//!
//! The public API is this page: the distributions (`Normal`, `Uniform`, `TruncNormal`), the
//! fills (`fill_slice`, `fill_block`), the stream (`Stream`, and `PhiloxRng` for `rand`), the
//! thread and instruction-set settings, and `Error`. The Python module `heinit_rs._core` is
//! built only with the `python` feature (maturin turns it on), so a Rust build pulls in
//! neither pyo3 nor numpy.
//!
//! The modules form layers; each uses only those listed before it:
//!
//! | layer | modules | what |
//! |---|---|---|
//! | pure | `error`, `philox`, `math`, `rng` | the error type and its messages; the bit generator; float math; the stream as a `rand` generator |
//! | lanes | `lanes` | aligned scratch arrays and the float64 tail lanes |
//! | instruction sets | `simd` (`simd::x86`, `simd::neon`) | `Isa`, what a kernel takes from an instruction set; each set's kernels; the list of paths |
//! | element types | `real` | `Real` (f32, f64): draws, and the precision-specific inverse CDF; `Store` (the 16-bit formats); `Transform` |
//! | transforms | `transforms` | the kernels of `Normal`, `Uniform`, `TruncNormal` over any `Real` |
//! | kernel | `kernel` | a contiguous run of one stream, a group of blocks at a time |
//! | dispatch | `dispatch` | run-time choice of the path, through the entry points `simd` declares |
//! | fill | `pool`, `fill`, `distributions`, `slices` | the worker threads; blocks of a global array; the distributions' checked parameters; the safe fills of slices |
//! | bindings | `xla_ffi`, `bindings` (feature "python") | the XLA FFI handler (heinit_rs.jax under `jit`); the Python module `heinit_rs._core` |
//!
//! Recipes (CONTRIBUTING.md has them with the commands to run):
//!
//! - A new instruction set: its kernels and its token (`target_isa!`, overriding the `Isa`
//!   pieces it speeds up) in a file of `simd` (as `simd/x86.rs`), and a row in the
//!   `simd_paths!` list in `dispatch` (name, architecture, detection, target features, token).
//! - A new output type (a storage format such as float16): a `Store` impl in `real` (its
//!   rounding from the `Real` it is computed in, its name and largest value), an `Element`
//!   impl in `distributions`, and a branch in `bindings::fill_array`.
//! - A new distribution: its kernel (`Transform`) in `transforms`; its checked parameters,
//!   reach and `sealed::Sealed` impl in `distributions`; a `ParameterError` kind if it needs a
//!   new constraint; its Python class in `bindings` and `_core.pyi`.
//! - A new framework adapter: Python only (`python/heinit_rs/<framework>.py`), reading the
//!   preset table in `_presets.py`.
#![deny(missing_docs)]

#[cfg(feature = "python")]
mod bindings;
mod dispatch;
mod distributions;
mod error;
mod fill;
mod kernel;
mod lanes;
mod math;
mod philox;
mod pool;
mod real;
mod rng;
mod simd;
mod slices;
#[cfg(test)]
mod tests;
mod transforms;
#[cfg(any(feature = "python", test))]
mod xla_ffi;

pub use dispatch::{current as simd_path, set_path as set_simd_path, Path};
pub use distributions::{Distribution, Element, Normal, TruncNormal, Uniform};
pub use error::{Error, GeometryError, ParameterError};
pub use philox::{derive_key, Stream};
pub use pool::{set_threads as set_num_threads, threads as num_threads};
pub use real::{BF16, F16};
pub use rng::PhiloxRng;
pub use slices::{fill_block, fill_slice, Block};

/// The version of the value contract in docs/stream-spec.md: the same seed and version give the
/// same values, bit for bit, on every CPU and thread count.
pub const STREAM_VERSION: u32 = 2;

/// The README's Rust example, compiled and run by `cargo test` (its other blocks are not Rust).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
