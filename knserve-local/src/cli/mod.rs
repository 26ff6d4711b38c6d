//! The `knserve` client subcommands.
