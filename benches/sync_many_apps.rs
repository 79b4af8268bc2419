//! Load + plan + sync of many generated applications on the simulated cluster.
//!
//! `cargo bench -p gitops-benches --bench sync_many_apps` (set `GITOPS_BENCH_APPS` and
//! `GITOPS_BENCH_OBJECTS` to change the size; defaults 1000 apps × 20 objects). Prints the time
//! of each stage and the process's peak resident memory.

use std::sync::Arc;
use std::time::Instant;

use futures::executor::block_on;
use gitops_core::engine::HealthCode;
use gitops_core::load::load_objects;
use gitops_core::model::Application;
use gitops_core::sync::{SyncOptions, Syncer, plan};
use gitops_core::testing::MemoryCluster;
use gitops_core::{Object, SyncStatusCode};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One app's manifests: a mix of kinds, Deployments and a StatefulSet in wave 1.
fn manifests(app: usize, objects: usize) -> String {
    let mut out = String::new();
    for i in 0..objects {
        let doc = match i % 10 {
            0..=3 => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, labels: {{app: a{app}}}}}\ndata: {{key: value-{i}, other: \"{app}\"}}\n"
            ),
            4 | 5 => format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: s-{i}}}\nstringData: {{password: p{i}}}\n"
            ),
            6 | 7 => format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}}}\nspec: {{selector: {{app: a{app}}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
            ),
            8 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d-{i}, annotations: {{argocd.argoproj.io/sync-wave: \"1\"}}}}\n\
                 spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: a{app}-{i}}}}}\n  template:\n    metadata: {{labels: {{app: a{app}-{i}}}}}\n    spec: {{containers: [{{name: c, image: \"img:{app}\"}}]}}\n"
            ),
            _ => format!(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: st-{i}, annotations: {{argocd.argoproj.io/sync-wave: \"1\"}}}}\n\
                 spec:\n  replicas: 1\n  serviceName: svc\n  selector: {{matchLabels: {{app: st{app}}}}}\n  template:\n    metadata: {{labels: {{app: st{app}}}}}\n    spec: {{containers: [{{name: c, image: db}}]}}\n"
            ),
        };
        out.push_str("---\n");
        out.push_str(&doc);
    }
    out
}

fn application(app: usize) -> Application {
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: app-{app}, namespace: argocd}}\n\
         spec:\n  project: default\n  source: {{repoURL: ./r, path: p}}\n  destination: {{server: \"https://kubernetes.default.svc\", namespace: ns-{app}}}\n  syncPolicy: {{syncOptions: [CreateNamespace=true]}}\n"
    );
    serde_yaml::from_str(&yaml).expect("generated application is valid")
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let apps = env_usize("GITOPS_BENCH_APPS", 1000);
    let per_app = env_usize("GITOPS_BENCH_OBJECTS", 20);
    println!("sync_many_apps: {apps} apps x {per_app} objects");

    let t = Instant::now();
    let texts: Vec<String> = (0..apps).map(|a| manifests(a, per_app)).collect();
    let generate = t.elapsed();

    let t = Instant::now();
    let loaded: Vec<(Application, Vec<Object>)> = texts
        .iter()
        .enumerate()
        .map(|(a, text)| {
            let objs = load_objects(text, "generated.yaml").expect("generated manifests load");
            (application(a), objs.into_iter().map(|l| l.object).collect())
        })
        .collect();
    let load = t.elapsed();
    drop(texts);

    let t = Instant::now();
    let mut tasks = 0;
    for (_, objs) in &loaded {
        tasks += plan::plan(objs, &[], false).len();
    }
    let planning = t.elapsed();

    let cluster = MemoryCluster::new();
    let clock = cluster.clone();
    let syncer = Syncer::new(
        cluster.clone().into_shared(),
        Arc::new(gitops_health::BuiltinHealth),
    )
    .with_waiter(cluster.ticker())
    .with_clock(Arc::new(move || clock.now()));
    let opts = SyncOptions::default().wait_for_health(false);
    let t = Instant::now();
    let mut failed = 0;
    for (app, objs) in &loaded {
        let r = block_on(syncer.sync(app, objs.clone(), &opts)).expect("sync starts");
        if r.phase != gitops_core::model::OperationPhase::Succeeded {
            failed += 1;
        }
    }
    let sync = t.elapsed();

    let t = Instant::now();
    let mut ticks = 0;
    let mut healthy = 0;
    while ticks < 20 {
        cluster.tick();
        ticks += 1;
        healthy = 0;
        for (app, objs) in loaded.iter().step_by((apps / 20).max(1)) {
            let p = block_on(syncer.prepare(app, objs.clone(), &opts)).expect("prepare");
            let cmp = block_on(syncer.compare(app, p, &opts)).expect("compare");
            if cmp.sync_status == SyncStatusCode::Synced
                && syncer.app_health(app, &cmp).status == HealthCode::Healthy
            {
                healthy += 1;
            }
        }
        if healthy == loaded.iter().step_by((apps / 20).max(1)).count() {
            break;
        }
    }
    let settle = t.elapsed();

    println!("generate:  {:>9.3} s", generate.as_secs_f64());
    println!(
        "load:      {:>9.3} s  ({} objects)",
        load.as_secs_f64(),
        apps * per_app
    );
    println!("plan:      {:>9.3} s  ({tasks} tasks)", planning.as_secs_f64());
    println!("sync:      {:>9.3} s  ({failed} failed)", sync.as_secs_f64());
    println!(
        "settle:    {:>9.3} s  ({ticks} ticks until sampled apps were Healthy: {healthy})",
        settle.as_secs_f64()
    );
    println!("objects in cluster: {}", cluster.objects().len());
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS:  {:>9.1} MiB", kib as f64 / 1024.0);
    }
}
