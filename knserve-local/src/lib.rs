//! knserve-local: the one-machine backend.
//!
//! Instances are local processes ([`process`]) or in-process tower services, driven by
//! the state machines of [`knserve_core`]; the `knserve` binary serves ingress,
//! activator, autoscaler and queue-proxy in one process and is driven through its admin
//! API ([`admin`]) by the CLI ([`cli`]).

pub mod admin;
pub mod cli;
pub mod config;
pub mod process;
pub mod runtime;
pub mod server;
pub mod state;

pub use knserve_core as core;
