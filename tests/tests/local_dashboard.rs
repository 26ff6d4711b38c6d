//! `knserve serve`'s dashboard in a real browser: headless Chromium (Debian's
//! `chromium`) loads the URL `knserve dashboard` prints, against a running server whose
//! revision scaled from zero and is under load, and the test reads what the page shows
//! from the DOM Chromium dumps: the Service and its revision, charts with points, and
//! the cold start with its phases. It also keeps a screenshot
//! (`target/debug/dashboard.png`, the one the README shows).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use self::support::{Knserve, TempDir, bin_dir, output_text, send, test_app_service};

const HOST: &str = "watched.default.example.com";

/// Short windows, and a revision that starts at zero so its first request is cold.
const CONFIG: &str = "\
config-autoscaler:
  stable-window: 6s
  panic-window-percentage: \"50\"
  scale-to-zero-grace-period: 6s
  allow-zero-initial-scale: \"true\"
";

/// How long Chromium runs the page's clock (it polls every second): each poll is a real
/// request to the server, so the page charts several real snapshots.
const VIRTUAL_TIME_MS: &str = "8000";

/// Runs headless Chromium on `url` with `args` (`--dump-dom`, `--screenshot=…`), in a
/// profile of its own; its stdout. Root needs `--no-sandbox`.
async fn chromium(profile: &Path, url: &str, args: &[&str]) -> String {
    let run = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium answered within 90 s")
        .expect("run `chromium` (Debian's package; .ci/run installs it)");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `data-points` of the first `<polyline class="{class}"` in `dom`.
fn points_of(dom: &str, class: &str) -> Option<usize> {
    let at = dom.find(&format!("<polyline class=\"{class}\""))?;
    let rest = &dom[at..];
    let value = rest.split("data-points=\"").nth(1)?;
    value.split('"').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_revision_its_charts_and_its_cold_start() {
    let server = Knserve::start("dashboard", CONFIG).await;
    let yaml = test_app_service(
        "watched",
        &[("autoscaling.knative.dev/initial-scale", "0")],
        &[],
        "",
    );
    server.apply("watched.yaml", &yaml).await;
    let (status, headers, body) = server.get(HOST, "/").await;
    assert_eq!(status, 200, "{body}");
    let timing: Vec<_> = headers.get_all("server-timing").iter().collect();
    assert!(
        timing
            .first()
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("cold-start;dur=")),
        "the first request to a revision at zero is a cold start: {timing:?}\n{}",
        server.log()
    );

    // Load while the page polls: a few clients in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (stop, answered, ingress) = (stop.clone(), answered.clone(), server.ingress);
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, _, _) = send(ingress, HOST, "/").await;
                if status == 200 {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    let output = server.cli(&["dashboard"]).await;
    assert!(output.status.success(), "{}", output_text(&output));
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        url.starts_with(&format!("http://{}/dashboard#token=", server.admin)),
        "`knserve dashboard` prints the admin listener's dashboard URL with the token: {url}"
    );

    let profile = TempDir::new("chromium-profile");
    let dom = chromium(profile.path(), &url, &["--dump-dom"]).await;
    let screenshot = bin_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(
        profile.path(),
        &url,
        &[
            "--window-size=1280,1000",
            &format!("--screenshot={}", screenshot.display()),
        ],
    )
    .await;
    // Without the token the page shows it is refused and asks for one.
    let refused = chromium(
        profile.path(),
        &format!("http://{}/dashboard", server.admin),
        &["--dump-dom"],
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(answered.load(Ordering::Relaxed) > 0, "the load was served");

    assert!(
        dom.contains(r#"id="status" data-state="ok""#),
        "the page polled the server with the token:\n{dom}"
    );
    assert!(
        dom.contains(r#"data-service="default/watched""#),
        "the Service is listed:\n{dom}"
    );
    assert!(
        dom.contains(r#"data-revision="default/watched-00001""#),
        "the revision has its panel:\n{dom}"
    );
    let ready_points = points_of(&dom, "ready").unwrap_or(0);
    assert!(
        ready_points >= 3,
        "the instances chart has a point per poll ({ready_points}):\n{dom}"
    );
    assert!(
        points_of(&dom, "c2xx").unwrap_or(0) >= 3,
        "the answers chart has points:\n{dom}"
    );
    assert!(
        dom.contains(r#"data-cold-start="default/watched-00001""#)
            && dom.contains("spawn ")
            && dom.contains("app "),
        "the cold start is listed with its phases:\n{dom}"
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a PNG screenshot of the page ({} bytes)",
        png.len()
    );
    eprintln!("dashboard screenshot: {}", screenshot.display());

    assert!(
        refused.contains(r#"data-state="error""#) && refused.contains("unauthorized"),
        "without the token the page gets no data:\n{refused}"
    );
    assert!(
        !refused.contains(r#"data-revision="#),
        "without the token no revision is shown:\n{refused}"
    );
    server.stop().await;
}
