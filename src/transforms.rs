//! The distributions' kernels, written once over the element type: each turns one draw into
//! one value (`Transform::one`) and a batch of draws into a batch of values
//! (`Transform::many`). Their parameters are checked where they are made
//! (src/distributions.rs).

use crate::lanes::{Lanes, MAX_BATCH};
use crate::math::*;
use crate::real::{Real, Transform};
use crate::simd::Isa;

/// The batched inverse CDF that the normal and the truncated normal share: each lane's parts
/// (sign, centre distance, tail distance) from `parts(j)`, |Phi^-1| of all lanes at once, then
/// `x.finish` per lane (lanes deferred to `deferred` are finished when it settles).
#[inline(always)]
fn inverse_cdf_many<T: Real, X: Transform<T>, I: Isa>(
    x: &X,
    isa: I,
    out: &mut [T],
    deferred: &mut T::Deferred,
    parts: impl Fn(usize) -> (bool, T, T),
) {
    let n = out.len();
    let zero = T::from_f64(0.0);
    let (mut sign, mut centre, mut tail) = (
        Lanes([zero; MAX_BATCH]),
        Lanes([zero; MAX_BATCH]),
        Lanes([zero; MAX_BATCH]),
    );
    for j in 0..n {
        let negative;
        (negative, centre[j], tail[j]) = parts(j);
        sign[j] = T::with_sign(negative, zero);
    }
    T::ndtri_abs_many(isa, &centre[..], &tail[..], &sign[..], out, deferred);
    for j in 0..n {
        out[j] = x.finish(sign[j].is_sign_negative(), out[j]);
    }
}

/// Normal(mean, std).
#[derive(Clone, Copy, Debug)]
pub struct Normal<T> {
    mean: T,
    std: T,
}

impl<T: Real> Normal<T> {
    pub fn new(mean: f64, std: f64) -> Self {
        Self {
            mean: T::from_f64(mean),
            std: T::from_f64(std),
        }
    }
}

#[cfg_attr(not(feature = "python"), allow(dead_code))]
impl<T: Real> Normal<T> {
    /// (mean, std) as this type holds them.
    pub fn parameters(&self) -> Vec<f64> {
        vec![self.mean.to_f64(), self.std.to_f64()]
    }
}

impl<T: Real> Transform<T> for Normal<T> {
    #[inline(always)]
    fn one<I: Isa>(&self, isa: I, draw: T::Draw) -> T {
        let (negative, centre, tail) = T::normal_parts(isa, draw);
        self.finish(negative, T::ndtri_abs(centre, tail))
    }
    #[inline(always)]
    fn many<I: Isa>(&self, isa: I, draws: &[T::Draw], out: &mut [T], deferred: &mut T::Deferred) {
        inverse_cdf_many(self, isa, out, deferred, |j| T::normal_parts(isa, draws[j]));
    }
    /// mean + std * (±|z|).
    #[inline(always)]
    fn finish(&self, negative: bool, magnitude: T) -> T {
        self.mean + self.std * T::with_sign(negative, magnitude)
    }
}

/// Uniform on [low, high]: center + half_width * s with s symmetric in (-1, 1), so a symmetric
/// range gives an exactly symmetric distribution; the clamp only catches rounding.
#[derive(Clone, Copy, Debug)]
pub struct Uniform<T> {
    center: T,
    half_width: T,
    low: T,
    high: T,
}

impl<T: Real> Uniform<T> {
    pub fn new(low: f64, high: f64) -> Self {
        Self {
            center: T::from_f64(0.5 * low + 0.5 * high),
            half_width: T::from_f64(0.5 * high - 0.5 * low),
            low: T::from_f64(low),
            high: T::from_f64(high),
        }
    }

    /// The same distribution, clamped to [low, high] instead (bounds a storage format holds,
    /// `Store::inside`).
    pub fn clamped(self, (low, high): (f64, f64)) -> Self {
        Self {
            low: T::from_f64(low),
            high: T::from_f64(high),
            ..self
        }
    }
}

#[cfg_attr(not(feature = "python"), allow(dead_code))]
impl<T: Real> Uniform<T> {
    /// (center, half_width, low, high) as this type holds them.
    pub fn parameters(&self) -> Vec<f64> {
        [self.center, self.half_width, self.low, self.high]
            .map(T::to_f64)
            .to_vec()
    }
}

impl<T: Real> Transform<T> for Uniform<T> {
    #[inline(always)]
    fn one<I: Isa>(&self, isa: I, draw: T::Draw) -> T {
        (self.center + self.half_width * T::signed_unit(isa, draw)).clamp_to(self.low, self.high)
    }
}

/// Normal(mean, std) truncated to [low, high], by the exact inverse CDF:
/// z = Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))) with one draw per value.
/// An interval entirely above the mean is sampled as its mirror image below it, so that p is
/// always a small, precisely held lower-tail probability where the interval is in a tail.
/// Where that probability cannot hold the interval to the output's precision, the value is
/// computed in double precision by one of the `Wide` forms instead.
#[derive(Clone, Copy, Debug)]
pub struct TruncNormal<T> {
    mean: T,
    std: T,
    low: T,
    high: T,
    p_low: T,
    p_width: T,
    mirrored: bool,
    /// Where set, every value is computed by this form from `double`.
    wide: Option<Wide>,
    /// (mean, std, low, high) unrounded, for the `Wide` forms.
    double: [f64; 4],
    /// What values are clamped to: [low, high], or the bounds a storage format holds.
    clamp: (f64, f64),
}

/// The double-precision forms of the truncated normal (docs/stream-spec.md), each for
/// intervals the lane kernel's probabilities would blur. All end in
/// `clamp(value, low, high)` rounded to the output type.
#[derive(Clone, Copy, Debug)]
enum Wide {
    /// The lower-tail probability p = p_low + u p_width, in double precision; the value
    /// mean + std * z in the output type where that cannot overflow (as stream v2 has it).
    Tail {
        p_low: f64,
        p_width: f64,
        finish_in_output: bool,
    },
    /// A narrow interval within one sigma of the mean: c = Phi(x) - 1/2 = c_low + u c_width
    /// keeps full relative precision where p = 1/2 + c would not.
    Centred { c_low: f64, c_width: f64 },
    /// Both bounds within FLAT_WITHIN sigma of the mean: the density varies by less than
    /// a rounding error over the interval, so the distribution is uniform on [low, high].
    Flat,
    /// The (mirrored) interval lies beyond FAR_TAIL_BEYOND sigma, where Phi underflows: the
    /// value is the nearer bound moved inwards by `FarTail::offset(u)` sigma.
    FarTail(FarTail),
}

/// Below this many sigma on both sides, exp(-x^2 / 2) is 1 to within 2^-55.
const FLAT_WITHIN: f64 = 1.0 / 134_217_728.0; // 2^-27
/// Narrow intervals (in probability) within one sigma of the mean use `Wide::Centred`.
const CENTRED_BELOW_WIDTH: f64 = 1.0 / 1_048_576.0; // 2^-20

impl<T: Real> TruncNormal<T> {
    /// The caller validates: finite mean, finite std >= 0, low < high (src/distributions.rs).
    /// std = 0 gives `mean` clamped to [low, high].
    pub fn new(mean: f64, std: f64, low: f64, high: f64) -> Self {
        if std == 0.0 {
            let point = mean.clamp(low, high);
            return Self {
                mean: T::from_f64(point),
                std: T::from_f64(0.0),
                low: T::from_f64(point),
                high: T::from_f64(point),
                p_low: T::from_f64(0.0),
                p_width: T::from_f64(0.0),
                mirrored: false,
                wide: Some(Wide::Flat),
                double: [point, 0.0, point, point],
                clamp: (point, point),
            };
        }
        let (alpha, beta) = ((low - mean) / std, (high - mean) / std);
        let mirrored = alpha > 0.0;
        let (alpha, beta) = if mirrored {
            (-beta, -alpha)
        } else {
            (alpha, beta)
        };
        let (p_low, p_high) = (ndtr(alpha), ndtr(beta));
        let p_width = p_high - p_low;
        let wide = if alpha.abs().max(beta.abs()) <= FLAT_WITHIN {
            Some(Wide::Flat)
        } else if beta < -FAR_TAIL_BEYOND {
            Some(Wide::FarTail(FarTail::new(-beta, beta - alpha)))
        } else if -1.0 <= alpha && beta <= 1.0 && p_width < CENTRED_BELOW_WIDTH {
            let c_low = ndtr_centred(alpha);
            Some(Wide::Centred {
                c_low,
                c_width: ndtr_centred(beta) - c_low,
            })
        } else if T::trunc_needs_double(mean, std, alpha, beta, p_width) {
            let reach = mean.abs() + std * alpha.abs().max(beta.abs()).min(FAR_TAIL_BEYOND + 3.0);
            Some(Wide::Tail {
                p_low,
                p_width,
                finish_in_output: T::from_f64(2.0 * reach.max(std)).is_finite(),
            })
        } else {
            None
        };
        Self {
            mean: T::from_f64(mean),
            std: T::from_f64(std),
            low: T::from_f64(low),
            high: T::from_f64(high),
            p_low: T::from_f64(p_low),
            p_width: T::from_f64(p_width),
            mirrored,
            wide,
            double: [mean, std, low, high],
            clamp: (low, high),
        }
    }

    /// The same distribution, clamped to [low, high] instead (bounds a storage format holds,
    /// `Store::inside`).
    pub fn clamped(self, (low, high): (f64, f64)) -> Self {
        Self {
            low: T::from_f64(low),
            high: T::from_f64(high),
            clamp: (low, high),
            ..self
        }
    }

    /// (mean, std, low, high, p_low, p_width, mirrored as 0 or 1) as this type holds them;
    /// None where a `Wide` form makes the values.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub fn parameters(&self) -> Option<Vec<f64>> {
        if self.wide.is_some() {
            return None;
        }
        let held = [
            self.mean,
            self.std,
            self.low,
            self.high,
            self.p_low,
            self.p_width,
        ];
        let mut parameters = held.map(T::to_f64).to_vec();
        parameters.push(f64::from(u8::from(self.mirrored)));
        Some(parameters)
    }

    /// One value by the `wide` form, from u uniform in (0, 1).
    #[inline(never)]
    fn wide_value(&self, wide: Wide, u: f64) -> T {
        let [mean, std, low, high] = self.double;
        let value = match wide {
            Wide::Flat => low + u * (high - low),
            // The nearer bound (`high` unless mirrored), moved inwards.
            Wide::FarTail(tail) if self.mirrored => low + std * tail.offset(u),
            Wide::FarTail(tail) => high - std * tail.offset(u),
            Wide::Centred { c_low, c_width } => {
                let c = c_low + u * c_width;
                let z = f64::with_sign((c < 0.0) != self.mirrored, as241_central(c.abs()));
                mean + std * z
            }
            Wide::Tail {
                p_low,
                p_width,
                finish_in_output,
            } => {
                let (negative, c, t) = f64::prob_parts(p_low + u * p_width);
                let z = f64::with_sign(negative != self.mirrored, ndtri_abs_f64(c, t));
                if finish_in_output {
                    return (self.mean + self.std * T::from_f64(z)).clamp_to(self.low, self.high);
                }
                mean + std * z
            }
        };
        T::from_f64(value.clamp(self.clamp.0, self.clamp.1))
    }
}

impl<T: Real> Transform<T> for TruncNormal<T> {
    #[inline(always)]
    fn one<I: Isa>(&self, isa: I, draw: T::Draw) -> T {
        match self.wide {
            None => {
                let p = self.p_low + T::open_unit(isa, draw) * self.p_width;
                let (negative, centre, tail) = T::prob_parts(p);
                self.finish(negative, T::ndtri_abs(centre, tail))
            }
            Some(wide) => self.wide_value(wide, T::wide_unit(draw)),
        }
    }
    #[inline(always)]
    fn many<I: Isa>(&self, isa: I, draws: &[T::Draw], out: &mut [T], deferred: &mut T::Deferred) {
        let n = out.len();
        if self.wide.is_some() {
            for j in 0..n {
                out[j] = self.one(isa, draws[j]);
            }
            return;
        }
        inverse_cdf_many(self, isa, out, deferred, |j| {
            T::prob_parts(self.p_low + T::open_unit(isa, draws[j]) * self.p_width)
        });
    }
    /// mean + std * (±|z|), with the mirror undone, clamped against last-bit rounding.
    #[inline(always)]
    fn finish(&self, negative: bool, magnitude: T) -> T {
        let z = T::with_sign(negative != self.mirrored, magnitude);
        (self.mean + self.std * z).clamp_to(self.low, self.high)
    }
}
