//! knserve-local: the one-machine backend.
//!
//! Instances are local processes or in-process tower services, driven by the state
//! machines of [`knserve_core`]. This crate is being built up; today it re-exports the
//! core model it will serve.

pub use knserve_core as core;
