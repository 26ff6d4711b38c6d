//! The ingress router's rules (spec §6): Host and tag to Route, weighted split to
//! Revision, internal headers, and activator-or-direct per revision.
