mod bindings;
pub mod dispatch;
pub mod fill;
pub mod math;
pub mod philox;
pub mod pool;
pub mod sample;
