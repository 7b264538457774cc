//! Run-time choice of the instruction set for the kernels. The build stays portable (x86-64
//! baseline); the same generic kernel is compiled again inside `#[target_feature]` functions
//! and the best one the CPU supports is called. Every path computes the same bits: the kernels
//! use only exactly-rounded operations and Rust never fuses multiply-adds (src/math.rs).
//!
//! `simd_paths!` below is the one list of paths: it makes the `Path` enum, the names, the
//! detection, each target path's `#[target_feature]` entry point and `fill_run_on`'s match.
//! `HEINIT_RS_SIMD=<name>` (read at first use) or `set_path` forces a path, so tests can compare
//! them; `Path::ALL` (`_core.ALL_SIMD_PATHS` in Python) is what tests and benches iterate.

use crate::error::Error;
use crate::kernel::{fill_rounded, fill_run, fill_run_with, fill_scalar};
use crate::philox::Stream;
use crate::real::{Store, Transform};
use crate::simd::Portable;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces a path.
pub const ENV_VAR: &str = "HEINIT_RS_SIMD";

/// The paths, in order of preference from last to first (`best` takes the last supported one).
/// A `portable` row runs plain Rust through `$run`; a `target` row is compiled, on `$arch`
/// only, for `$features` (each detected at run time) with `$isa`'s kernels.
macro_rules! simd_paths {
    (
        $( portable $(#[$pdoc:meta])* $pname:ident = $pvalue:literal, $pstr:literal, $run:path; )*
        $( target $(#[$tdoc:meta])* $tname:ident = $tvalue:literal, $tstr:literal,
           $arch:literal, $detect:ident, [$($feature:tt),+], $isa:path, $entry:ident; )*
    ) => {
        /// An instruction-set path: every one gives the same bits.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Path {
            $( $(#[$pdoc])* $pname = $pvalue, )*
            $( $(#[$tdoc])* $tname = $tvalue, )*
        }

        impl Path {
            /// Every path, supported here or not.
            pub const ALL: [Path; [$($pstr,)* $($tstr,)*].len()] =
                [$(Path::$pname,)* $(Path::$tname,)*];

            /// The path's name, as HEINIT_RS_SIMD and `set_simd_path` take it.
            pub fn name(self) -> &'static str {
                match self {
                    $( Path::$pname => $pstr, )*
                    $( Path::$tname => $tstr, )*
                }
            }

            /// Whether this CPU runs the path.
            pub fn supported(self) -> bool {
                match self {
                    $( Path::$pname => true, )*
                    $( Path::$tname => {
                        #[cfg(target_arch = $arch)]
                        {
                            true $(&& std::arch::$detect!($feature))+
                        }
                        #[cfg(not(target_arch = $arch))]
                        {
                            false
                        }
                    } )*
                }
            }
        }

        $(
        #[cfg(target_arch = $arch)]
        $(#[target_feature(enable = $feature)])+
        fn $entry<S: Store, X: Transform<S::Real>>(
            x: &X,
            stream: &Stream,
            out: &mut [S],
            first: u64,
        ) {
            // SAFETY: this function only runs on CPUs with its target features (`supported`
            // checked them before the path could be chosen).
            let isa = unsafe { <$isa>::new() };
            fill_rounded(isa, out, first, |values, first| {
                fill_run_with(x, isa, stream, values, first)
            })
        }
        )*

        /// `fill_run` on the chosen path, into any storage format.
        #[inline]
        pub(crate) fn fill_run_on<S: Store, X: Transform<S::Real>>(
            path: Path,
            x: &X,
            stream: &Stream,
            out: &mut [S],
            first: u64,
        ) {
            match path {
                $( Path::$pname => fill_rounded(Portable, out, first, |v, first| $run(x, stream, v, first)), )*
                $(
                #[cfg(target_arch = $arch)]
                // SAFETY: `current`/`set_path` only select a path after `supported` found its
                // features on this CPU.
                Path::$tname => unsafe { $entry(x, stream, out, first) },
                )*
                // `current`/`set_path` never select a path the CPU lacks.
                #[allow(unreachable_patterns)]
                _ => fill_rounded(Portable, out, first, |v, first| fill_run(x, stream, v, first)),
            }
        }
    };
}

simd_paths! {
    portable
    /// One element at a time, no lane batching.
    Scalar = 1, "scalar", fill_scalar;
    portable
    /// Lane-batched code for the build's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline = 2, "baseline", fill_run;
    target
    /// AVX2 with F16C.
    Avx2 = 3, "avx2", "x86_64", is_x86_feature_detected, ["avx2", "f16c"],
        crate::simd::x86::Avx2, fill_run_avx2;
    target
    /// AVX-512 F/BW/DQ/VL with F16C.
    Avx512 = 4, "avx512", "x86_64", is_x86_feature_detected,
        ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "f16c"],
        crate::simd::x86::Avx512, fill_run_avx512;
    target
    /// Hand-written NEON Philox (aarch64).
    Neon = 5, "neon", "aarch64", is_aarch64_feature_detected, ["neon"],
        crate::simd::neon::Neon, fill_run_neon;
}

impl Path {
    /// The path named `name`, or an error listing the names.
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

    /// The last supported path of `ALL`: the fastest.
    fn best() -> Path {
        Path::ALL
            .into_iter()
            .rev()
            .find(|p| p.supported())
            .unwrap_or(Path::Baseline)
    }

    fn from_u8(v: u8) -> Option<Path> {
        Path::ALL.into_iter().find(|p| *p as u8 == v)
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

/// The instruction-set path in force: HEINIT_RS_SIMD if set to a path this CPU runs, else the
/// best. A bad value is ignored here, as a bad HEINIT_RS_NUM_THREADS is; the Python module warns
/// of it at import (`environment_problems`).
pub fn current() -> Path {
    if let Some(path) = Path::from_u8(CURRENT.load(Ordering::Relaxed)) {
        return path;
    }
    let path = path_from_env().ok().flatten().unwrap_or_else(Path::best);
    CURRENT.store(path as u8, Ordering::Relaxed);
    path
}

/// The path HEINIT_RS_SIMD names, or an error naming the bad value (unknown, or not run by this
/// CPU).
pub fn path_from_env() -> Result<Option<Path>, Error> {
    let Ok(text) = std::env::var(ENV_VAR) else {
        return Ok(None);
    };
    Path::parse(text.trim())
        .and_then(checked)
        .map(Some)
        .map_err(|e| Error::SimdPath(format!("{ENV_VAR}={text:?} is not valid: {e}")))
}

/// What `current` uses when HEINIT_RS_SIMD is bad, in words.
#[cfg(feature = "python")]
pub fn env_fallback() -> String {
    format!(
        "using the best path this CPU has ({}) instead",
        Path::best().name()
    )
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

/// Use `path` from now on (all give the same bits); an error if this CPU lacks it.
pub fn set_path(path: Path) -> Result<(), Error> {
    CURRENT.store(checked(path)? as u8, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::Real;
    use crate::transforms::{Normal, TruncNormal, Uniform};

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
        crate::tests::report_skipped_paths("same_on_every_path");
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
        same_on_every_path(&Normal::<f32>::new(0.1, 1.7));
        same_on_every_path(&Normal::<f64>::new(0.1, 1.7));
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
