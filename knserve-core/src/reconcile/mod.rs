//! The control plane as pure functions: a Service becomes its Configuration, Revisions and Route, with status conditions.
