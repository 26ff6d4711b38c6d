//! Pure `desired(spec, observed)` functions: what each reconciler wants to exist, with
//! no I/O and no clock (time comes in as an argument). The controllers in
//! [`crate::controller`] are thin shells that read the observed objects, call these and
//! apply the result with server-side apply.

pub mod autoscaling;
pub mod hpa;
pub mod ingress;
pub mod revision;
pub mod route_services;
pub mod serving;
pub mod sks;
