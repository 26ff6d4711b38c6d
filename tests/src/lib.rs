//! Tests of knserve's shipped behaviour across crates; the tests live in `tests/`.
