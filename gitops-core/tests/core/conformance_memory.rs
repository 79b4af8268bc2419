//! The `ClusterBackend` conformance suite against the simulated cluster.

use futures::executor::block_on;
use gitops_core::testing::{MemoryCluster, conformance};

#[test]
fn memory_cluster_passes_the_whole_suite() {
    block_on(conformance::cluster_backend(MemoryCluster::new));
}

#[test]
fn permissive_memory_cluster_passes_the_whole_suite() {
    block_on(conformance::cluster_backend(MemoryCluster::permissive));
}

#[test]
fn shared_memory_cluster_passes_the_whole_suite() {
    block_on(conformance::cluster_backend(|| {
        MemoryCluster::new().into_shared()
    }));
}

#[test]
fn checks_run_one_by_one() {
    let cluster = MemoryCluster::new();
    block_on(conformance::apply_creates_then_is_unchanged(&cluster));
    block_on(conformance::list_filters_and_is_stable(&cluster));
    block_on(conformance::watch_sees_changes(&cluster));
}
