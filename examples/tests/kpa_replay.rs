//! The `kpa_replay` example, run as a real process on trace files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `kpa_replay` example that `cargo test` builds into `target/<profile>/examples/`
/// (`CARGO_BIN_EXE_*` names binaries only, not examples).
fn replay_binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = profile_dir
        .join("examples")
        .join(format!("kpa_replay{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is built by cargo test", bin.display());
    bin
}

fn write_trace(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("knserve-kpa-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write trace");
    path
}

fn run(trace: &PathBuf, extra: &[&str]) -> Output {
    Command::new(replay_binary())
        .arg(trace)
        .args(extra)
        .output()
        .expect("run kpa_replay")
}

/// Runs the replay and asserts that it succeeded.
fn run_ok(trace: &PathBuf, extra: &[&str]) -> Output {
    let out = run(trace, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn rows(output: &Output) -> Vec<Vec<i64>> {
    let text = String::from_utf8(output.stdout.clone()).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t_ms,desired,panic,ebc"), "header");
    lines
        .map(|l| {
            l.split(',')
                .map(|f| f.parse().expect("integer field"))
                .collect()
        })
        .collect()
}

fn constant_trace(seconds: u64, ready: u32, value: &str, column: &str) -> String {
    let mut s = format!("t_ms,ready_pods,{column}\n");
    for t in 0..=seconds {
        s.push_str(&format!("{},{ready},{value}\n", t * 1000));
    }
    s
}

#[test]
fn steady_concurrency_settles_on_ceil_of_load_over_target() {
    let trace = write_trace("steady.csv", &constant_trace(20, 3, "250", "concurrency"));
    let out = run_ok(&trace, &[]);
    let rows = rows(&out);
    assert_eq!(rows.len(), 10, "ticks at 2s..20s");
    assert_eq!(
        rows[0][0], 2000,
        "the first tick is the first 2s mark after the first sample"
    );
    // A decider that starts with 3 ready starts in panic at 3; 250/70 → 4 instances.
    assert!(rows.iter().all(|r| r[1] == 4), "{rows:?}");
    assert!(
        rows.iter().all(|r| r[3] == 3 * 100 - 211 - 250),
        "ebc = floor(3×100 − 211 − 250): {rows:?}"
    );
}

#[test]
fn annotations_and_config_change_the_decisions() {
    let trace = write_trace("target.csv", &constant_trace(10, 1, "50", "concurrency"));
    let out = run_ok(
        &trace,
        &[
            "--annotation",
            "autoscaling.knative.dev/target=10",
            "--annotation",
            "target-burst-capacity=0",
            "--config",
            "container-concurrency-target-percentage=50",
        ],
    );
    let last = rows(&out).pop().expect("a row");
    assert_eq!(last[1], 10, "50 / (10 × 0.5)");
    assert_eq!(last[3], 0, "TBC 0 gives EBC 0");
}

#[test]
fn rps_traces_scale_on_requests_per_second() {
    let trace = write_trace("rps.csv", &constant_trace(10, 1, "700", "rps"));
    let out = run_ok(&trace, &[]);
    assert_eq!(rows(&out).pop().expect("a row")[1], 5, "700 / (200 × 0.7)");
}

#[test]
fn a_burst_enters_panic_and_holds_the_count() {
    let trace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/burst.csv");
    let out = run_ok(&trace, &[]);
    let rows = rows(&out);
    let first_panic = rows
        .iter()
        .position(|r| r[2] == 1)
        .expect("the spike causes panic");
    let peak = rows[first_panic..]
        .iter()
        .take_while(|r| r[2] == 1)
        .map(|r| r[1])
        .collect::<Vec<_>>();
    assert!(
        peak.windows(2).all(|w| w[1] >= w[0]),
        "panic never lowers the count: {peak:?}"
    );
    assert_eq!(
        rows.last().expect("rows")[1],
        0,
        "the tail of zero traffic scales to zero"
    );
}

#[test]
fn bad_input_fails_naming_the_line_or_key() {
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "t_ms,ready_pods\n0,1\n",
            &[],
            "line 1: header must be t_ms,ready_pods,concurrency",
        ),
        (
            "t_ms,ready_pods,concurrency\n0,1,5\n1000,-1,5\n",
            &[],
            "line 3: ready_pods: must be a whole number",
        ),
        (
            "t_ms,ready_pods,concurrency\n0,1,-5\n",
            &[],
            "line 2: concurrency: must be a number ≥ 0",
        ),
        (
            "t_ms,ready_pods,concurrency\n1000,1,5\n1000,1,5\n",
            &[],
            "line 3: t_ms must increase",
        ),
        (
            "t_ms,ready_pods,concurrency\n0,1,5\n",
            &["--config", "stable-windows=60s"],
            "--config stable-windows: unknown config-autoscaler key",
        ),
        (
            "t_ms,ready_pods,concurrency\n0,1,5\n",
            &["--annotation", "autoscaling.knative.dev/targett=5"],
            "unknown autoscaling annotation",
        ),
        (
            "t_ms,ready_pods,concurrency\n0,1,5\n",
            &["--annotation", "autoscaling.knative.dev/target=-1"],
            "annotations.autoscaling.knative.dev/target: must be at least 0.01",
        ),
    ];
    for (i, (trace, args, message)) in cases.into_iter().enumerate() {
        let path = write_trace(&format!("bad{i}.csv"), trace);
        let out = run(&path, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} must fail");
        assert!(
            stderr.contains(message),
            "case {i}: {stderr:?} should contain {message:?}"
        );
    }
    let out = run(&PathBuf::from("/nonexistent/trace.csv"), &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trace.csv: cannot open"), "{stderr}");
}

#[test]
fn config_errors_name_the_config_key() {
    let trace = write_trace("cfg.csv", "t_ms,ready_pods,concurrency\n0,1,5\n");
    let out = run(&trace, &["--config", "stable-window=1s"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config-autoscaler: stable-window: must be between 6s and 1h"),
        "{stderr}"
    );
}

fn plot(file: &str) -> (std::process::Output, PathBuf) {
    let dir = std::env::temp_dir().join(format!("knserve-kpa-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join(file);
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/burst.csv");
    let output = Command::new(replay_binary())
        .arg(trace)
        .arg("--plot")
        .arg(&out)
        .output()
        .expect("run kpa_replay");
    (output, out)
}

/// The element names of `text` in document order, checking that it is well-formed XML:
/// every tag closes in order, attributes are quoted, one root element.
fn well_formed_elements(text: &str) -> Result<Vec<String>, String> {
    let mut open: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = text;
    let mut roots = 0;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .ok_or_else(|| format!("unclosed tag at {:?}", &rest[start..start.min(rest.len())]))?
            + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        if tag.matches('"').count() % 2 != 0 {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        if open.is_empty() {
            roots += 1;
        }
        seen.push(name.clone());
        if !tag.ends_with('/') {
            open.push(name);
        }
    }
    if !open.is_empty() {
        return Err(format!("unclosed elements {open:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(seen)
}

#[test]
fn the_burst_trace_plots_as_svg_with_every_series_panic_shading_and_scale_to_zero() {
    let (output, path) = plot("burst.svg");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("t_ms,desired,panic,ebc\n"),
        "the CSV still goes to stdout"
    );
    let svg = std::fs::read_to_string(&path).expect("the plot is written");
    let elements = well_formed_elements(&svg).unwrap_or_else(|e| panic!("invalid SVG: {e}"));
    assert_eq!(
        elements.first().map(String::as_str),
        Some("svg"),
        "the root is <svg>"
    );
    let lines = elements.iter().filter(|e| *e == "polyline").count();
    assert!(
        lines >= 4,
        "observed, target × ready, desired and ready are drawn: {lines} polylines"
    );
    for label in [
        "observed",
        "target × ready",
        "desired",
        "ready",
        "panic",
        "scale to zero",
    ] {
        assert!(
            svg.contains(&format!("\n{label}\n")),
            "the plot names {label:?}"
        );
    }
    let shaded = svg.matches("opacity=\"0.2\" fill=\"#FF8C00\"").count();
    assert!(
        shaded >= 4,
        "the burst's panic period is shaded in both panels and keyed in both legends: {shaded}"
    );
}

#[test]
fn an_html_plot_embeds_the_svg_and_another_extension_is_refused() {
    let (output, path) = plot("burst.html");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&path).expect("the page is written");
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..40.min(html.len())]
    );
    let elements = well_formed_elements(&html).unwrap_or_else(|e| panic!("invalid page: {e}"));
    assert!(elements.iter().any(|e| e == "svg"), "the SVG is inline");

    let (output, path) = plot("burst.png");
    assert!(!output.status.success(), "a .png plot is refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--plot") && stderr.contains(".svg or .html"),
        "{stderr}"
    );
    assert!(!path.exists(), "nothing is written for a refused plot");
}
