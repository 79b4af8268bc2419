//! Integration tests for gitops-health: the upstream conformance corpus and property tests.

mod corpus;
mod props;
