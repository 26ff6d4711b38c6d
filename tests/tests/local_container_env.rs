//! `knserve serve` end to end, the container contract: the process an instance runs
//! gets its `command`, `args` and `env` with `$(VAR)` references expanded as the
//! kubelet expands them.

mod support;

use self::support::{FAST_CONFIG, Knserve, test_app_service};

/// `yaml` (from [`test_app_service`]) with `args` on its container.
fn with_args(yaml: &str, args: &[&str]) -> String {
    let list: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    let marker = "        env:\n";
    yaml.replacen(
        marker,
        &format!("        args: [{}]\n{marker}", list.join(", ")),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_args_and_env_reach_the_app_with_their_references_expanded() {
    let server = Knserve::start("expansion", FAST_CONFIG).await;
    let env = [
        ("GREETING", "hello"),
        ("MESSAGE", "$(GREETING), $(TEST_SERVICE)"),
        ("ESCAPED", "$$(GREETING)"),
        ("FORWARD", "$(LATER)"),
        ("LATER", "later"),
        ("OWN_REVISION", "$(K_REVISION)"),
    ];
    let yaml = test_app_service("expand", &[], &env, "");
    let yaml = with_args(
        &yaml,
        &[
            "--port=$(PORT)",
            "--revision=$(K_REVISION)/$(K_SERVICE)",
            "--message=$(MESSAGE)",
            "$$(PORT)",
            "$(UNDEFINED)",
            "$(K_SERVICE",
        ],
    );
    server.apply("expand.yaml", &yaml).await;
    let host = "expand.default.example.com";

    let (status, _, port) = server.get(host, "/env/PORT").await;
    assert_eq!(status, 200, "the app started and answers: {port}");
    let port: u16 = port.parse().expect("PORT is a number");
    let (_, _, args) = server.get(host, "/args").await;
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args,
        [
            format!("--port={port}").as_str(),
            "--revision=expand-00001/expand",
            "--message=hello, expand",
            "$(PORT)",
            "$(UNDEFINED)",
            "$(K_SERVICE",
        ],
        "args see the whole environment (PORT and K_* included); $$ escapes; an undefined \
         or unterminated reference is kept as written"
    );

    for (name, expected) in [
        ("MESSAGE", "hello, expand"),
        ("ESCAPED", "$(GREETING)"),
        ("FORWARD", "$(LATER)"),
        ("OWN_REVISION", "$(K_REVISION)"),
    ] {
        let (status, _, value) = server.get(host, &format!("/env/{name}")).await;
        assert_eq!(
            (status, value.as_str()),
            (200, expected),
            "{name}: an env value sees only the entries before it (Knative's variables \
             are appended after the container's)"
        );
    }
    server.stop().await;
}
