//! The Python module `heinit_rs._core` (feature `python`): the distributions as Python
//! classes, and thin wrappers that borrow the array, release the GIL and call the fill. The
//! distributions check their own parameters (src/distributions.rs); the Python layer
//! (python/heinit_rs) checks only what Rust does not know: argument types, shapes, seeds.

use crate::dispatch::{self, Path};
use crate::distributions::{check_fits, sealed::Sealed, Normal, TruncNormal, Uniform};
use crate::error::Error;
use crate::fill::Plan;
use crate::philox::{self, Stream};
use crate::pool;
use crate::real::{Store, BF16, F16};
use numpy::{
    BorrowError, Element, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple, PyType};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let message = e.to_string();
        match e {
            Error::Geometry(_)
            | Error::Parameter(_)
            | Error::InvalidArgument(_)
            | Error::SimdPath(_) => PyValueError::new_err(message),
            Error::WrongType(_) => PyTypeError::new_err(message),
            Error::ThreadPool(_) => PyRuntimeError::new_err(message),
        }
    }
}

/// Above this many elements the GIL is released during the fill (below it the hand-off costs
/// more than it frees, as blake3-py found).
const DETACH_THRESHOLD: usize = 4096;
/// Fills of at least this many elements on the main thread watch for Ctrl-C while they run;
/// smaller ones end soon enough that a Ctrl-C after them is not noticeably late, even on the
/// slowest (scalar) path (figures in docs/reliability.md).
const WATCH_FOR_CTRL_C_FROM: usize = 1 << 21;
/// How often a watched fill checks for Ctrl-C.
const CTRL_C_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// The array's memory as the kernels need it, checked.
struct Target<T> {
    ptr: *mut T,
    plan: Plan,
}

// SAFETY: `ptr` points into an array whose read-write borrow the caller holds for as long as
// the Target lives; moving the address to another thread does not create another alias.
unsafe impl<T: Send> Send for Target<T> {}
// SAFETY: a shared Target is only used by one `fill_until` call, whose tasks write disjoint
// elements, so sharing the address never makes two writers of one element.
unsafe impl<T: Send> Sync for Target<T> {}

/// The array's memory as elements of storage format `S` (an `E` of the same size: float16 and
/// bfloat16 arrays arrive as their uint16 bits).
fn target<E: Element, S: Store>(
    array: &Bound<'_, PyArrayDyn<E>>,
    global_shape: Option<Vec<u64>>,
    offset: Option<Vec<u64>>,
) -> PyResult<Target<S>> {
    const { assert!(core::mem::size_of::<E>() == core::mem::size_of::<S>()) };
    let size = core::mem::size_of::<S>() as isize;
    let shape = array.shape().to_vec();
    let ptr = array.data().cast::<S>();
    if !(ptr as usize).is_multiple_of(core::mem::align_of::<S>())
        || array.strides().iter().any(|s| s % size != 0)
    {
        return Err(Error::InvalidArgument(
            "arr is not aligned to its dtype; pass an aligned copy (numpy.ascontiguousarray)"
                .into(),
        )
        .into());
    }
    let strides: Vec<isize> = array.strides().iter().map(|s| s / size).collect();
    let global_shape = global_shape.unwrap_or_else(|| shape.iter().map(|&n| n as u64).collect());
    let offset = offset.unwrap_or_else(|| vec![0; shape.len()]);
    let plan = Plan::new(&shape, &strides, &global_shape, &offset).map_err(Error::from)?;
    Ok(Target { ptr, plan })
}

fn run<S: Store, D: Sealed>(
    dist: &D,
    stream: &Stream,
    target: &Target<S>,
    stop: &AtomicBool,
) -> Result<(), Error> {
    // SAFETY: `target` checked the geometry against the array, and the caller holds its
    // read-write borrow, so the memory is valid and unaliased for the whole call.
    unsafe { dist.fill_plan(stream, target.ptr, &target.plan, stop) }
}

fn fill_typed<E: Element, S: Store, D: Sealed>(
    py: Python<'_>,
    array: &Bound<'_, PyArrayDyn<E>>,
    dist: &D,
    stream: Stream,
    global_shape: Option<Vec<u64>>,
    offset: Option<Vec<u64>>,
) -> PyResult<()> {
    let borrow = array.try_readwrite().map_err(|e| match e {
        BorrowError::NotWriteable => {
            PyValueError::new_err("arr is read-only; pass a writeable array")
        }
        _ => PyValueError::new_err(
            "arr, or memory it shares, is being filled by another thread right now; \
             heinit_rs lets one call at a time write to an array",
        ),
    })?;
    let target = target::<E, S>(array, global_shape, offset)?;
    let elements = target.plan.elements();
    let never = AtomicBool::new(false);
    let result = if elements < DETACH_THRESHOLD {
        run(dist, &stream, &target, &never).map_err(PyErr::from)
    } else if elements < WATCH_FOR_CTRL_C_FROM || !on_main_thread(py)? {
        // Short, or on a thread that never sees signals: nothing to watch for.
        py.detach(|| run(dist, &stream, &target, &never))
            .map_err(PyErr::from)
    } else {
        fill_watching_for_ctrl_c(py, |stop| run(dist, &stream, &target, stop))
    };
    drop(borrow);
    result
}

/// Run `fill` on the pool while this thread, the main one, checks for Ctrl-C every
/// CTRL_C_CHECK_INTERVAL. On a signal, `fill`'s tasks not yet begun are skipped and the
/// handler's exception (KeyboardInterrupt) is raised once the running ones end: the array is
/// left partly filled, as a NumPy ufunc interrupted midway would leave it.
fn fill_watching_for_ctrl_c<F>(py: Python<'_>, fill: F) -> PyResult<()>
where
    F: FnOnce(&AtomicBool) -> Result<(), Error> + Send,
{
    let pool = pool::get()?;
    let stop = AtomicBool::new(false);
    let mut interrupted = None;
    let outcome = py.detach(|| {
        let (done, finished) = mpsc::channel();
        pool.in_place_scope(|scope| {
            let stop = &stop;
            scope.spawn(move |_| {
                // The receiver outlives the scope, so this cannot fail.
                let _ = done.send(fill(stop));
            });
            loop {
                match finished.recv_timeout(CTRL_C_CHECK_INTERVAL) {
                    Ok(outcome) => return outcome,
                    Err(RecvTimeoutError::Timeout) if interrupted.is_none() => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            interrupted = Some(e);
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    // `fill` panicked: the scope re-raises its panic as it ends.
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
        })
    });
    match interrupted {
        Some(e) => Err(e),
        None => outcome.map_err(PyErr::from),
    }
}

fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let main = threading.call_method0("main_thread")?;
    Ok(threading.call_method0("current_thread")?.is(&main))
}

/// Fill `arr` in place with `dist`: element i of the C-order logical array `global_shape`,
/// whose block starting at `offset` `arr` is, becomes the i-th value of stream (`key`, `stream`).
/// float16 and bfloat16 arrays come as their uint16 bits, with `bits16` naming the format.
fn fill_array<D: Sealed>(
    py: Python<'_>,
    arr: &Bound<'_, PyAny>,
    dist: &D,
    stream: Stream,
    global_shape: Option<Vec<u64>>,
    offset: Option<Vec<u64>>,
    bits16: Option<&str>,
) -> PyResult<()> {
    if let Ok(array) = arr.cast::<PyArrayDyn<u16>>() {
        return match bits16 {
            Some("float16") => {
                fill_typed::<u16, F16, D>(py, array, dist, stream, global_shape, offset)
            }
            Some("bfloat16") => {
                fill_typed::<u16, BF16, D>(py, array, dist, stream, global_shape, offset)
            }
            other => Err(Error::InvalidArgument(format!(
                "bits16 must be 'float16' or 'bfloat16' for a uint16 arr (the format its bits \
                 hold), got {other:?}"
            ))
            .into()),
        };
    }
    if let Some(format) = bits16 {
        return Err(Error::InvalidArgument(format!(
            "bits16={format:?} is for uint16 arrays holding 16-bit floats"
        ))
        .into());
    }
    if let Ok(array) = arr.cast::<PyArrayDyn<f32>>() {
        fill_typed::<f32, f32, D>(py, array, dist, stream, global_shape, offset)
    } else if let Ok(array) = arr.cast::<PyArrayDyn<f64>>() {
        fill_typed::<f64, f64, D>(py, array, dist, stream, global_shape, offset)
    } else if let Ok(array) = arr.cast::<PyUntypedArray>() {
        Err(Error::WrongType(format!(
            "arr must have dtype float32 or float64 (or be uint16 bits with bits16), got {}",
            array.dtype()
        ))
        .into())
    } else {
        Err(Error::WrongType(format!(
            "arr must be a numpy.ndarray, got {}",
            arr.get_type().name()?
        ))
        .into())
    }
}

/// `check_fits` for the output format named `format`, the error naming `because`'s
/// `(name, value)` pairs (the arguments the caller passed) where given.
fn check_fits_named<D: Sealed>(
    dist: &D,
    format: &str,
    because: Option<&Bound<'_, PyTuple>>,
) -> PyResult<()> {
    let result = match format {
        "float32" => check_fits::<f32>(dist),
        "float64" => check_fits::<f64>(dist),
        "float16" => check_fits::<F16>(dist),
        "bfloat16" => check_fits::<BF16>(dist),
        other => {
            return Err(Error::InvalidArgument(format!(
                "format must be 'float32', 'float64', 'float16' or 'bfloat16', got {other:?}"
            ))
            .into())
        }
    };
    match (result, because) {
        (Err(Error::Parameter(e)), Some(because)) => {
            let mut named = Vec::new();
            for pair in because.iter() {
                let (name, value): (String, Bound<'_, PyAny>) = pair.extract()?;
                named.push(format!("{name}={}", value.repr()?));
            }
            Err(Error::from(e.with_arguments(named.join(", "))).into())
        }
        (result, _) => Ok(result?),
    }
}

/// The Python methods every distribution class has: its constructor (which checks the
/// parameters), `fill`, `check_fits`, `__repr__` and pickling.
macro_rules! python_distribution {
    ($t:ident, $($param:ident: $getter:ident),+) => {
        #[pymethods]
        impl $t {
            #[new]
            fn py_new($($param: f64),+) -> PyResult<Self> {
                Ok($t::new($($param),+)?)
            }

            /// Fill `arr` in place: element i of the C-order logical array `global_shape`,
            /// whose block starting at `offset` `arr` is, becomes the i-th value of stream
            /// (`key`, `stream`). float16 and bfloat16 arrays come as their uint16 bits, with
            /// `bits16` naming the format.
            #[pyo3(signature = (arr, key, stream, global_shape=None, offset=None, bits16=None))]
            #[allow(clippy::too_many_arguments)]
            fn fill(
                &self,
                py: Python<'_>,
                arr: &Bound<'_, PyAny>,
                key: u64,
                stream: u64,
                global_shape: Option<Vec<u64>>,
                offset: Option<Vec<u64>>,
                bits16: Option<&str>,
            ) -> PyResult<()> {
                fill_array(py, arr, self, Stream::new(key, stream), global_shape, offset, bits16)
            }

            /// Raise ValueError if values could overflow `format` ("float32", "float64",
            /// "float16" or "bfloat16"), naming `because`'s (name, value) pairs.
            #[pyo3(signature = (format, because=None))]
            fn check_fits(&self, format: &str, because: Option<&Bound<'_, PyTuple>>) -> PyResult<()> {
                check_fits_named(self, format, because)
            }

            /// The lane kernel's parameters for `format` (exact values of its compute type), or
            /// None where a double-precision form makes the values: for the GPU kernels.
            fn kernel_parameters(&self, format: &str) -> PyResult<Option<Vec<f64>>> {
                Ok(match format {
                    "float32" => Sealed::kernel_parameters::<f32>(self),
                    "float64" => Sealed::kernel_parameters::<f64>(self),
                    "float16" => Sealed::kernel_parameters::<F16>(self),
                    "bfloat16" => Sealed::kernel_parameters::<BF16>(self),
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "format must be 'float32', 'float64', 'float16' or 'bfloat16', \
                             got {other:?}"
                        )))
                    }
                })
            }

            $(
            #[getter($param)]
            fn $getter(&self) -> f64 {
                self.$param()
            }
            )+

            fn __repr__(&self) -> String {
                format!("{}({})", stringify!($t), self.arguments())
            }

            fn __reduce__<'py>(
                slf: &Bound<'py, Self>,
            ) -> (Bound<'py, PyType>, ($(python_distribution!(@f64 $param),)+)) {
                let this = slf.get();
                (slf.get_type(), ($(this.$param(),)+))
            }
        }
    };
    (@f64 $param:ident) => {
        f64
    };
}

python_distribution!(Normal, mean: py_mean, std: py_std);
python_distribution!(Uniform, a: py_a, b: py_b);
python_distribution!(TruncNormal, mean: py_mean, std: py_std, a: py_a, b: py_b);

/// The XLA FFI handler `heinit_rs_fill` as a PyCapsule of its function pointer, for
/// `jax.ffi.register_ffi_target` (src/xla_ffi.rs has its call).
#[pyfunction]
fn xla_ffi_handler(py: Python<'_>) -> PyResult<Bound<'_, PyCapsule>> {
    let handler = crate::xla_ffi::fill_handler as *mut core::ffi::c_void;
    let pointer = core::ptr::NonNull::new(handler).expect("a function's address is not null");
    // SAFETY: the pointer is a function with XLA's handler signature that lives as long as
    // the extension module, which jax keeps loaded.
    unsafe { PyCapsule::new_with_pointer(py, pointer, c"heinit_rs_fill") }
}

/// One Philox4x32-10 block, for known-answer tests.
#[pyfunction]
fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox::philox4x32_10(counter, key)
}

/// The transforms' constants, for kernels elsewhere (heinit_rs.triton) to use the same
/// values: the float32 inverse CDF's table (32 rows of 6 coefficients, lowest power first),
/// and in float64 AS 241's central, near-tail and far-tail numerators and denominators
/// (highest power first), its 0.180625, split 0.425, shifts 1.6 and 5, then fdlibm's ln 2
/// (high, low), sqrt 2 and its 7 polynomial coefficients.
#[pyfunction]
fn kernel_constants() -> (Vec<f32>, Vec<f64>) {
    use crate::math::*;
    let table = NDTRI_F32_TABLE.iter().flatten().copied().collect();
    let mut constants = Vec::with_capacity(62);
    for part in [
        AS241_CENTRAL_NUM,
        AS241_CENTRAL_DEN,
        AS241_NEAR_NUM,
        AS241_NEAR_DEN,
        AS241_FAR_NUM,
        AS241_FAR_DEN,
    ] {
        constants.extend(part);
    }
    constants.extend([
        AS241_CENTRAL_R0,
        AS241_SPLIT,
        AS241_NEAR_SHIFT,
        AS241_FAR_SHIFT,
    ]);
    constants.extend([LN2_HI, LN2_LO, core::f64::consts::SQRT_2]);
    constants.extend(LG);
    (table, constants)
}

/// The key of child `index` of a generator keyed by `seed` (see Generator.spawn).
#[pyfunction]
fn derive_key(seed: u64, index: u64) -> u64 {
    philox::derive_key(seed, index)
}

/// Force the instruction-set path ("scalar", "baseline", "avx2", "avx512"); all give the same bits.
#[pyfunction]
fn set_simd_path(name: &str) -> PyResult<()> {
    Ok(Path::parse(name).and_then(dispatch::set_path)?)
}

/// The instruction-set path in force.
#[pyfunction]
fn get_simd_path() -> &'static str {
    dispatch::current().name()
}

/// What is wrong with the environment variables heinit_rs reads (HEINIT_RS_NUM_THREADS,
/// HEINIT_RS_SIMD): (problem, what is used instead) for each bad one, which is ignored.
/// `heinit_rs` warns of each at import, attributed to the importing code.
#[pyfunction]
fn environment_problems() -> Vec<(String, String)> {
    let threads = pool::threads_from_env()
        .err()
        .map(|e| (e, pool::env_fallback()));
    let path = dispatch::path_from_env()
        .err()
        .map(|e| (e, dispatch::env_fallback()));
    [threads, path]
        .into_iter()
        .flatten()
        .map(|(problem, fallback)| (problem.to_string(), fallback))
        .collect()
}

/// The paths this CPU supports (`ALL_SIMD_PATHS` lists every path).
#[pyfunction]
fn supported_simd_paths() -> Vec<&'static str> {
    Path::ALL
        .into_iter()
        .filter(|p| p.supported())
        .map(Path::name)
        .collect()
}

/// Set the number of worker threads that large fills use (all CPUs by default, or
/// HEINIT_RS_NUM_THREADS). The values never depend on it.
///
/// Parameters
/// ----------
/// n : int
///     The thread count, >= 1.
///
/// Examples
/// --------
/// >>> import heinit_rs
/// >>> before = heinit_rs.get_num_threads()
/// >>> heinit_rs.set_num_threads(1)
/// >>> heinit_rs.get_num_threads()
/// 1
/// >>> heinit_rs.set_num_threads(before)
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    if n < 1 {
        return Err(PyValueError::new_err(format!(
            "n must be a positive integer, got {n}"
        )));
    }
    pool::set_threads(n as usize);
    Ok(())
}

/// The number of worker threads that large fills use.
///
/// Returns
/// -------
/// int
///     The count set by `set_num_threads`, else HEINIT_RS_NUM_THREADS, else the CPU count.
///
/// Examples
/// --------
/// >>> import heinit_rs
/// >>> heinit_rs.get_num_threads() >= 1
/// True
#[pyfunction]
fn get_num_threads() -> usize {
    pool::threads()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("STREAM_VERSION", crate::STREAM_VERSION)?;
    m.add(
        "ALL_SIMD_PATHS",
        PyTuple::new(m.py(), Path::ALL.map(Path::name))?,
    )?;
    m.add_class::<Normal>()?;
    m.add_class::<Uniform>()?;
    m.add_class::<TruncNormal>()?;
    m.add_function(wrap_pyfunction!(philox4x32_10, m)?)?;
    m.add_function(wrap_pyfunction!(derive_key, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_constants, m)?)?;
    m.add_function(wrap_pyfunction!(xla_ffi_handler, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(set_simd_path, m)?)?;
    m.add_function(wrap_pyfunction!(get_simd_path, m)?)?;
    m.add_function(wrap_pyfunction!(supported_simd_paths, m)?)?;
    m.add_function(wrap_pyfunction!(environment_problems, m)?)?;
    Ok(())
}
