//! The rayon pool heinit_rs fills with: sized by `set_num_threads`, else by the environment
//! variable HEINIT_RS_NUM_THREADS read at first use, else by the number of CPUs. A pool is tied
//! to the process that built it; a child made by `fork()` (whose copy has no worker threads)
//! builds a fresh one on first use instead of waiting on workers that do not exist. A
//! `pthread_atfork` handler holds this module's lock across `fork()`, so a child never inherits
//! it locked by a thread that does not exist in the child.

use crate::error::Error;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, Mutex, MutexGuard};

pub const ENV_VAR: &str = "HEINIT_RS_NUM_THREADS";

struct State {
    threads: Option<usize>,
    pool: Option<(u32, Arc<ThreadPool>)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    threads: None,
    pool: None,
});

fn state() -> MutexGuard<'static, State> {
    #[cfg(unix)]
    fork::install();
    // A panic while holding the lock leaves plain data behind; keep using it.
    STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The thread count from HEINIT_RS_NUM_THREADS, or an error naming the bad value.
pub fn threads_from_env() -> Result<Option<usize>, Error> {
    match std::env::var(ENV_VAR) {
        Err(_) => Ok(None),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(Error::InvalidArgument(format!(
                "{ENV_VAR}={text:?} is not valid: it must be a positive integer"
            ))),
        },
    }
}

/// What `threads` uses when HEINIT_RS_NUM_THREADS is bad, in words.
#[cfg(feature = "python")]
pub fn env_fallback() -> String {
    format!(
        "using the number of CPUs ({}) instead; set_num_threads(n) sets it",
        available()
    )
}

fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn configured(state: &mut State) -> usize {
    if let Some(n) = state.threads {
        return n;
    }
    // An invalid value is reported once, as a warning when the Python module is imported
    // (`environment_problems`), and otherwise ignored, as OpenMP treats a bad OMP_NUM_THREADS.
    let n = match threads_from_env() {
        Ok(Some(n)) => n,
        Ok(None) | Err(_) => available(),
    };
    state.threads = Some(n);
    n
}

/// The configured thread count.
pub fn threads() -> usize {
    configured(&mut state())
}

/// Set the thread count; the pool is rebuilt on next use.
pub fn set_threads(n: usize) {
    let mut state = state();
    state.threads = Some(n.max(1));
    if let Some((_, old)) = state.pool.take() {
        drop(old);
    }
}

/// The pool for this process, built on first use (and again after a fork).
pub fn get() -> Result<Arc<ThreadPool>, Error> {
    let mut state = state();
    let pid = std::process::id();
    if let Some((owner, pool)) = &state.pool {
        if *owner == pid {
            return Ok(Arc::clone(pool));
        }
        // Inherited through fork(): its workers do not exist here. Dropping it would signal
        // them, so leak the parent's handle instead.
        if let Some((_, inherited)) = state.pool.take() {
            core::mem::forget(inherited);
        }
    }
    let threads = configured(&mut state);
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("heinit-rs-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| {
            Error::ThreadPool(format!(
                "heinit_rs could not start {threads} worker threads: {e}"
            ))
        })?;
    state.pool = Some((pid, Arc::clone(&pool)));
    Ok(pool)
}

#[cfg(unix)]
mod fork {
    use super::{MutexGuard, State, STATE};
    use std::cell::RefCell;
    use std::sync::Once;

    thread_local! {
        // The guard taken before fork(), released after it in both processes. The handlers
        // run on the thread that calls fork(), and the child's only thread is its copy.
        static HELD: RefCell<Option<MutexGuard<'static, State>>> = const { RefCell::new(None) };
    }

    extern "C" fn before_fork() {
        let guard = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        HELD.with(|held| *held.borrow_mut() = Some(guard));
    }

    extern "C" fn after_fork() {
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    pub fn install() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: the handlers are plain `extern "C"` functions that never unwind; they
            // only lock and unlock STATE, which the forking thread does not hold at fork()
            // (no heinit_rs function calls fork while holding it).
            unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
        });
    }
}
