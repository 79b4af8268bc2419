//! Plan + diff of 10,000 objects: the comparison and planning an app of that size costs on every
//! reconcile. Goal (issue): ≤ 50 ms on one core and ≤ 2 KB of memory overhead per object.
//!
//! `cargo bench -p gitops-benches --bench plan_diff` (`GITOPS_BENCH_OBJECTS` changes the size).
//! Prints the median of several runs for: the pure path (`diff::diff` over desired/live pairs plus
//! `sync::plan::plan`), and the engine path (`Syncer::compare` against the simulated cluster plus
//! `Syncer::build_plan`), with and without changes; and the resident memory the comparison holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use gitops_core::Object;
use gitops_core::diff::{DiffOptions, diff};
use gitops_core::engine::{ApplyOptions, ClusterBackend};
use gitops_core::load::load_objects;
use gitops_core::model::Application;
use gitops_core::sync::plan::{plan, plan_owned};
use gitops_core::sync::{SyncOptions, Syncer};
use gitops_core::testing::MemoryCluster;

fn objects(n: usize, image: &str) -> Vec<Object> {
    let mut yaml = String::new();
    for i in 0..n {
        let doc = match i % 3 {
            0 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}, labels: {{app: a{i}}}, annotations: {{argocd.argoproj.io/sync-wave: \"{}\"}}}}\n\
                 spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: a{i}}}}}\n  template:\n    metadata: {{labels: {{app: a{i}}}}}\n    spec:\n      containers:\n      - name: main\n        image: \"{image}\"\n        ports: [{{containerPort: 8080}}]\n        env: [{{name: MODE, value: prod}}]\n",
                i % 5
            ),
            1 => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{key: value-{i}, other: \"x\"}}\n"
            ),
            _ => format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec: {{selector: {{app: a{i}}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
            ),
        };
        yaml.push_str("---\n");
        yaml.push_str(&doc);
    }
    load_objects(&yaml, "bench.yaml")
        .expect("generated manifests load")
        .into_iter()
        .map(|l| l.object)
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let n: usize = std::env::var("GITOPS_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runs = 7;
    println!("plan_diff: {n} objects, median of {runs} runs");
    let app: Application = serde_yaml::from_str(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: big, namespace: argocd}\n\
         spec: {project: default, source: {repoURL: ./r, path: p}, destination: {server: \"https://kubernetes.default.svc\", namespace: big}}\n",
    )
    .expect("valid application");

    // Live objects as the cluster stores them (system metadata, status, tracking).
    let cluster = MemoryCluster::new();
    let clock = cluster.clone();
    let syncer = Syncer::new(
        cluster.clone().into_shared(),
        Arc::new(gitops_health::BuiltinHealth),
    )
    .with_clock(Arc::new(move || clock.now()));
    let opts = SyncOptions::default();
    block_on(cluster.apply(
        &Object::new("v1", "Namespace", None, "big"),
        &ApplyOptions::default(),
    ))
    .expect("namespace");
    let desired = block_on(syncer.prepare(&app, objects(n, "img:1"), &opts)).expect("prepare");
    for o in &desired {
        block_on(cluster.apply(o, &ApplyOptions::default())).expect("apply");
    }
    cluster.tick_n(3);
    let live: Vec<Object> = desired
        .iter()
        .map(|d| cluster.object(&d.object_ref()).expect("live"))
        .collect();
    let changed = block_on(syncer.prepare(&app, objects(n, "img:2"), &opts)).expect("prepare");
    let dopts = DiffOptions::default();

    {
        let (mut d_times, mut p_times) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            for (d, l) in desired.iter().zip(&live) {
                std::hint::black_box(diff(Some(d), Some(l), &dopts).expect("diff").modified);
            }
            d_times.push(t.elapsed());
            let owned = desired.clone();
            let t = Instant::now();
            std::hint::black_box(plan_owned(owned, Vec::new(), false).len());
            p_times.push(t.elapsed());
        }
        println!(
            "breakdown (unchanged): diff {:.1} ms, plan_owned {:.1} ms",
            median(d_times).as_secs_f64() * 1e3,
            median(p_times).as_secs_f64() * 1e3
        );
    }
    for (label, set) in [("unchanged", &desired), ("all deployments changed", &changed)] {
        let mut times = Vec::new();
        let mut modified = 0;
        for _ in 0..runs {
            let t = Instant::now();
            modified = 0;
            for (d, l) in set.iter().zip(&live) {
                if diff(Some(d), Some(l), &dopts).expect("diff").modified {
                    modified += 1;
                }
            }
            let p = plan(set, &[], false);
            std::hint::black_box(p.len());
            times.push(t.elapsed());
        }
        println!(
            "pure   plan + diff, {label:<24} {:>8.1} ms  ({modified} modified)",
            median(times).as_secs_f64() * 1e3
        );
    }
    for (label, set) in [("unchanged", &desired), ("all deployments changed", &changed)] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let cmp = block_on(syncer.compare(&app, set.clone(), &opts)).expect("compare");
            let state = syncer.new_operation(&app, &opts);
            let p = block_on(syncer.build_plan(&app, &cmp, &state, &opts)).expect("plan");
            std::hint::black_box(p.len());
            times.push(t.elapsed());
        }
        println!(
            "engine compare + plan, {label:<20} {:>8.1} ms",
            median(times).as_secs_f64() * 1e3
        );
    }
    // Memory the comparison holds beyond the inputs (desired list, live copies, statuses, plan).
    let before = rss_kib();
    let cmp = block_on(syncer.compare(&app, changed.clone(), &opts)).expect("compare");
    let state = syncer.new_operation(&app, &opts);
    let p = block_on(syncer.build_plan(&app, &cmp, &state, &opts)).expect("plan");
    let after = rss_kib();
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "memory held by compare + plan: {:.1} MiB, {:.2} KiB per object (RSS delta, includes the copies of desired and live)",
            (a.saturating_sub(b)) as f64 / 1024.0,
            (a.saturating_sub(b)) as f64 / n as f64
        );
    }
    std::hint::black_box((cmp.resources.len(), p.len()));
}
