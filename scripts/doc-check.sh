#!/usr/bin/env bash
# Builds the workspace's API documentation and fails on any rustdoc warning (broken or
# private intra-doc links, unclosed HTML tags in doc text).
#
#   scripts/doc-check.sh
#
# Doc examples are compiled and run by `cargo test` (the doctests), not here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked
