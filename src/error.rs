//! The crate's one error type. The Python bindings map each kind to the exception a user
//! expects (src/bindings.rs); Rust callers match on it.

/// What can go wrong in a fill or a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The block does not fit its global array, or its memory cannot be filled.
    Geometry(GeometryError),
    /// An argument outside what is allowed; the message names it.
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

/// Why a block of a global array cannot be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeometryError {
    RankMismatch {
        arr: usize,
        global: usize,
        offset: usize,
    },
    OutOfRange {
        axis: usize,
        offset: u64,
        len: usize,
        global: u64,
    },
    TooManyElements,
    ZeroStride {
        axis: usize,
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
            Self::ZeroStride { axis } => write!(
                f,
                "arr has stride 0 along axis {axis}, so several elements share memory; pass a copy"
            ),
        }
    }
}
