//! The `knserve` client subcommands.

mod conditions;
#[cfg(test)]
mod fixtures;
mod list;
mod progress;
mod table;
mod time;

pub use self::conditions::{
    blocking_condition, conditions_summary, marker, not_ready_reason, ready_text,
    reason_and_message, status_text,
};
pub use self::list::{
    OutputFormat, ResourceKind, Scope, UnknownValue, render_objects, revisions_table, routes_table,
    services_table, traffic_of,
};
pub use self::progress::{
    Pending, ProgressLine, ServiceReadiness, action_verb, curl_line, progress_line, ready_message,
    service_readiness,
};
pub use self::table::Table;
pub use self::time::{
    InvalidDuration, age, human_duration, parse_duration, parse_rfc3339, unix_now,
};
