//! knserve-k8s: the Kubernetes backend.
//!
//! Knative-compatible resources and reconcilers driven by the state machines of
//! [`knserve_core`]. This crate is being built up; today it re-exports the core model it
//! will reconcile.
//!
//! - [`queue`]: the `knserve-queue` sidecar, a drop-in replacement for Knative's
//!   queue-proxy.

pub mod queue;

pub use knserve_core as core;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod servers;
pub mod webhook;
