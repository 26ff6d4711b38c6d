//! `kpa_replay --plot`, run as a real process on the burst trace.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `kpa_replay` example that `cargo test` builds into `target/<profile>/examples/`.
fn replay_binary() -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    let profile_dir = test_exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir
        .join("examples")
        .join(format!("kpa_replay{}", std::env::consts::EXE_SUFFIX))
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
