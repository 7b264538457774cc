//! Tests that reach across modules: property tests of the fill and `PhiloxRng` as `rand` sees
//! it. They use crate internals, so they live in the crate, not in tests/.

mod properties;
mod rng;

use crate::dispatch::Path;

/// The paths this CPU lacks, each reported on stderr as skipped by `test` (shown by
/// `cargo test -- --nocapture`), so a machine without AVX-512 says that path went untested.
pub(crate) fn report_skipped_paths(test: &str) {
    for path in Path::ALL.into_iter().filter(|p| !p.supported()) {
        eprintln!(
            "SKIPPED {test} on the {} path: this CPU does not support it",
            path.name()
        );
    }
}
