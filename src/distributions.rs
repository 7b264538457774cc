//! The distributions a fill draws from, each described once: its parameters, checked by its
//! constructor, and the range its values reach in each output format. The Python layer builds
//! these same types (`heinit_rs._core.Normal`, ...) and checks nothing they check.
//!
//! ```
//! use heinit_rs::{fill_slice, Normal, Stream, TruncNormal};
//!
//! let he = Normal::new(0.0, (2.0f64 / 512.0).sqrt())?;
//! let mut weight = vec![0f32; 512 * 256];
//! fill_slice(&he, &Stream::new(42, 0), &mut weight)?;
//! assert!(TruncNormal::new(0.0, 1.0, 2.0, -2.0).is_err()); // a >= b
//! # Ok::<(), heinit_rs::Error>(())
//! ```

use crate::error::{py_repr, Error, ParameterError};
use crate::fill::{fill_until, Plan};
use crate::philox::Stream;
use crate::real::{Real, Store, Transform};
use crate::transforms;
use core::sync::atomic::AtomicBool;

/// Normal(mean, std^2), std >= 0 (0 gives `mean` everywhere).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "python",
    pyo3::pyclass(frozen, eq, module = "heinit_rs._core")
)]
pub struct Normal {
    mean: f64,
    std: f64,
}

/// Uniform on [a, b], a <= b with b - a finite; a value is c + h s with c = (a + b) / 2,
/// h = (b - a) / 2 and s uniform in (-1, 1), so a symmetric range gives a symmetric
/// distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "python",
    pyo3::pyclass(frozen, eq, module = "heinit_rs._core")
)]
pub struct Uniform {
    a: f64,
    b: f64,
}

/// Normal(mean, std^2) truncated to [a, b], by the exact inverse CDF (docs/stream-spec.md);
/// a < b, either bound may be infinite; std = 0 gives `mean` clamped to [a, b], as torch's
/// `trunc_normal_` does.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(
    feature = "python",
    pyo3::pyclass(frozen, eq, module = "heinit_rs._core")
)]
pub struct TruncNormal {
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
}

fn finite(name: &'static str, value: f64) -> Result<f64, ParameterError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParameterError::NotFinite { name, value })
    }
}

fn non_negative(name: &'static str, value: f64) -> Result<f64, ParameterError> {
    let value = finite(name, value)?;
    if value < 0.0 {
        Err(ParameterError::Negative { name, value })
    } else {
        Ok(value)
    }
}

impl Normal {
    /// Normal(mean, std^2): `mean` finite, `std` finite and >= 0.
    pub fn new(mean: f64, std: f64) -> Result<Self, Error> {
        Ok(Self {
            mean: finite("mean", mean)?,
            std: non_negative("std", std)?,
        })
    }
    /// The mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }
    /// The standard deviation.
    pub fn std(&self) -> f64 {
        self.std
    }
}

impl Uniform {
    /// Uniform on [a, b]: both finite, a <= b, b - a finite.
    pub fn new(a: f64, b: f64) -> Result<Self, Error> {
        let (a, b) = (finite("a", a)?, finite("b", b)?);
        if a > b || !(b - a).is_finite() {
            return Err(ParameterError::Bounds {
                distribution: "uniform",
                a,
                b,
            }
            .into());
        }
        Ok(Self { a, b })
    }
    /// The lower bound.
    pub fn a(&self) -> f64 {
        self.a
    }
    /// The upper bound.
    pub fn b(&self) -> f64 {
        self.b
    }
}

impl TruncNormal {
    /// Normal(mean, std^2) truncated to [a, b]: `mean` finite, `std` finite and >= 0, a < b
    /// (not NaN, either may be infinite).
    pub fn new(mean: f64, std: f64, a: f64, b: f64) -> Result<Self, Error> {
        let (mean, std) = (finite("mean", mean)?, non_negative("std", std)?);
        for (name, value) in [("a", a), ("b", b)] {
            if value.is_nan() {
                return Err(ParameterError::NotFinite { name, value }.into());
            }
        }
        if a >= b {
            return Err(ParameterError::Bounds {
                distribution: "trunc_normal",
                a,
                b,
            }
            .into());
        }
        Ok(Self { mean, std, a, b })
    }
    /// The untruncated normal's mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }
    /// The untruncated normal's standard deviation.
    pub fn std(&self) -> f64 {
        self.std
    }
    /// The lower bound.
    pub fn a(&self) -> f64 {
        self.a
    }
    /// The upper bound.
    pub fn b(&self) -> f64 {
        self.b
    }
}

/// The largest |z| a standard normal of element type `T` reaches (that of the draw with every
/// magnitude bit set), with a margin for the rounding of mean + std z.
fn normal_reach<T: Real>() -> f64 {
    let unit = transforms::Normal::<T>::new(0.0, 1.0);
    // The sign bit is the top bit of the last word a value takes (word 0 for float32, word 1,
    // the high half, for float64).
    let mut words = [[u32::MAX; crate::philox::LANES]; 4];
    words[4 / T::PER_BLOCK - 1] = [u32::MAX >> 1; crate::philox::LANES];
    unit.one(crate::simd::Portable, T::draw(&words, 0, 0))
        .to_f64()
        * (1.0 + 2f64.powi(-20))
}

pub(crate) mod sealed {
    use super::*;

    /// What the fills need of a distribution; outside the crate it cannot be implemented.
    pub trait Sealed: Sync {
        /// The parameters, as `name=value` pairs for messages.
        fn arguments(&self) -> String;
        /// The range of values, given the reach of a standard normal.
        fn reach(&self, normal_reach: f64) -> (f64, f64);
        /// The kernel that makes the values in storage format `S`.
        fn transform<S: Store>(&self) -> impl Transform<S::Real>;
        /// The lane kernel's parameters for format `S`, each exactly a value of its compute
        /// type, for kernels elsewhere (the GPU's) to give the same bits; None where the
        /// values are made by a double-precision form instead (`TruncNormal`'s `Wide`).
        #[cfg_attr(not(feature = "python"), allow(dead_code))]
        fn kernel_parameters<S: Store>(&self) -> Option<Vec<f64>>;
        /// Fill the memory `plan` describes at `ptr` from `stream`, in format `S`, once the
        /// values are known to fit it.
        ///
        /// # Safety
        /// As for `fill::fill_until`.
        unsafe fn fill_plan<S: Store>(
            &self,
            stream: &Stream,
            ptr: *mut S,
            plan: &Plan,
            stop: &AtomicBool,
        ) -> Result<(), Error> {
            check_fits::<S>(self)?;
            // SAFETY: forwarded from the caller.
            unsafe { fill_until(&self.transform::<S>(), stream, ptr, plan, stop) }
        }
    }
}

/// A distribution the fills draw from: `Normal`, `Uniform` or `TruncNormal`.
pub trait Distribution: sealed::Sealed {
    /// Whether every value fits output format `S` (none overflows to inf), as an error that
    /// names the parameters and the range otherwise.
    fn check_fits<S: Element>(&self) -> Result<(), Error> {
        check_fits::<S>(self)
    }
}

impl<D: sealed::Sealed> Distribution for D {}

/// An element type the fills write: `f32`, `f64`, or the 16-bit formats `F16` and `BF16`
/// (computed in float32, then rounded to nearest even).
pub trait Element: Store {}
impl Element for f32 {}
impl Element for f64 {}
impl Element for crate::real::F16 {}
impl Element for crate::real::BF16 {}

pub(crate) fn check_fits<S: Store>(d: &(impl sealed::Sealed + ?Sized)) -> Result<(), Error> {
    let (low, high) = d.reach(normal_reach::<S::Real>());
    if -S::LARGEST <= low && low <= high && high <= S::LARGEST {
        return Ok(());
    }
    Err(ParameterError::Overflow {
        arguments: d.arguments(),
        format: S::FORMAT,
        reach: (low, high),
        largest: S::LARGEST,
    }
    .into())
}

impl sealed::Sealed for Normal {
    fn arguments(&self) -> String {
        format!("mean={}, std={}", py_repr(self.mean), py_repr(self.std))
    }
    fn reach(&self, normal_reach: f64) -> (f64, f64) {
        let spread = self.std * normal_reach;
        (self.mean - spread, self.mean + spread)
    }
    fn transform<S: Store>(&self) -> impl Transform<S::Real> {
        transforms::Normal::<S::Real>::new(self.mean, self.std)
    }
    fn kernel_parameters<S: Store>(&self) -> Option<Vec<f64>> {
        Some(transforms::Normal::<S::Real>::new(self.mean, self.std).parameters())
    }
}

impl sealed::Sealed for Uniform {
    fn arguments(&self) -> String {
        format!("a={}, b={}", py_repr(self.a), py_repr(self.b))
    }
    fn reach(&self, _: f64) -> (f64, f64) {
        (self.a, self.b)
    }
    fn transform<S: Store>(&self) -> impl Transform<S::Real> {
        transforms::Uniform::<S::Real>::new(self.a, self.b).clamped(S::inside(self.a, self.b))
    }
    fn kernel_parameters<S: Store>(&self) -> Option<Vec<f64>> {
        Some(
            transforms::Uniform::<S::Real>::new(self.a, self.b)
                .clamped(S::inside(self.a, self.b))
                .parameters(),
        )
    }
}

impl TruncNormal {
    fn lane_kernel<S: Store>(&self) -> transforms::TruncNormal<S::Real> {
        // std = 0 is the point mean clamped to [a, b]: its bounds are that point's.
        let (low, high) = if self.std == 0.0 {
            let point = self.mean.clamp(self.a, self.b);
            (point, point)
        } else {
            (self.a, self.b)
        };
        transforms::TruncNormal::<S::Real>::new(self.mean, self.std, self.a, self.b)
            .clamped(S::inside(low, high))
    }
}

impl sealed::Sealed for TruncNormal {
    fn arguments(&self) -> String {
        format!(
            "mean={}, std={}, a={}, b={}",
            py_repr(self.mean),
            py_repr(self.std),
            py_repr(self.a),
            py_repr(self.b)
        )
    }
    /// Within [a, b], and within the normal's reach of the mean, or of the bound nearer to it
    /// (a far-tail interval's values lie just inside that bound).
    fn reach(&self, normal_reach: f64) -> (f64, f64) {
        let spread = self.std * normal_reach;
        (
            self.a.max(self.b.min(self.mean) - spread),
            self.b.min(self.a.max(self.mean) + spread),
        )
    }
    fn transform<S: Store>(&self) -> impl Transform<S::Real> {
        self.lane_kernel::<S>()
    }
    fn kernel_parameters<S: Store>(&self) -> Option<Vec<f64>> {
        self.lane_kernel::<S>().parameters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::{BF16, F16};

    #[test]
    fn constructors_name_the_parameter_and_the_constraint() {
        let message = |e: Error| e.to_string();
        assert_eq!(
            message(Normal::new(0.0, -1.0).unwrap_err()),
            "std must be >= 0, got -1.0"
        );
        assert_eq!(
            message(Normal::new(f64::NAN, 1.0).unwrap_err()),
            "mean must be finite, got nan"
        );
        assert_eq!(
            message(Uniform::new(1.0, 0.0).unwrap_err()),
            "uniform needs a <= b with a finite b - a, got a=1.0, b=0.0"
        );
        assert!(Uniform::new(-f64::MAX, f64::MAX).is_err());
        assert_eq!(
            message(TruncNormal::new(0.0, 1.0, 1.0, 1.0).unwrap_err()),
            "trunc_normal needs bounds a < b, got a=1.0, b=1.0"
        );
        assert_eq!(
            message(TruncNormal::new(0.0, 1.0, f64::NAN, 1.0).unwrap_err()),
            "a must be finite, got nan"
        );
        assert!(TruncNormal::new(0.0, 1.0, f64::NEG_INFINITY, f64::INFINITY).is_ok());
        assert!(TruncNormal::new(0.0, 0.0, -1.0, 1.0).is_ok());
    }

    #[test]
    fn fits_know_each_format() {
        let wide = Normal::new(0.0, 1e38).unwrap();
        assert!(wide.check_fits::<f64>().is_ok());
        assert!(wide.check_fits::<BF16>().is_err());
        let message = wide.check_fits::<f32>().unwrap_err().to_string();
        assert!(
            message.starts_with("mean=0.0, std=1e+38 gives float32 values in [-")
                && message.ends_with(
                    "beyond float32's largest finite value 3.4028235e+38; use float64 or \
                     smaller parameters"
                ),
            "{message}"
        );
        let half = Uniform::new(-7e4, 7e4).unwrap();
        assert!(half.check_fits::<f32>().is_ok() && half.check_fits::<F16>().is_err());
        // A far-tail interval reaches only just inside its bound.
        let tail = TruncNormal::new(0.0, 1e38, 3e38, f64::INFINITY).unwrap();
        assert!(tail.check_fits::<f32>().is_err());
        assert!(TruncNormal::new(0.0, 1e30, 1e36, 2e36)
            .unwrap()
            .check_fits::<f32>()
            .is_ok());
    }
}
