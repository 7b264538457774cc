//! The crate's one error type, and the one place its messages are written. The Python bindings
//! map each kind to the exception a user expects (src/bindings.rs); Rust callers match on it.

/// What can go wrong in a fill or a setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The block does not fit its global array, or its memory cannot be filled.
    Geometry(GeometryError),
    /// A distribution's parameter outside what is allowed.
    Parameter(ParameterError),
    /// A setting outside what is allowed; the message names it.
    InvalidArgument(String),
    /// An array whose element type no kernel writes; the message names it.
    WrongType(String),
    /// An instruction-set path that is unknown, or that this CPU lacks.
    SimdPath(String),
    /// The worker threads could not be started.
    ThreadPool(String),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Geometry(e) => e.fmt(f),
            Self::Parameter(e) => e.fmt(f),
            Self::InvalidArgument(m)
            | Self::WrongType(m)
            | Self::SimdPath(m)
            | Self::ThreadPool(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<GeometryError> for Error {
    fn from(e: GeometryError) -> Self {
        Self::Geometry(e)
    }
}

impl From<ParameterError> for Error {
    fn from(e: ParameterError) -> Self {
        Self::Parameter(e)
    }
}

/// Why a distribution cannot be made: each kind names the parameter (as torch.nn.init names
/// it: mean, std, a, b) and the constraint it breaks.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterError {
    /// `name` is NaN, or infinite where only a bound may be.
    NotFinite {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// `name` is below zero.
    Negative {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// The bounds of `distribution` are out of order (a > b for `uniform`, a >= b for
    /// `trunc_normal`), or, for `uniform`, b - a overflows.
    Bounds {
        /// "uniform" or "trunc_normal".
        distribution: &'static str,
        /// The lower bound.
        a: f64,
        /// The upper bound.
        b: f64,
    },
    /// Values would overflow the output format (to inf, or NaN).
    Overflow {
        /// The parameters the values came from, as `name=value` pairs; the Python layer
        /// replaces them with the arguments its caller passed (`with_arguments`).
        arguments: String,
        /// The output format: "float32", "float64", "float16" or "bfloat16".
        format: &'static str,
        /// The range the values can reach.
        reach: (f64, f64),
        /// The format's largest finite value.
        largest: f64,
    },
}

impl ParameterError {
    /// The same error, naming `arguments` (`name=value, ...`) as what the values came from.
    pub fn with_arguments(self, arguments: String) -> Self {
        match self {
            Self::Overflow {
                format,
                reach,
                largest,
                ..
            } => Self::Overflow {
                arguments,
                format,
                reach,
                largest,
            },
            other => other,
        }
    }
}

impl core::fmt::Display for ParameterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::NotFinite { name, value } => {
                write!(f, "{name} must be finite, got {}", py_repr(value))
            }
            Self::Negative { name, value } => {
                write!(f, "{name} must be >= 0, got {}", py_repr(value))
            }
            Self::Bounds {
                distribution: "uniform",
                a,
                b,
            } => write!(
                f,
                "uniform needs a <= b with a finite b - a, got a={}, b={}",
                py_repr(a),
                py_repr(b)
            ),
            Self::Bounds { distribution, a, b } => write!(
                f,
                "{distribution} needs bounds a < b, got a={}, b={}",
                py_repr(a),
                py_repr(b)
            ),
            Self::Overflow {
                ref arguments,
                format,
                reach: (low, high),
                largest,
            } => write!(
                f,
                "{arguments} gives {format} values in [{}, {}], beyond {format}'s largest \
                 finite value {}; use float64 or smaller parameters",
                general(low, 6),
                general(high, 6),
                general(largest, 8)
            ),
        }
    }
}

/// `x` as Python's `repr` writes it (nan, inf, -1.0), so that messages read the same from
/// Rust and from the Python layer.
pub(crate) fn py_repr(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        (if x > 0.0 { "inf" } else { "-inf" }).into()
    } else {
        let text = format!("{x:?}");
        // Rust writes 1e20 where Python writes 1e+20.
        match text.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => text,
        }
    }
}

/// `x` with `digits` significant digits, as C's and Python's `%g`.
fn general(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return py_repr(x);
    }
    let scientific = format!("{:.*e}", digits - 1, x);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if exponent < -4 || exponent >= digits as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            trim(mantissa.to_string()),
            exponent.unsigned_abs()
        )
    } else {
        let decimals = (digits as i32 - 1 - exponent).max(0) as usize;
        trim(format!("{x:.decimals$}"))
    }
}

/// Why a block of a global array cannot be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// The array's rank differs from that of `global_shape` or `offset`.
    RankMismatch {
        /// The array's rank.
        arr: usize,
        /// `global_shape`'s length.
        global: usize,
        /// `offset`'s length.
        offset: usize,
    },
    /// The block reaches beyond the global array along `axis`.
    OutOfRange {
        /// The axis.
        axis: usize,
        /// The block's start along it.
        offset: u64,
        /// The block's length along it.
        len: usize,
        /// The global array's length along it.
        global: u64,
    },
    /// The global array has more elements than the stream indexes (2^63 - 1).
    TooManyElements,
    /// A stride of 0 would make several elements share memory.
    ZeroStride {
        /// The axis.
        axis: usize,
    },
    /// The block's strides reach beyond the slice that holds it.
    OutsideSlice {
        /// The furthest element the block reaches.
        reach: u128,
        /// The slice's length.
        len: usize,
    },
}

impl core::fmt::Display for GeometryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::RankMismatch { arr, global, offset } => write!(
                f,
                "arr has {arr} dimensions but global_shape has {global} and offset {offset}; they must match"
            ),
            Self::OutOfRange { axis, offset, len, global } => write!(
                f,
                "the block [{offset}, {}) along axis {axis} lies outside global_shape[{axis}] = {global}",
                u128::from(*offset) + *len as u128
            ),
            Self::TooManyElements => {
                write!(f, "global_shape has more than 2**63 - 1 elements, which the stream cannot index")
            }
            Self::OutsideSlice { reach, len } => write!(
                f,
                "the block reaches element {reach} of a slice of {len} elements"
            ),
            Self::ZeroStride { axis } => write!(
                f,
                "arr has stride 0 along axis {axis}, so several elements share memory; pass a copy"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_python_writes_them() {
        assert_eq!(py_repr(-1.0), "-1.0");
        assert_eq!(py_repr(f64::NAN), "nan");
        assert_eq!(py_repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(py_repr(1e20), "1e+20");
        assert_eq!(py_repr(2.5e-30), "2.5e-30");
        for (x, digits, expected) in [
            (3.4028234663852886e38, 8, "3.4028235e+38"),
            (65504.0, 8, "65504"),
            (-1234567.0, 6, "-1.23457e+06"),
            (0.000123456, 6, "0.000123456"),
            (0.5, 6, "0.5"),
            (100.0, 6, "100"),
        ] {
            assert_eq!(general(x, digits), expected);
        }
    }
}
