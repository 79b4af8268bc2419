//! A health check for your own CRD, written in Rhai and registered next to Argo CD's built-in
//! checks and the built-in script library, then used by a sync so that the wave waits for it.
//!
//! `cargo run -p gitops-examples --example custom_health`

use std::sync::Arc;

use futures::executor::block_on;
use gitops_core::engine::{ApplyOptions, ClusterBackend, HealthCheck};
use gitops_core::load::load_objects;
use gitops_core::model::Application;
use gitops_core::sync::{SyncOptions, Syncer};
use gitops_core::testing::MemoryCluster;
use gitops_health::config::HealthConfig;
use gitops_health::registry::HealthRegistry;

const CONFIG: &str = r#"
apiVersion: gitops.rs/v1alpha1
kind: HealthConfig
spec:
  scripts:
    - group: example.com
      kind: Database
      language: rhai
      script: |
        let phase = obj?.status?.phase;
        if phase == "Ready" { #{status: "Healthy", message: "database is ready"} }
        else if phase == "Failed" { #{status: "Degraded", message: obj.status.message ?? "failed"} }
        else { #{status: "Progressing", message: "waiting for the database"} }
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = HealthConfig::from_yaml(CONFIG, std::path::Path::new("."), "inline")?;
    let registry = HealthRegistry::new().with_config(&config);
    println!(
        "example.com/Database is checked by: {}",
        registry.lookup("example.com", "Database")
    );

    // Use it on its own...
    let db = load_objects(
        "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: orders, namespace: shop}\nstatus: {phase: Ready}\n",
        "inline.yaml",
    )?
    .remove(0)
    .object;
    let health = registry.check(&db)?.ok_or("no health")?;
    println!("{}: {} {}", db.object_ref(), health.status, health.message);

    // ...or in a sync: the simulated cluster accepts the custom kind, and a status writer
    // stands in for the database operator.
    let cluster = MemoryCluster::permissive();
    block_on(cluster.apply(
        &gitops_core::Object::new("v1", "Namespace", None, "shop"),
        &ApplyOptions::default(),
    ))?;
    let app: Application = serde_yaml::from_str(
        "metadata: {name: shop, namespace: argocd}\nspec: {project: default, source: {repoURL: ./r, path: p}, destination: {server: \"https://kubernetes.default.svc\", namespace: shop}}\n",
    )?;
    let manifests = load_objects(
        "apiVersion: example.com/v1\nkind: Database\nmetadata: {name: orders}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api, annotations: {argocd.argoproj.io/sync-wave: \"1\"}}\n",
        "inline.yaml",
    )?
    .into_iter()
    .map(|l| l.object)
    .collect();
    let operator = cluster.clone();
    let waits = std::sync::atomic::AtomicU32::new(0);
    let syncer = Syncer::new(cluster.clone().into_shared(), Arc::new(registry)).with_waiter(StatusWriter {
        cluster: operator,
        waits: Arc::new(waits),
    });
    let result = block_on(syncer.sync(&app, manifests, &SyncOptions::default()))?;
    println!("sync: {:?} — {}", result.phase, result.message);
    println!("app health: {}", result.health.status);
    Ok(())
}

/// Marks the Database ready after two waits, as its operator would.
struct StatusWriter {
    cluster: MemoryCluster,
    waits: Arc<std::sync::atomic::AtomicU32>,
}

impl gitops_core::sync::Waiter for StatusWriter {
    fn wait(&self) -> gitops_core::engine::BoxFuture<'_, ()> {
        let n = self.waits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 1 {
            let r = gitops_core::ObjectRef::new("example.com", "Database", Some("shop"), "orders");
            println!("  (operator) database ready");
            let _ = self.cluster.set_status(&r, serde_json::json!({"phase": "Ready"}));
        }
        self.cluster.tick();
        Box::pin(async {})
    }
}
