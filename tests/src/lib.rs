//! Tests of knserve's shipped behaviour across crates; the tests live in `tests/`.
//!
//! The library holds what tests of several crates share: [`promtool_check`], Prometheus's
//! own verdict on an exposition.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` (Debian's `prometheus` package; `.ci/run` installs it)
/// on `text` and panics with promtool's verdict unless it accepts the exposition.
///
/// # Panics
///
/// When promtool rejects `text` or cannot be run.
pub fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus)");
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(text.as_bytes()).expect("promtool reads");
    drop(stdin);
    let output = child.wait_with_output().expect("promtool finishes");
    assert!(
        output.status.success(),
        "promtool check metrics rejects the exposition ({}):\n{}{}\n---\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
