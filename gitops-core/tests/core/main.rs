//! Integration tests of gitops-core.

mod conformance_memory;
mod diagnostics;
mod model;
mod sync;
