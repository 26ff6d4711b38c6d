//! Supervised local processes: one per instance of a process-backed revision.
