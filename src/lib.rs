mod bindings;

/// The version of the value contract in docs/stream-spec.md: the same seed and version give the
/// same values, bit for bit, on every CPU and thread count.
pub const STREAM_VERSION: u32 = 2;

pub mod dispatch;
pub mod fill;
pub mod math;
pub mod philox;
pub mod pool;
pub mod sample;
