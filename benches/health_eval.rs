//! Health evaluations per second on upstream corpus inputs, for each engine: Argo CD's built-in
//! checks (goal ≥ 1,000,000/s), the built-in Rhai library (goal ≥ 200,000/s) and Lua scripts
//! (goal ≥ 100,000/s), on one core.
//!
//! `cargo bench -p gitops-benches --bench health_eval`. Reads `../shared/health-corpus` in place;
//! without it the bench says so and stops.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_core::engine::HealthCheck;
use gitops_core::load::load_objects;
use gitops_health::BuiltinHealth;
use gitops_health::library::Library;
use gitops_health::script::HealthScript;
use gitops_health::script::lua_engine::LuaScript;

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/health-corpus");
    p.is_dir().then_some(p)
}

/// The first document of every YAML file in `dir` that loads as an object.
fn inputs(dir: &Path) -> Vec<Object> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let first = text
                .split("\n---")
                .find(|d| !d.trim().trim_start_matches("---").trim().is_empty())?
                .to_owned();
            load_objects(&first, "corpus")
                .ok()?
                .into_iter()
                .next()
                .map(|l| l.object)
        })
        .collect()
}

/// Runs `f` over `objs` repeatedly for about `budget`; returns evaluations per second.
fn rate(objs: &[Object], budget: Duration, mut f: impl FnMut(&Object)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for o in objs {
            f(o);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let Some(root) = corpus() else {
        println!("health_eval: ../shared/health-corpus not found; nothing to measure");
        return;
    };
    let budget = Duration::from_millis(700);
    let builtin = inputs(&root.join("gitops-engine/pkg/health/testdata"));
    let r = rate(&builtin, budget, |o| {
        std::hint::black_box(BuiltinHealth.check(o).ok());
    });
    println!(
        "built-in checks   {:>10.0} evaluations/s  ({} corpus inputs, goal 1000000)",
        r,
        builtin.len()
    );

    let lib = Library::builtin();
    for (group, kind) in [
        ("argoproj.io", "Rollout"),
        ("cert-manager.io", "Certificate"),
        ("policy", "PodDisruptionBudget"),
    ] {
        let objs = inputs(&root.join(format!("resource_customizations/{group}/{kind}/testdata")));
        let Some(script) = lib.lookup(group, kind) else {
            continue;
        };
        let r = rate(&objs, budget, |o| {
            std::hint::black_box(script.evaluate(o).ok());
        });
        println!(
            "rhai {group}/{kind:<22} {:>10.0} evaluations/s  ({} inputs, goal 200000)",
            r,
            objs.len()
        );
    }

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-health/tests/fixtures/lua");
    for (file, group, kind) in [
        ("policy_PodDisruptionBudget.lua", "policy", "PodDisruptionBudget"),
        ("batch_CronJob.lua", "batch", "CronJob"),
    ] {
        let Ok(src) = std::fs::read_to_string(fixtures.join(file)) else {
            continue;
        };
        let Ok(script) = LuaScript::compile(file, &src, true, Default::default()) else {
            continue;
        };
        let objs = inputs(&root.join(format!("resource_customizations/{group}/{kind}/testdata")));
        let r = rate(&objs, budget, |o| {
            std::hint::black_box(script.evaluate(o).ok());
        });
        println!(
            "lua  {group}/{kind:<22} {:>10.0} evaluations/s  ({} inputs, goal 100000)",
            r,
            objs.len()
        );
    }
}
