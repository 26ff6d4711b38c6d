//! Shared pieces of the benchmark helpers: argument parsing and a one-thread runtime.

use std::{collections::HashMap, net::SocketAddr};

/// Command-line flags as `--name value` pairs (no positional arguments).
#[derive(Debug, Default)]
pub struct Args(HashMap<String, String>);

impl Args {
    /// Parses `std::env::args()`; exits with a message on a flag without a value.
    pub fn from_env() -> Self {
        let mut map = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let Some(name) = flag.strip_prefix("--") else {
                fail(&format!("unexpected argument {flag:?}"));
            };
            let Some(value) = args.next() else {
                fail(&format!("--{name} needs a value"));
            };
            map.insert(name.to_owned(), value);
        }
        Self(map)
    }

    /// The value of `--name` parsed as `T`, or `default` when absent.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> T {
        match self.0.get(name) {
            Some(text) => text
                .parse()
                .unwrap_or_else(|_| fail(&format!("--{name}: cannot parse {text:?}"))),
            None => default.unwrap_or_else(|| fail(&format!("--{name} is required"))),
        }
    }

    /// The socket address in `--name`.
    pub fn addr(&self, name: &str, default: Option<&str>) -> SocketAddr {
        self.get(name, default.map(|d| d.parse().expect("default address")))
    }
}

/// Prints `message` to stderr and exits with status 2.
pub fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

/// A single-threaded tokio runtime: every helper runs on one thread (one worker).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")))
}
