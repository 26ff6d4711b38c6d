//! `knserve serve` end to end, `config-gc`: unreferenced revisions are deleted once
//! past the retention times, keeping `min-non-active-revisions`, and the deletion is
//! stored; a revision a traffic split references is never deleted.

mod support;

use std::time::Duration;

use tokio::time::Instant;

use self::support::{
    FAST_CONFIG, Knserve, answering_revision, test_app_service, with_template_name, with_traffic,
};

/// [`FAST_CONFIG`] with revisions collectable one second after they stop being routed,
/// keeping `min` non-active ones.
fn gc_config(min: u32) -> String {
    format!(
        "{FAST_CONFIG}config-gc:\n  retain-since-create-time: \"1s\"\n  retain-since-last-active-time: \"1s\"\n  min-non-active-revisions: \"{min}\"\n"
    )
}

/// The names of the server's revisions, sorted.
async fn revision_names(server: &Knserve) -> Vec<String> {
    let mut names: Vec<String> = server
        .revisions()
        .await
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Waits until the server's revisions are exactly `want`.
async fn wait_revisions(server: &Knserve, want: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let names = revision_names(server).await;
        if names == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "revisions are {names:?}, not {want:?}, after {within:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `host` is answered by `revision`.
async fn wait_served_by(server: &Knserve, host: &str, revision: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = server.get(host, "/").await;
        if status == 200 && answering_revision(&body) == revision {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{host} not served by {revision}: {status} {body}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_revisions_are_collected_down_to_the_routed_one_and_min_non_active() {
    let server = Knserve::start("gc-min", &gc_config(1)).await;
    let host = "gc.default.example.com";
    for version in 1..=4 {
        let yaml = test_app_service("gc", &[], &[("VERSION", &version.to_string())], "");
        server.apply(&format!("gc-{version}.yaml"), &yaml).await;
        wait_served_by(&server, host, &format!("gc-0000{version}")).await;
    }

    wait_revisions(&server, &["gc-00003", "gc-00004"], Duration::from_secs(20)).await;
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(
        (status, answering_revision(&body)),
        (200, "gc-00004"),
        "the routed revision still serves after collection"
    );
    let log = server.log();
    for collected in ["gc-00001", "gc-00002"] {
        assert!(
            log.contains(&format!("default/{collected}")) && log.contains("garbage-collected"),
            "{collected}'s collection is logged:\n{log}"
        );
    }

    // The deletion was stored: a restarted server has the same two revisions.
    let dir = server.stop().await;
    let server = Knserve::start_in(dir).await;
    assert_eq!(
        revision_names(&server).await,
        ["gc-00003", "gc-00004"],
        "collected revisions stay deleted across a restart"
    );
    wait_served_by(&server, host, "gc-00004").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_a_traffic_split_references_is_never_collected() {
    let server = Knserve::start("gc-split", &gc_config(0)).await;
    let host = "split.default.example.com";
    let version = |n: u32| {
        with_template_name(
            &test_app_service("split", &[], &[("VERSION", &n.to_string())], ""),
            &format!("split-v{n}"),
        )
    };
    server.apply("v1.yaml", &version(1)).await;
    wait_served_by(&server, host, "split-v1").await;
    server.apply("v2.yaml", &version(2)).await;
    wait_served_by(&server, host, "split-v2").await;
    let split = with_traffic(
        &version(3),
        &[("split-v1", 50, "old"), ("split-v3", 50, "")],
    );
    server.apply("v3.yaml", &split).await;
    wait_served_by(&server, "old-split.default.example.com", "split-v1").await;

    // v2 is unreferenced and goes; v1, referenced by the split, stays.
    wait_revisions(&server, &["split-v1", "split-v3"], Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        revision_names(&server).await,
        ["split-v1", "split-v3"],
        "with min-non-active-revisions 0 and 1 s retention, a referenced revision is kept"
    );
    wait_served_by(&server, "old-split.default.example.com", "split-v1").await;
    wait_served_by(&server, host, "split-v3").await;
}
