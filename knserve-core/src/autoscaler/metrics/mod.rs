//! Metric windows and collection for the KPA.
