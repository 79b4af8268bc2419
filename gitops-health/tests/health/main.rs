//! Integration tests for gitops-health: the upstream conformance corpus and property tests.

mod corpus;
mod lua;
mod props;
mod rhai_library;
