//! What the example tests share.

use std::path::PathBuf;

/// The example binary `name` that `cargo test` built beside this test.
pub fn example(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    let debug_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = debug_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is built by cargo test", bin.display());
    bin
}
