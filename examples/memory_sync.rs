//! Sync the seed repository's App of Apps onto the simulated cluster, the way an embedding
//! service would: build a `Syncer` over a `MemoryCluster`, an `AppController` with the local
//! source resolver and the auto-detecting renderer, then load and reconcile the app tree.
//!
//! `cargo run -p gitops-examples --example memory_sync`

use std::path::Path;
use std::sync::Arc;

use futures::executor::block_on;
use gitops_core::engine::ResolveContext;
use gitops_core::load::load_file;
use gitops_core::model::Application;
use gitops_core::sync::Syncer;
use gitops_core::sync::controller::{AppController, ReconcileOptions};
use gitops_core::testing::MemoryCluster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("seed-repo/argocd/root-app.yaml");
    let loaded = load_file(&root_file)?;
    let app = Application::from_object(&loaded[0].object)?;

    let cluster = MemoryCluster::new();
    let clock = cluster.clone();
    let syncer = Syncer::new(
        cluster.clone().into_shared(),
        Arc::new(gitops_health::BuiltinHealth),
    )
    .with_waiter(cluster.ticker())
    .with_clock(Arc::new(move || clock.now()));
    let controller = AppController::new(
        syncer,
        Arc::new(gitops_render::LocalResolver::default()),
        Arc::new(gitops_render::SourceRenderer::new()),
    );

    let base = root_file.parent().map(Path::to_path_buf).unwrap_or_default();
    let opts = ReconcileOptions::default();
    let tree = block_on(controller.load_tree(app, ResolveContext::with_base_dir(base), &opts.sync))?;
    let reports = block_on(controller.reconcile(&tree, &opts))?;
    for r in &reports {
        println!(
            "{}{:<16} {:<9} {}",
            "  ".repeat(r.depth),
            r.name,
            r.sync_status,
            r.health.status
        );
    }
    println!("{} objects in the simulated cluster", cluster.objects().len());
    Ok(())
}
