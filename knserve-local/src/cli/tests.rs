use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: ClientCommand,
}

pub(super) fn parse(args: &[&str]) -> Result<ClientCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("knserve").chain(args.iter().copied())).map(|c| c.command)
}

#[test]
fn apply_defaults_to_waiting_ten_minutes() {
    let Ok(ClientCommand::Apply {
        file,
        wait_timeout,
        no_wait,
    }) = parse(&["apply", "-f", "svc.yaml"])
    else {
        panic!("apply -f parses");
    };
    assert_eq!(file, PathBuf::from("svc.yaml"));
    assert_eq!(wait_timeout, Duration::from_secs(600));
    assert!(!no_wait);
    let Ok(ClientCommand::Apply { wait_timeout, .. }) = parse(&[
        "apply",
        "--filename",
        "x",
        "--wait-timeout",
        "90s",
        "--no-wait",
    ]) else {
        panic!("long flags parse");
    };
    assert_eq!(wait_timeout, Duration::from_secs(90));
    assert!(
        parse(&["apply", "-f", "x", "--wait-timeout", "soon"]).is_err(),
        "a bad timeout is rejected by the parser"
    );
}

#[test]
fn get_takes_output_namespace_and_all_namespaces() {
    let Ok(ClientCommand::Get {
        resource,
        output,
        namespace,
        all_namespaces,
    }) = parse(&["get", "ksvc", "-o", "yaml", "-n", "prod", "-A"])
    else {
        panic!("get parses");
    };
    assert_eq!(
        (
            resource.as_str(),
            output.as_deref(),
            namespace.as_str(),
            all_namespaces
        ),
        ("ksvc", Some("yaml"), "prod", true)
    );
}

#[test]
fn logs_tail_defaults_to_200_and_namespace_to_default() {
    let Ok(ClientCommand::Logs {
        revision,
        namespace,
        tail,
    }) = parse(&["logs", "hello-00001"])
    else {
        panic!("logs parses");
    };
    assert_eq!(
        (revision.as_str(), namespace.as_str(), tail),
        ("hello-00001", "default", 200)
    );
}

#[tokio::test]
async fn commands_without_a_server_name_the_state_directory() {
    let dir = std::env::temp_dir().join(format!("knserve-cli-none-{}", std::process::id()));
    let state = StateDir::new(&dir);
    let command = parse(&["get", "ksvc"]).expect("parses");
    let err = run(command, &state)
        .await
        .expect_err("no server.json there");
    assert!(
        format!("{err:#}").contains(&dir.display().to_string()),
        "the error says where it looked: {err:#}"
    );
}

#[tokio::test]
async fn an_unknown_resource_type_is_an_error_before_any_request() {
    let state = StateDir::new("/nonexistent/knserve");
    let command = parse(&["get", "pods"]).expect("parses");
    let err = run(command, &state).await.expect_err("pods are unknown");
    assert!(
        format!("{err}").contains("revisions"),
        "lists the allowed: {err}"
    );
}

#[tokio::test]
async fn validate_without_a_server_validates_locally() {
    let dir = std::env::temp_dir().join(format!("knserve-cli-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: Bad_Name\n",
    )
    .expect("write");
    let command = parse(&["validate", "-f", file.to_str().expect("utf-8 path")]).expect("parses");
    let code = run(command, &StateDir::new(dir.join("state"))).await;
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        code.expect("validation ran"),
        ExitCode::FAILURE,
        "an invalid name fails validation"
    );
}

#[tokio::test]
async fn apply_names_a_missing_file() {
    let command = parse(&["apply", "-f", "/nonexistent/svc.yaml"]).expect("parses");
    let err = run(command, &StateDir::new("/nonexistent/state"))
        .await
        .expect_err("no such file");
    assert!(
        format!("{err:#}").contains("/nonexistent/svc.yaml"),
        "{err:#}"
    );
}
