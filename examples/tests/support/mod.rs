//! What the tests of the example apps share: starting one as a real process.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// An example app started on a free loopback port; killed when dropped, so a failing
/// test leaves no process behind.
#[derive(Debug)]
pub struct App {
    child: Child,
    /// The address the app printed in its `NAME listening on ADDR` line.
    pub address: SocketAddr,
    lines: mpsc::Receiver<String>,
}

impl App {
    /// Starts the binary `bin` (a `CARGO_BIN_EXE_*` path) with `PORT=0` and `env`, and
    /// waits for its `listening on` line.
    pub fn start(bin: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin)
            .env("PORT", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("start {bin}: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut app = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        let first = app.next_line().expect("the app prints its address first");
        app.address = first
            .split_once(" listening on ")
            .and_then(|(_, address)| address.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        app
    }

    /// The next line the app writes to stdout, or `None` if none comes within 10s.
    pub fn next_line(&self) -> Option<String> {
        self.lines.recv_timeout(Duration::from_secs(10)).ok()
    }

    /// Sends the app SIGTERM, as Kubernetes and knserve do to stop it.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.is_ok_and(|status| status.success()),
            "kill -TERM {pid}"
        );
    }

    /// Waits up to 10s for the app to exit; true if it exited with status 0.
    pub fn wait_exit(&mut self) -> bool {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("wait for the app") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
