//! A real `prometheus` (Debian's `prometheus` package; `.ci/run` installs it) scraping a
//! listener every second, stopped by PID when dropped. `promtool check metrics` is
//! `knserve_tests::promtool_check`.

use std::{
    net::SocketAddr,
    process::{Child, Command},
};

use super::{TempDir, free_address, http_get, stop_child};

/// A `prometheus` on 127.0.0.1 with its storage in a scratch directory.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// Where its HTTP API listens.
    pub address: SocketAddr,
    dir: TempDir,
}

impl Prometheus {
    /// Starts one scraping `target`'s `/metrics` every second with `token` as bearer.
    pub fn scraping(target: SocketAddr, token: &str) -> Self {
        let dir = TempDir::new("prometheus");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n- job_name: knserve\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             \x20 authorization:\n    credentials: {token}\n\
             \x20 static_configs:\n  - targets: ['{target}']\n"
        );
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let address = free_address();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus runs (apt-get install prometheus)");
        Self {
            child,
            address,
            dir,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Runs the instant query `promql`: status and body, `None` while nothing answers
    /// (the server is still starting).
    pub async fn query(&self, promql: &str) -> Option<(u16, String)> {
        http_get(self.address, &Self::query_path(promql)).await
    }

    fn query_path(promql: &str) -> String {
        let mut encoded = String::new();
        for byte in promql.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                encoded.push(char::from(byte));
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        format!("/api/v1/query?query={encoded}")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}
