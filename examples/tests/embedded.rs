//! The embedding example as a real process: an in-process Service behind the whole
//! request path of an embedded knserve.

#[allow(dead_code)]
mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    time::Duration,
};

use self::support::App;

/// `cargo test` builds examples into `target/<profile>/examples/`.
fn embedded_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir")
        .join("examples")
        .join("embedded")
}

fn get(address: std::net::SocketAddr, host: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to the ingress");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /hi HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    response
}

#[test]
fn an_in_process_service_is_served_through_the_embedded_ingress() {
    let binary = embedded_binary();
    let app = App::start(
        binary.to_str().unwrap(),
        &[("KNSERVE_LISTEN", "127.0.0.1:0")],
    );
    let ready = app.next_line().expect("a ready line");
    assert_eq!(
        ready,
        "greeter is ready at http://greeter.default.example.com"
    );
    let curl = app.next_line().expect("a curl line");
    assert_eq!(
        curl,
        format!(
            "curl -H \"Host: greeter.default.example.com\" http://{}/",
            app.address
        )
    );
    let response = get(app.address, "greeter.default.example.com");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("Hello from in-process instance 1: /hi"),
        "the factory's service answered: {response}"
    );
    let response = get(app.address, "nobody.default.example.com");
    assert!(
        response.starts_with("HTTP/1.1 404"),
        "unknown hosts are 404: {response}"
    );
}
