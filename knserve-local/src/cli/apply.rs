//! `knserve apply`: send Services to the server, then wait until each is ready.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use http::{Method, StatusCode};
use knserve_core::api::{InputTooLarge, MAX_INPUT_BYTES, Service};
use tokio::time::Instant;

use super::client::{AdminClient, ClientError, object_path};
use super::conditions::status_text;
use super::progress::{
    ProgressLine, ServiceReadiness, action_verb, progress_line, ready_message, service_readiness,
};
use crate::admin::{Applied, ApplyResponse};
use crate::state::StateDir;

/// How often a waiting `apply` reads the Service.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Reads `file` and sends it to `POST /v1/apply`. A rejected file (invalid, or not
/// stored by the server) prints every error and exits 1 (nothing was applied). Otherwise each Service's warnings are printed and,
/// unless `no_wait`, `apply` waits for each in turn; `timeout` bounds the whole wait,
/// not each Service. Exits 1 if any Service failed or timed out.
pub(super) async fn apply(
    state: &StateDir,
    file: &Path,
    timeout: Duration,
    no_wait: bool,
) -> anyhow::Result<ExitCode> {
    let yaml = read_file(file).await?;
    let client = AdminClient::from_state(state)?;
    let body = Some(("application/yaml", yaml.into()));
    let response = match client.send(Method::POST, "/v1/apply", body).await {
        Ok(bytes) => serde_json::from_slice::<ApplyResponse>(&bytes)
            .context("unexpected answer from /v1/apply")?,
        // 400: invalid; 500: valid but not stored (e.g. a full disk). Either way the
        // server applied nothing, and each line says why.
        Err(ClientError::Status { status, errors })
            if status == StatusCode::BAD_REQUEST || status == StatusCode::INTERNAL_SERVER_ERROR =>
        {
            errors.iter().for_each(|e| eprintln!("{e}"));
            eprintln!("error: {} was not applied", file.display());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let deadline = Instant::now() + timeout;
    let mut all_ready = true;
    for applied in &response.results {
        applied
            .warnings
            .iter()
            .for_each(|w| eprintln!("Warning: {w}"));
        if no_wait || applied.kind != Service::KIND {
            println!(
                "{} '{}' {} in namespace '{}'.",
                applied.kind,
                applied.name,
                action_verb(&applied.action),
                applied.namespace
            );
            continue;
        }
        all_ready &= wait_ready(&client, applied, deadline).await?;
    }
    Ok(if all_ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The file's text; the error names the file. Files larger than the server accepts
/// ([`MAX_INPUT_BYTES`]) are refused with the server's message, after reading at most
/// one byte past the limit.
pub(super) async fn read_file(file: &Path) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt;
    let cannot = || format!("cannot read {}", file.display());
    let opened = tokio::fs::File::open(file).await.with_context(cannot)?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .with_context(cannot)?;
    if bytes.len() > MAX_INPUT_BYTES {
        anyhow::bail!("{}: {InputTooLarge}", file.display());
    }
    String::from_utf8(bytes).with_context(|| format!("{}: must be UTF-8 YAML", file.display()))
}

/// Polls the Service until it is ready (prints kn's result, `true`), failed or past
/// `deadline` (prints why to stderr, `false`).
async fn wait_ready(
    client: &AdminClient,
    applied: &Applied,
    deadline: Instant,
) -> anyhow::Result<bool> {
    let (name, namespace) = (applied.name.as_str(), applied.namespace.as_str());
    let path = object_path("services", namespace, name);
    let start = Instant::now();
    let mut line = ProgressLine::new(std::io::stdout().is_terminal());
    loop {
        let service: Service = client.get_json(&path).await?;
        let pending = match service_readiness(&service) {
            ServiceReadiness::Ready => {
                write_out(line.finish());
                let ingress = client.server().ingress;
                print!("{}", ready_message(&service, &applied.action, ingress));
                return Ok(true);
            }
            ServiceReadiness::Failed { reason, message } => {
                write_out(line.finish());
                eprintln!(
                    "error: Service '{name}' in namespace '{namespace}' is not ready: {reason}: {message}"
                );
                return Ok(false);
            }
            ServiceReadiness::Pending(pending) => pending,
        };
        let now = Instant::now();
        if now >= deadline {
            write_out(line.finish());
            eprintln!(
                "error: timeout: Service '{name}' in namespace '{namespace}' is not ready after {:.1}s: {} is {}: {}",
                (now - start).as_secs_f64(),
                pending.condition,
                status_text(pending.status),
                pending.detail
            );
            return Ok(false);
        }
        let text = progress_line(name, namespace, now - start, &pending.detail);
        write_out(line.update(&pending.detail, &text));
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

fn write_out(text: Option<String>) {
    if let Some(text) = text {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout is no reason to stop waiting; the exit code still reports.
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}
