//! The `knserve` client subcommands, modelled on `kn`: `apply`, `get`, `describe`,
//! `delete`, `logs`, `validate` and `dashboard`, each a client of a running server's admin API
//! ([`crate::admin`]) found through the state directory ([`crate::state`]).
//!
//! [`run`] prints to stdout and stderr and returns the exit code; the pure formatting
//! (tables, ages, progress and result lines) is exported for tests and other front ends.

mod apply;
mod client;
mod conditions;
mod describe;
#[cfg(test)]
mod fixtures;
mod list;
mod progress;
mod query;
mod table;
mod time;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::state::StateDir;

pub use self::client::{AdminClient, ClientError, object_path};
pub use self::conditions::{
    blocking_condition, conditions_summary, marker, not_ready_reason, ready_text,
    reason_and_message, status_text,
};
pub use self::describe::{
    RevisionEntry, conditions_table, describe_revision, describe_service, revision_entries,
};
pub use self::list::{
    OutputFormat, ResourceKind, Scope, UnknownValue, render_objects, revisions_table, routes_table,
    services_table, traffic_of,
};
pub use self::progress::{
    Pending, ProgressLine, ServiceReadiness, action_verb, curl_line, progress_line, ready_message,
    service_readiness,
};
pub use self::table::Table;
pub use self::time::{
    InvalidDuration, age, human_duration, parse_duration, parse_rfc3339, unix_now,
};
pub use self::validate::{ValidationReport, validate_locally};

/// The client subcommands (everything but `serve`).
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Apply Services from a YAML file (several documents allowed), wait until Ready.
    Apply {
        /// The YAML file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// How long to wait for all Services to become ready (`90s`, `10m`, or seconds).
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        wait_timeout: Duration,
        /// Do not wait for readiness.
        #[arg(long)]
        no_wait: bool,
    },
    /// List ksvc|revisions|routes (aliases: service, services, ksvc, kservice; revision(s), rev; route(s)).
    Get {
        /// ksvc, revisions or routes.
        resource: String,
        /// Print the objects instead of a table: yaml or json.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// The namespace to list.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// List every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Show a Service, its revisions and conditions, and why a revision is not ready.
    Describe {
        /// ksvc.
        resource: String,
        /// The Service's name.
        name: String,
        /// The Service's namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Delete a Service with its Configuration, Revisions and Route.
    Delete {
        /// ksvc.
        resource: String,
        /// The Service's name.
        name: String,
        /// The Service's namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Print a revision's instance output (`<instance> <stdout|stderr> <line>`).
    Logs {
        /// The revision's name.
        revision: String,
        /// The revision's namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// How many of the latest lines to print.
        #[arg(long, default_value_t = 200)]
        tail: usize,
    },
    /// Print the URL of the server's live dashboard (with the admin token), or open it.
    Dashboard {
        /// Open it in the desktop's browser (`xdg-open`) as well.
        #[arg(long)]
        open: bool,
    },
    /// Check a YAML file without applying it (locally, with the default configuration,
    /// when no server is running).
    Validate {
        /// The YAML file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
}

/// Runs one client subcommand against the server of `state`.
///
/// Output goes to stdout (results) and stderr (errors, warnings). `Ok(FAILURE)` means
/// the failure was already printed (invalid input, a Service that failed or timed out);
/// an `Err` (no server, server not running, not found, unknown resource type or output
/// format) is for the caller to print — as `error: {err:#}` — and exit 1 on.
pub async fn run(command: ClientCommand, state: &StateDir) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Apply {
            file,
            wait_timeout,
            no_wait,
        } => apply::apply(state, &file, wait_timeout, no_wait).await,
        ClientCommand::Get {
            resource,
            output,
            namespace,
            all_namespaces,
        } => {
            let scope = if all_namespaces {
                Scope::All
            } else {
                Scope::Namespace(&namespace)
            };
            query::get(state, &resource, output.as_deref(), scope).await
        }
        ClientCommand::Describe {
            resource,
            name,
            namespace,
        } => query::describe(state, &resource, &name, &namespace).await,
        ClientCommand::Delete {
            resource,
            name,
            namespace,
        } => query::delete(state, &resource, &name, &namespace).await,
        ClientCommand::Logs {
            revision,
            namespace,
            tail,
        } => query::logs(state, &revision, &namespace, tail).await,
        ClientCommand::Validate { file } => validate::validate(state, &file).await,
        ClientCommand::Dashboard { open } => {
            let url = AdminClient::from_state(state)?.dashboard_url();
            println!("{url}");
            if open {
                let status = std::process::Command::new("xdg-open")
                    .arg(&url)
                    .status()
                    .map_err(|e| anyhow::anyhow!("--open: running xdg-open: {e}"))?;
                anyhow::ensure!(status.success(), "--open: xdg-open exited with {status}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod remote_tests;
#[cfg(test)]
mod tests;
