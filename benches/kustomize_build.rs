//! A typical overlay built in-process by gitops-render's native Kustomize engine, against one
//! `kubectl kustomize` process per build.
//!
//! Overlay: base = Deployment + Service + ConfigMap; overlay = `resources: [../base]`,
//! `namePrefix`, `commonLabels`, `images`, a strategic merge patch and a `configMapGenerator`.
//!
//! Run: `cargo bench -p gitops-benches --bench kustomize_build`. Environment:
//! `KUSTOMIZE_BENCH_BUILDS` (in-process builds, default 2000), `KUSTOMIZE_BENCH_RUNS`
//! (kubectl processes, default 7). Without `kubectl` on `PATH` only the in-process number is
//! printed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gitops_render::FsTree;
use gitops_render::kustomize::{BuildOptions, build};

const FILES: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\n- configmap.yaml\n",
    ),
    (
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n        ports:\n        - containerPort: 80\n        envFrom:\n        - configMapRef:\n            name: settings\n        volumeMounts:\n        - name: static\n          mountPath: /usr/share/nginx/html\n      volumes:\n      - name: static\n        configMap:\n          name: static\n",
    ),
    (
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 80\n",
    ),
    (
        "base/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: static\ndata:\n  index.html: |\n    <h1>hello</h1>\n",
    ),
    (
        "overlay/kustomization.yaml",
        "resources:\n- ../base\nnamePrefix: dev-\ncommonLabels:\n  env: dev\nimages:\n- name: nginx\n  newTag: \"1.26\"\npatches:\n- path: replicas.yaml\nconfigMapGenerator:\n- name: settings\n  literals:\n  - LOG_LEVEL=debug\n  - FEATURE_X=true\n",
    ),
    (
        "overlay/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n",
    ),
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_repo(root: &Path) {
    for (path, text) in FILES {
        let p = root.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        std::fs::write(p, text).expect("write file");
    }
}

fn main() {
    let root = std::env::temp_dir().join(format!("gitops-kustomize-bench-{}", std::process::id()));
    write_repo(&root);
    let tree = FsTree::open(&root, "local").expect("tree");
    let opts = BuildOptions::default();
    let objects = build(&tree, "overlay", &opts).expect("overlay builds");
    assert_eq!(objects.len(), 4);

    let builds = env_usize("KUSTOMIZE_BENCH_BUILDS", 2000);
    for _ in 0..50 {
        let _ = build(&tree, "overlay", &opts);
    }
    let mut times = Vec::with_capacity(builds);
    for _ in 0..builds {
        let t = Instant::now();
        let out = build(&tree, "overlay", &opts).expect("build");
        std::hint::black_box(out);
        times.push(t.elapsed());
    }
    let ours = median(times);
    println!(
        "native in-process build: median {:.3} ms/build over {builds} builds ({} objects)",
        ours.as_secs_f64() * 1e3,
        objects.len()
    );

    let runs = env_usize("KUSTOMIZE_BENCH_RUNS", 7);
    let available = Command::new("kubectl")
        .args(["kustomize", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if available {
        let mut ktimes = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let out = Command::new("kubectl")
                .arg("kustomize")
                .arg(root.join("overlay"))
                .output()
                .expect("kubectl runs");
            assert!(out.status.success(), "kubectl kustomize failed");
            ktimes.push(t.elapsed());
        }
        let theirs = median(ktimes);
        println!(
            "kubectl kustomize (one process per build): median {:.1} ms over {runs} runs",
            theirs.as_secs_f64() * 1e3
        );
        println!(
            "ratio: native is {:.0}x faster",
            theirs.as_secs_f64() / ours.as_secs_f64().max(1e-9)
        );
    } else {
        println!("kubectl kustomize: not available, skipped");
    }
    let _ = std::fs::remove_dir_all(&root);
}
