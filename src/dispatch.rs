//! Run-time choice of the instruction set for the kernels. The build stays portable (x86-64
//! baseline); the same generic kernel is compiled again inside `#[target_feature]` functions
//! and the best one the CPU supports is called. Every path computes the same bits: the kernels
//! use only exactly-rounded operations and Rust never fuses multiply-adds (src/math.rs).
//!
//! HEINIT_RS_SIMD=scalar|baseline|avx2|avx512|neon (read at first use) or `set_path` forces a path,
//! so tests can compare them.

use crate::error::Error;
use crate::isa::Portable;
#[cfg(target_arch = "x86_64")]
use crate::isa::{Avx2, Avx512};
#[cfg(target_arch = "x86_64")]
use crate::kernel::fill_run_with;
use crate::kernel::{fill_rounded, fill_run, fill_scalar};
use crate::philox::Stream;
use crate::real::{Store, Transform};
use std::sync::atomic::{AtomicU8, Ordering};

pub const ENV_VAR: &str = "HEINIT_RS_SIMD";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Path {
    /// One element at a time, no lane batching.
    Scalar = 1,
    /// Lane-batched code for the build's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline = 2,
    Avx2 = 3,
    Avx512 = 4,
    /// Hand-written NEON Philox (aarch64).
    Neon = 5,
}

impl Path {
    pub const ALL: [Path; 5] = [
        Path::Scalar,
        Path::Baseline,
        Path::Avx2,
        Path::Avx512,
        Path::Neon,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Path::Scalar => "scalar",
            Path::Baseline => "baseline",
            Path::Avx2 => "avx2",
            Path::Avx512 => "avx512",
            Path::Neon => "neon",
        }
    }

    pub fn parse(name: &str) -> Result<Path, Error> {
        Path::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Path::ALL.iter().map(|p| p.name()).collect();
                Error::SimdPath(format!(
                    "SIMD path must be one of {}, got {name:?}",
                    names.join(", ")
                ))
            })
    }

    pub fn supported(self) -> bool {
        match self {
            Path::Scalar | Path::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "aarch64")]
            Path::Neon => true,
            _ => false,
        }
    }

    fn best() -> Path {
        [Path::Avx512, Path::Avx2, Path::Neon]
            .into_iter()
            .find(|p| p.supported())
            .unwrap_or(Path::Baseline)
    }

    fn from_u8(v: u8) -> Option<Path> {
        Path::ALL.into_iter().find(|p| *p as u8 == v)
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

/// The path in force: HEINIT_RS_SIMD if set (an error if unknown or unsupported), else the best.
pub fn current() -> Result<Path, Error> {
    if let Some(path) = Path::from_u8(CURRENT.load(Ordering::Relaxed)) {
        return Ok(path);
    }
    let path = match std::env::var(ENV_VAR) {
        Ok(name) => checked(
            Path::parse(name.trim()).map_err(|e| Error::SimdPath(format!("{ENV_VAR}: {e}")))?,
        )?,
        Err(_) => Path::best(),
    };
    CURRENT.store(path as u8, Ordering::Relaxed);
    Ok(path)
}

fn checked(path: Path) -> Result<Path, Error> {
    if path.supported() {
        Ok(path)
    } else {
        Err(Error::SimdPath(format!(
            "this CPU does not support the {} path",
            path.name()
        )))
    }
}

/// The paths this CPU lacks, each reported on stderr as skipped by `test` (shown by
/// `cargo test -- --nocapture`), so a machine without AVX-512 says that path went untested.
pub fn report_skipped_paths(test: &str) -> Vec<Path> {
    let lacking: Vec<Path> = Path::ALL.into_iter().filter(|p| !p.supported()).collect();
    for path in &lacking {
        eprintln!(
            "SKIPPED {test} on the {} path: this CPU does not support it",
            path.name()
        );
    }
    lacking
}

pub fn set_path(path: Path) -> Result<(), Error> {
    CURRENT.store(checked(path)? as u8, Ordering::Relaxed);
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
fn fill_run_avx2<S: Store, X: Transform<S::Real>>(
    x: &X,
    stream: &Stream,
    out: &mut [S],
    first: u64,
) {
    // SAFETY: this function only runs on CPUs with AVX2 and F16C (its target features).
    let isa = unsafe { Avx2::new() };
    fill_rounded(isa, out, first, |values, first| {
        fill_run_with(x, isa, stream, values, first)
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,f16c")]
fn fill_run_avx512<S: Store, X: Transform<S::Real>>(
    x: &X,
    stream: &Stream,
    out: &mut [S],
    first: u64,
) {
    // SAFETY: this function only runs on CPUs with AVX-512 F/BW/DQ/VL (its target features).
    let isa = unsafe { Avx512::new() };
    fill_rounded(isa, out, first, |values, first| {
        fill_run_with(x, isa, stream, values, first)
    })
}

/// `fill_run` on the chosen path, into any storage format.
#[inline]
pub fn fill_run_on<S: Store, X: Transform<S::Real>>(
    path: Path,
    x: &X,
    stream: &Stream,
    out: &mut [S],
    first: u64,
) {
    match path {
        Path::Scalar => fill_rounded(Portable, out, first, |v, first| {
            fill_scalar(x, stream, v, first)
        }),
        Path::Baseline => fill_rounded(Portable, out, first, |v, first| {
            fill_run(x, stream, v, first)
        }),
        // SAFETY: `current`/`set_path` only select these paths after checking the CPU has them.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { fill_run_avx2(x, stream, out, first) },
        // SAFETY: as above, AVX-512 F/BW/DQ/VL were detected before this path could be chosen.
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => unsafe { fill_run_avx512(x, stream, out, first) },
        #[cfg(target_arch = "aarch64")]
        Path::Neon => fill_rounded(Portable, out, first, |v, first| {
            crate::kernel::fill_run_with(x, crate::isa::Neon, stream, v, first)
        }),
        // `current`/`set_path` never select a path the CPU lacks.
        _ => fill_rounded(Portable, out, first, |v, first| {
            fill_run(x, stream, v, first)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributions::{Normal, TruncNormal, Uniform};
    use crate::real::Real;

    /// Every supported path, at group-aligned and unaligned starts, equals the scalar
    /// reference (which also covers the lane-batched baseline against element-wise code).
    /// 4000 float64 normals set aside about 600 tail lanes, so the batched kernel settles them
    /// several times in mid-run.
    fn same_on_every_path<
        T: Real + Store<Real = T> + PartialEq + core::fmt::Debug,
        X: Transform<T>,
    >(
        x: &X,
    ) {
        report_skipped_paths("same_on_every_path");
        let stream = Stream::new(0xfeed, 9);
        let n = 4000;
        for first in [0u64, 1, 3, 63, 64, 1_000_003, (1 << 40) + 7] {
            let mut reference = vec![T::from_f64(0.0); n];
            fill_scalar(x, &stream, &mut reference, first);
            for path in Path::ALL.into_iter().filter(|p| p.supported()) {
                let mut out = vec![T::from_f64(0.0); n];
                fill_run_on(path, x, &stream, &mut out, first);
                let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                assert!(
                    bits(&out) == bits(&reference),
                    "{} differs from scalar at {first}",
                    path.name()
                );
            }
        }
    }

    #[test]
    fn every_supported_path_gives_the_same_bits() {
        same_on_every_path(&Normal {
            mean: 0.1f32,
            std: 1.7,
        });
        same_on_every_path(&Normal {
            mean: 0.1f64,
            std: 1.7,
        });
        same_on_every_path(&Uniform::<f32>::new(-2.0, 5.0));
        same_on_every_path(&Uniform::<f64>::new(-2.0, 5.0));
        // Symmetric bounds, down to subnormal ones, where a product can round to -0.
        for bound in [0.75, 1e-30, 1e-44, 3e38] {
            same_on_every_path(&Uniform::<f32>::new(-bound, bound));
            same_on_every_path(&Uniform::<f64>::new(-bound, bound));
        }
        for (low, high) in [
            (-2.0, 2.0),
            (-1.0, 4.0),
            (1.0, f64::INFINITY),
            (-9.0, -8.0),
            (6.0, 7.0),
        ] {
            same_on_every_path(&TruncNormal::<f32>::new(0.0, 1.0, low, high));
            same_on_every_path(&TruncNormal::<f64>::new(0.0, 1.0, low, high));
        }
    }

    #[test]
    fn names_round_trip() {
        for path in Path::ALL {
            assert_eq!(Path::parse(path.name()), Ok(path));
        }
        assert!(Path::parse("sse9").is_err());
    }
}
