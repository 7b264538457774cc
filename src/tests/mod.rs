//! Tests that reach across modules: property tests of the fill and `PhiloxRng` as `rand` sees
//! it. They use crate internals, so they live in the crate, not in tests/.

mod properties;
mod rng;

use crate::dispatch::Path;

/// Random123's kat_vectors for philox4x32_10: (counter, key, output).
pub(crate) const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0; 4],
        [0; 2],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [u32::MAX; 4],
        [u32::MAX; 2],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

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
