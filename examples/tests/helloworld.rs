//! The `helloworld` example, run as a real process on a free loopback port.

mod support;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
};
use support::example;

/// Stops the example when the test ends, passing or failing.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn helloworld_greets_its_target_on_the_port_it_is_given() {
    let mut child = Command::new(example("helloworld"))
        .env("PORT", "0")
        .env("TARGET", "knserve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start helloworld");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _running = Running(child);
    let address = line
        .trim()
        .strip_prefix("helloworld listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with("Hello knserve!\n"),
        "TARGET is greeted: {response}"
    );
}

#[test]
fn a_bad_port_is_named_and_exits_non_zero() {
    let output = Command::new(example("helloworld"))
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT must be a port number"));
}
