//! `knserve serve` end to end, when things go wrong around it: a full disk under the
//! state directory, corrupt saved state, the server killed with SIGKILL and started
//! again over a stale `server.json`, names that would be paths, and a state directory
//! others can write to. Each test prints the figures it observed.

mod support;

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};

use self::support::{
    FAST_CONFIG, Knserve, TempDir, binary, eventually, output_text, test_app_service,
};

/// A tmpfs mounted for one test, unmounted when dropped (after the servers on it).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root: {status}");
        Self(path.to_path_buf())
    }
}

impl Tmpfs {
    /// Remounts it `ro` or `rw`.
    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {mode}: {status}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        // The test directory's removal could not remove the mount point.
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// A new test directory with `config.yaml`.
fn test_dir(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    std::fs::write(dir.path().join("config.yaml"), FAST_CONFIG).unwrap();
    dir
}

/// `knserve serve` on `dir`, expected to refuse to start: its exit status and stderr.
async fn serve_refused(dir: &Path) -> (bool, String) {
    let mut command = tokio::process::Command::new(binary("knserve"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join("state"))
        .arg("--config")
        .arg(dir.join("config.yaml"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("a server that refuses its state directory exits at once")
        .expect("knserve serve ran");
    (output.status.success(), output_text(&output))
}

/// Runs `knserve serve` on `dir` and checks that it refuses to start with an error
/// holding every one of `needles`; prints what it said under `label`.
async fn expect_refusal(dir: &Path, label: &str, needles: &[&str], rule: &str) {
    let (started, stderr) = serve_refused(dir).await;
    println!("{label}: serve said {stderr:?}");
    assert!(
        !started && needles.iter().all(|n| stderr.contains(n)),
        "{rule}: {stderr}"
    );
}

/// `knserve get ksvc -o json`: the Services' names.
async fn service_names(server: &Knserve) -> Vec<String> {
    let output = server.cli(&["get", "ksvc", "-o", "json"]).await;
    assert!(output.status.success(), "{}", output_text(&output));
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_or_read_only_disk_only_acknowledged_changes_persist_and_failures_name_the_file()
{
    let dir = test_dir("full-disk");
    let mount = Tmpfs::mount(&dir.path().join("state"), "64k");
    let server = Knserve::start_over(dir).await;
    let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let name = format!("fill-{i:02}");
        let file = server.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, test_app_service(&name, &[], &[], "")).unwrap();
        let output = server
            .cli(&["apply", "-f", file.to_str().unwrap(), "--no-wait"])
            .await;
        let text = output_text(&output);
        if output.status.success() {
            acknowledged.push(name);
            continue;
        }
        assert!(
            text.contains("No space left on device")
                && text.contains(&format!("services/default/{name}.json")),
            "a failed apply names the file and the OS error: {text}\n{}",
            server.log()
        );
        if refused.is_empty() {
            println!("full disk: the first refused apply printed {text:?}");
        }
        refused.push(name);
    }
    println!(
        "full disk: {} of 20 applies acknowledged, {} refused",
        acknowledged.len(),
        refused.len(),
    );
    assert!(
        !acknowledged.is_empty() && !refused.is_empty(),
        "a 64 KiB state directory takes some Services and refuses the rest: {} acknowledged",
        acknowledged.len()
    );
    assert_eq!(
        service_names(&server).await,
        acknowledged,
        "a refused apply changes nothing in the running server"
    );
    let yaml = test_app_service("fill-admin", &[], &[], "");
    let (status, _, body) = server
        .admin_request("POST", "/v1/apply", yaml.clone())
        .await;
    assert!(
        status == 500 && body.contains("fill-admin.json") && body.contains("No space left"),
        "the admin API answers a write failure with 500 naming the file: {status} {body}"
    );

    let server = Knserve::start_in(server.stop().await).await;
    let restored = service_names(&server).await;
    println!(
        "full disk: {} Services after a restart (acknowledged {})",
        restored.len(),
        acknowledged.len()
    );
    assert_eq!(
        restored, acknowledged,
        "every acknowledged apply, and only those, survives a restart"
    );

    mount.remount("ro");
    let output = server.cli(&["delete", "ksvc", &acknowledged[0]]).await;
    let text = output_text(&output);
    println!("read-only state directory: delete printed {text:?}");
    assert!(
        !output.status.success()
            && text.contains(&format!("{}.json", acknowledged[0]))
            && text.contains("Read-only file system"),
        "a delete that cannot remove the file fails naming it and the OS error: {text}"
    );
    assert_eq!(
        service_names(&server).await,
        acknowledged,
        "a failed delete keeps the Service"
    );
    mount.remount("rw");
    drop(server);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_saved_service_stops_the_start_naming_the_file() {
    let server = Knserve::start("truncated", FAST_CONFIG).await;
    server
        .apply("saved.yaml", &test_app_service("saved", &[], &[], ""))
        .await;
    let dir = server.stop().await;
    let file = dir.path().join("state/services/default/saved.json");
    let text = std::fs::read(&file).expect("an applied Service is saved");
    std::fs::write(&file, &text[..text.len() / 2]).unwrap();

    expect_refusal(
        dir.path(),
        "truncated file",
        &[&file.display().to_string(), "not valid JSON"],
        "a corrupt saved Service is never skipped silently: the start fails naming the file and the problem",
    )
    .await;

    std::fs::write(&file, &text).unwrap();
    let copy = file.with_file_name("other.json");
    std::fs::write(&copy, &text).unwrap();
    expect_refusal(
        dir.path(),
        "misplaced file",
        &[
            &copy.display().to_string(),
            "holds Service default/saved, not default/other",
        ],
        "a file whose Service is not the one its path names is refused by name",
    )
    .await;
}

/// What `/proc/<pid>/stat` says: state, parent, group, start time.
fn stat(pid: i32) -> Option<(char, i32, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields[0].chars().next()?,
        fields[1].parse().ok()?,
        fields[2].parse().ok()?,
        fields[19].parse().ok()?,
    ))
}

/// Whether the process `pid` that started at `start` still runs (a zombie does not).
fn running(pid: i32, start: u64) -> bool {
    stat(pid).is_some_and(|(state, _, _, s)| state != 'Z' && s == start)
}

/// Every live process: pid and stat.
fn processes() -> Vec<(i32, (char, i32, i32, u64))> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .filter(|(_, s)| s.0 != 'Z')
        .collect()
}

/// The `PORT` a process was given.
fn port_of(pid: i32) -> Option<u16> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"PORT="))
        .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok())
}

/// A Service whose app leaves a `sleep` in its process group, as an app's own helper
/// processes would: the parent-death signal reaches only the app itself.
fn service_with_helper(name: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/min-scale: \"2\"\n    spec:\n      containers:\n      - image: example.com/test-app:1\n        command: [\"/bin/sh\", \"-c\", \"sleep 600 & exec {}\"]\n",
        binary("knserve-test-app").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_apps_die_with_the_server_and_a_restart_reaps_leftovers_and_starts_one_set() {
    let server = Knserve::start("kill9", FAST_CONFIG).await;
    server
        .apply("kept.yaml", &service_with_helper("kept"))
        .await;
    server
        .wait_instances("kept-00001", Duration::from_secs(30), |n| n == 2)
        .await;
    let server_pid = i32::try_from(server.pid()).unwrap();
    let apps: Vec<(i32, u64)> = processes()
        .into_iter()
        .filter(|(_, s)| s.1 == server_pid)
        .map(|(pid, s)| (pid, s.3))
        .collect();
    let helpers: Vec<(i32, u64)> = processes()
        .into_iter()
        .filter(|(pid, s)| s.2 != *pid && apps.iter().any(|(app, _)| *app == s.2))
        .map(|(pid, s)| (pid, s.3))
        .collect();
    let ports: Vec<u16> = apps.iter().filter_map(|(pid, _)| port_of(*pid)).collect();
    assert_eq!(apps.len(), 2, "two app processes run: {apps:?}");
    assert_eq!(ports.len(), 2, "each app has its PORT: {ports:?}");

    nix::sys::signal::kill(Pid::from_raw(server_pid), Signal::SIGKILL).unwrap();
    let apps_died = eventually(Duration::from_secs(2), || {
        apps.iter().all(|&(pid, start)| !running(pid, start))
    })
    .await;
    let ports_free = ports
        .iter()
        .all(|port| TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], *port))).is_ok());
    let helpers_left = helpers.iter().filter(|&&(p, s)| running(p, s)).count();
    println!(
        "kill -9: apps {apps:?} died within 2 s: {apps_died}; ports {ports:?} free: {ports_free}; helpers left in their groups: {helpers_left} of {}",
        helpers.len()
    );
    assert!(apps_died, "every app dies with its server");
    assert!(
        ports_free,
        "the apps' ports are free once the server is gone"
    );
    assert!(
        helpers_left == 2,
        "an app's helper outlives it (what the restart must reap): {helpers:?}"
    );

    let dir = server.stop().await;
    restart_over_stale_state(dir, &helpers).await;
}

/// Plants a stale `server.json` and a process record, both naming a live unrelated
/// process, starts a server, and checks what it stopped and what it started.
async fn restart_over_stale_state(dir: TempDir, helpers: &[(i32, u64)]) {
    let mut unrelated = Command::new("sleep").arg("600").spawn().unwrap();
    let other = unrelated.id();
    let state = dir.path().join("state");
    std::fs::write(
        state.join("server.json"),
        format!(r#"{{"pid":{other},"admin":"127.0.0.1:9","ingress":"127.0.0.1:9"}}"#),
    )
    .unwrap();
    std::fs::write(
        state.join(format!("processes/{other}.json")),
        format!(r#"{{"pid":{other},"start_time":1,"session":1,"name":"reused pid"}}"#),
    )
    .unwrap();

    let server = Knserve::start_over(dir).await;
    let helpers_left = helpers.iter().filter(|&&(p, s)| running(p, s)).count();
    let other_alive = unrelated.try_wait().unwrap().is_none();
    server
        .wait_instances("kept-00001", Duration::from_secs(30), |n| n == 2)
        .await;
    let server_pid = i32::try_from(server.pid()).unwrap();
    let apps = processes()
        .iter()
        .filter(|(_, s)| s.1 == server_pid)
        .count();
    let test_apps = processes()
        .iter()
        .filter(|(pid, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("knserve-test"))
                && port_of(*pid).is_some()
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|e| e.windows(21).any(|w| w == b"K_REVISION=kept-00001"))
        })
        .count();
    println!(
        "restart: started over a stale server.json naming live pid {other}: yes; unrelated process alive: {other_alive}; leftover helpers: {helpers_left}; apps of the new server: {apps}; kept-00001 apps on the machine: {test_apps}"
    );
    let _ = unrelated.kill();
    let _ = unrelated.wait();
    assert!(
        other_alive,
        "a recorded pid whose start time differs is another program's and is never killed"
    );
    assert_eq!(
        helpers_left, 0,
        "a restart stops what the crashed server's apps left in their groups"
    );
    assert_eq!(apps, 2, "the new server runs its two instances");
    assert_eq!(
        test_apps, 2,
        "no second set: only the new server's apps run"
    );

    expect_refusal(
        server.dir.path(),
        "second server",
        &[&format!("another knserve server (pid {server_pid})")],
        "while a server runs, a second one on its directory is refused",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_would_be_paths_are_refused_naming_the_field() {
    let server = Knserve::start("names", FAST_CONFIG).await;
    for namespace in ["../../x", "a/b"] {
        let yaml = test_app_service("hello", &[], &[], "")
            .replace("namespace: default", &format!("namespace: {namespace}"));
        let file = server.dir.path().join("traversal.yaml");
        std::fs::write(&file, &yaml).unwrap();
        let output = server.cli(&["apply", "-f", file.to_str().unwrap()]).await;
        let text = output_text(&output);
        assert!(
            !output.status.success() && text.contains("metadata.namespace"),
            "apply refuses namespace {namespace:?} naming the field: {text}"
        );
        let (status, _, body) = server
            .admin_request("POST", "/v1/apply", yaml.clone())
            .await;
        println!("namespace {namespace:?}: CLI {text:?}; admin API {status} {body}");
        assert!(
            status == 400 && body.contains("metadata.namespace"),
            "the admin API answers 400 naming metadata.namespace: {status} {body}"
        );
    }
    assert!(
        !server.dir.path().join("x").exists() && !server.state.join("services/a").exists(),
        "nothing was written outside services/<namespace>/"
    );
    for (method, path, field) in [
        ("DELETE", "/v1/services/a%2Fb/hello", "namespace"),
        ("GET", "/v1/services/..%2F..%2Fx/hello", "namespace"),
        ("DELETE", "/v1/services/default/..", "name"),
    ] {
        let (status, _, body) = server.admin_request(method, path, "").await;
        println!("{method} {path}: {status} {body}");
        assert!(
            status == 400 && body.contains(&format!("{field}: must be a DNS-1123")),
            "{method} {path} is a 400 naming {field}: {status} {body}"
        );
    }
    let output = server.cli(&["delete", "ksvc", "hello", "-n", "a/b"]).await;
    let text = output_text(&output);
    assert!(
        !output.status.success() && text.contains("namespace: must be a DNS-1123 label"),
        "delete -n a/b is refused naming the namespace rule: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_directory_others_can_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = test_dir("perms");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    expect_refusal(
        dir.path(),
        "mode 0777",
        &[
            &state.display().to_string(),
            "writable by its group or others (mode 0777)",
        ],
        "a world-writable state directory is refused by name",
    )
    .await;

    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    nix::unistd::chown(&state, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    expect_refusal(
        dir.path(),
        "owned by uid 65534",
        &[&state.display().to_string(), "is owned by uid 65534"],
        "a state directory owned by another user is refused",
    )
    .await;
    assert!(
        !state.join("admin-token").exists(),
        "nothing is written into a refused directory"
    );
}
