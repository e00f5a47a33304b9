//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;

/// The built `heaplens` binary.
#[allow(dead_code)]
pub fn heaplens_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_heaplens"))
}

/// A file under the repository's `tests/fixtures/`.
#[allow(dead_code)]
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(rel)
}
