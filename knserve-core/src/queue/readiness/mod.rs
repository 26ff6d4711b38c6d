//! Probing the user container (spec §4.3).

/// Whether the user container is ready.
#[derive(Debug, Clone, Default)]
pub struct Readiness {}

impl Readiness {
    /// Always ready.
    pub fn always() -> Self {
        Self {}
    }

    /// Runs the check.
    pub async fn check(&self) -> bool {
        true
    }
}
