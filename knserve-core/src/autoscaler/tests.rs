//! Golden cases and invariants of the KPA.
