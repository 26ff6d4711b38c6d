//! The deployable servers besides the controller: ingress, activator and autoscaler, each
//! a thin async shell over the pure state machines of [`knserve_core`].

pub mod activator;
pub mod autoscaler;
pub mod ingress;
pub mod wire;
