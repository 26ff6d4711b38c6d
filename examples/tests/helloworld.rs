//! The `helloworld` binary, run as a real process on a free loopback port.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
};
use support::App;

const HELLOWORLD: &str = env!("CARGO_BIN_EXE_helloworld");

#[test]
fn helloworld_greets_its_target_on_the_port_it_is_given() {
    let app = App::start(HELLOWORLD, &[("TARGET", "knserve")]);

    let mut stream = TcpStream::connect(app.address).unwrap();
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
fn helloworld_exits_cleanly_on_sigterm() {
    let mut app = App::start(HELLOWORLD, &[]);
    app.sigterm();
    assert!(
        app.wait_exit(),
        "SIGTERM stops the server gracefully and exits 0"
    );
}

#[test]
fn a_bad_port_is_named_and_exits_non_zero() {
    let output = Command::new(HELLOWORLD)
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT must be a port number"));
}
