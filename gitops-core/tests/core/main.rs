//! Integration tests of gitops-core.

mod conformance_memory;
mod diagnostics;
mod diff;
mod model;
mod sync;
