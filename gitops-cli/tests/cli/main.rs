//! End-to-end tests of the `gitops` binary on the seed repository and on bad input.

#![allow(clippy::unwrap_used)]

mod health;
mod render;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn gitops(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("gitops runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn seed_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("seed-repo");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-repo"),
        &repo,
    );
    (dir, repo)
}

fn apps(v: &Value) -> Vec<(String, String, String, usize)> {
    v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["sync"].as_str().unwrap().to_owned(),
                a["health"].as_str().unwrap().to_owned(),
                a["changed"].as_array().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn seed_repo_syncs_then_is_a_no_op_then_reports_drift() {
    let (dir, repo) = seed_copy();
    let root = repo.join("argocd/root-app.yaml");
    let root = root.to_str().unwrap();

    let first = gitops(dir.path(), &["sync", root, "-o", "json"]);
    assert!(first.status.success(), "{}\n{}", stdout(&first), stderr(&first));
    let v = json(&first);
    assert_eq!(v["ok"], true);
    let names: Vec<String> = apps(&v).into_iter().map(|a| a.0).collect();
    assert_eq!(
        names,
        ["root-app", "environment-dev", "postgres", "api", "worker"]
    );
    for (name, sync, health, changed) in apps(&v) {
        assert_eq!((sync.as_str(), health.as_str()), ("Synced", "Healthy"), "{name}");
        assert!(changed > 0, "{name} changed nothing on the first sync");
    }
    assert!(dir.path().join(".gitops/cluster.json").is_file());

    let second = gitops(dir.path(), &["sync", root, "-o", "json"]);
    assert!(second.status.success(), "{}", stderr(&second));
    for (name, sync, health, changed) in apps(&json(&second)) {
        assert_eq!(
            (sync.as_str(), health.as_str(), changed),
            ("Synced", "Healthy", 0),
            "{name}"
        );
    }
    let text = gitops(dir.path(), &["sync", root]);
    assert!(stdout(&text).contains("no changes"), "{}", stdout(&text));

    let deployment = repo.join("apps/api/deployment.yaml");
    let edited = std::fs::read_to_string(&deployment)
        .unwrap()
        .replace("replicas: 2", "replicas: 4");
    std::fs::write(&deployment, edited).unwrap();
    let third = gitops(dir.path(), &["sync", root, "-o", "json"]);
    assert!(third.status.success(), "{}", stderr(&third));
    let v = json(&third);
    let api = v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "api")
        .unwrap();
    let drift = api["drift"].to_string();
    assert!(
        drift.contains("apps/Deployment api/api") && drift.contains("spec.replicas: 2 → 4"),
        "{drift}"
    );
    let changed = api["changed"].to_string();
    assert!(
        changed.contains("\"object\":\"apps/Deployment api/api\",\"action\":\"configured\""),
        "{changed}"
    );
    assert_eq!(api["sync"], "Synced");
    assert_eq!(api["health"], "Healthy");
    let others: usize = apps(&v).iter().filter(|a| a.0 != "api").map(|a| a.3).sum();
    assert_eq!(others, 0, "only the api app changes");
}

#[test]
fn text_output_shows_tree_waves_and_table() {
    let (dir, repo) = seed_copy();
    let out = gitops(
        dir.path(),
        &["sync", repo.join("argocd/root-app.yaml").to_str().unwrap()],
    );
    let s = stdout(&out);
    assert!(out.status.success(), "{s}\n{}", stderr(&out));
    assert!(s.contains("simulated cluster state: .gitops/cluster.json"), "{s}");
    assert!(s.contains("application tree:"), "{s}");
    assert!(s.contains("[api] PreSync wave 0"), "{s}");
    assert!(s.contains("PreSync hook batch/Job api/db-migrate"), "{s}");
    let table = s
        .lines()
        .skip_while(|l| !l.starts_with("APP "))
        .collect::<Vec<_>>();
    assert!(table.len() >= 6, "{s}");
    for app in ["root-app", "environment-dev", "postgres", "api", "worker"] {
        let row = table
            .iter()
            .find(|l| l.split_whitespace().next() == Some(app))
            .unwrap_or_else(|| panic!("{app}: {s}"));
        assert!(row.contains("Synced") && row.contains("Healthy"), "{row}");
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const APP: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: NAME, namespace: argocd}\n\
spec:\n  project: default\n  source: {repoURL: ./, path: PATH}\n  destination: {server: \"https://kubernetes.default.svc\"DEST}\n";

fn app(name: &str, path: &str, dest_ns: Option<&str>) -> String {
    APP.replace("NAME", name).replace("PATH", path).replace(
        "DEST",
        &dest_ns.map(|n| format!(", namespace: {n}")).unwrap_or_default(),
    )
}

#[test]
fn bad_input_is_reported_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A good app first, so the state file exists.
    write(
        d,
        "good/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {a: b}\n",
    );
    write(d, "good.yaml", &app("good", "good", None));
    let ok = gitops(d, &["sync", "good.yaml"]);
    assert!(ok.status.success(), "{}\n{}", stdout(&ok), stderr(&ok));
    let state = std::fs::read(d.join(".gitops/cluster.json")).unwrap();

    // A namespaced object with no namespace, and no destination namespace.
    write(
        d,
        "nons/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n",
    );
    write(d, "nons.yaml", &app("nons", "nons", None));
    let out = gitops(d, &["sync", "nons.yaml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("apps/Deployment web: namespaced object has no metadata.namespace"),
        "{}",
        stderr(&out)
    );

    // An unknown kind.
    write(
        d,
        "unknown/w.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\n",
    );
    write(d, "unknown.yaml", &app("unknown", "unknown", Some("default")));
    let out = gitops(d, &["sync", "unknown.yaml", "-o", "json"]);
    assert!(!out.status.success());
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("example.com/Widget default/w"),
        "{v}"
    );

    // Malformed YAML in the app's path names file and line.
    write(
        d,
        "broken/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    );
    write(d, "broken.yaml", &app("broken", "broken", Some("default")));
    let out = gitops(d, &["sync", "broken.yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken/bad.yaml:"), "{}", stderr(&out));

    // A child-app cycle: a -> b -> a.
    // Child Applications resolve a relative repoURL against their own file.
    write(
        d,
        "cyc-a/app.yaml",
        &app("b", "cyc-b", Some("argocd")).replace("repoURL: ./", "repoURL: ../"),
    );
    write(
        d,
        "cyc-b/app.yaml",
        &app("a", "cyc-a", Some("argocd")).replace("repoURL: ./", "repoURL: ../"),
    );
    write(d, "a.yaml", &app("a", "cyc-a", Some("argocd")));
    let out = gitops(d, &["sync", "a.yaml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("application cycle: a -> b -> a"),
        "{}",
        stderr(&out)
    );

    // An invalid spec: both server and name.
    write(
        d,
        "both.yaml",
        &app("both", "good", Some("default")).replace("destination: {", "destination: {name: in-cluster, "),
    );
    let out = gitops(d, &["sync", "both.yaml"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("can't have both name and server defined"),
        "{}",
        stderr(&out)
    );

    // The file itself is not YAML.
    write(d, "garbage.yaml", "kind: [\n");
    let out = gitops(d, &["sync", "garbage.yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("garbage.yaml:"), "{}", stderr(&out));

    assert_eq!(
        std::fs::read(d.join(".gitops/cluster.json")).unwrap(),
        state,
        "the simulated cluster is unchanged"
    );
}

#[test]
fn validate_reports_the_seed_mistakes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-core/tests/fixtures/seed");
    let out = gitops(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["validate", dir.to_str().unwrap()],
    );
    let s = stdout(&out);
    assert!(!out.status.success(), "the seed has errors: {s}");
    assert!(s.contains("04-sync-waves.yaml:"), "{s}");
    assert!(s.contains("argocd.argoproj.io/sync-wave"), "{s}");
    assert!(s.contains("BeforeSyncFinished"), "{s}");
    let v = json(&gitops(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["validate", dir.to_str().unwrap(), "-o", "json"],
    ));
    assert_eq!(v["files"], 11);
    assert!(v["errors"].as_u64().unwrap() > 0);
    let clean = gitops(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "validate",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/seed-repo")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(
        clean.status.success(),
        "the seed repository is clean: {}",
        stdout(&clean)
    );
}

#[test]
fn plan_prints_phases_waves_and_tasks() {
    let (dir, repo) = seed_copy();
    let api = repo.join("argocd/apps/api-app.yaml");
    let out = gitops(dir.path(), &["plan", api.to_str().unwrap()]);
    let s = stdout(&out);
    assert!(out.status.success(), "{s}\n{}", stderr(&out));
    let pre = s.find("PreSync").unwrap();
    let sync = s.find("\nSync\n").unwrap();
    let post = s.find("PostSync").unwrap();
    assert!(pre < sync && sync < post, "{s}");
    assert!(s.contains("hook  batch/Job api/db-migrate"), "{s}");
    assert!(s.contains("apply apps/Deployment api/api (out of sync)"), "{s}");

    let v = json(&gitops(
        dir.path(),
        &["plan", api.to_str().unwrap(), "-o", "json"],
    ));
    let tasks = v["tasks"].as_array().unwrap();
    let first = &tasks[0];
    assert_eq!(
        (first["phase"].as_str(), first["kind"].as_str()),
        (Some("PreSync"), Some("Namespace"))
    );
    let deploy = tasks.iter().find(|t| t["kind"] == "Deployment").unwrap();
    assert_eq!(deploy["group"], "apps");
    assert_eq!(deploy["namespace"], "api");
    assert_eq!(deploy["action"], "apply");
    assert_eq!(deploy["wave"], 0);

    let dot = stdout(&gitops(
        dir.path(),
        &["plan", api.to_str().unwrap(), "--format", "dot"],
    ));
    assert!(
        dot.starts_with("digraph sync {") && dot.contains("cluster_0"),
        "{dot}"
    );
    let mermaid = stdout(&gitops(
        dir.path(),
        &["plan", api.to_str().unwrap(), "--format", "mermaid"],
    ));
    assert!(
        mermaid.starts_with("flowchart LR") && mermaid.contains("w0 --> w1"),
        "{mermaid}"
    );
}

#[test]
fn diff_shows_a_unified_diff_and_exits_1() {
    let (dir, repo) = seed_copy();
    let root = repo.join("argocd/root-app.yaml");
    assert!(
        gitops(dir.path(), &["sync", root.to_str().unwrap()])
            .status
            .success()
    );
    let api = repo.join("argocd/apps/api-app.yaml");
    let clean = gitops(dir.path(), &["diff", api.to_str().unwrap()]);
    assert!(clean.status.success(), "{}", stdout(&clean));
    assert!(stdout(&clean).contains("is in sync"));
    let cm = repo.join("apps/api/configmap.yaml");
    std::fs::write(
        &cm,
        std::fs::read_to_string(&cm)
            .unwrap()
            .replace("LOG_LEVEL: info", "LOG_LEVEL: debug"),
    )
    .unwrap();
    let out = gitops(dir.path(), &["diff", api.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let s = stdout(&out);
    assert!(s.contains("--- live/ConfigMap api/api-config"), "{s}");
    assert!(
        s.contains("-  LOG_LEVEL: info") && s.contains("+  LOG_LEVEL: debug"),
        "{s}"
    );
}

#[test]
fn selective_sync_and_delete() {
    let (dir, repo) = seed_copy();
    let api = repo.join("argocd/apps/api-app.yaml");
    let api = api.to_str().unwrap();
    let out = gitops(
        dir.path(),
        &["sync", api, "--resource", "ConfigMap/api-config", "-o", "json"],
    );
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    let v = json(&out);
    let changed = v["apps"][0]["changed"].as_array().unwrap();
    let objects: Vec<&str> = changed.iter().map(|c| c["object"].as_str().unwrap()).collect();
    // Only the selected resource and the destination namespace (CreateNamespace=true); no hooks.
    assert_eq!(objects, ["Namespace api", "ConfigMap api/api-config"]);
    assert_eq!(v["apps"][0]["sync"], "OutOfSync");
    let bad = gitops(dir.path(), &["sync", api, "--resource", "a/b/c/d/e"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("expected group/Kind/name"),
        "{}",
        stderr(&bad)
    );

    // A full sync, then a cascading delete through the app's resources finalizer.
    assert!(gitops(dir.path(), &["sync", api]).status.success());
    let del = json(&gitops(dir.path(), &["delete", api, "-o", "json"]));
    let deleted = del["apps"][0]["deleted"].to_string();
    assert!(
        deleted.contains("apps/Deployment api/api") && deleted.contains("ConfigMap api/api-config"),
        "{del}"
    );
    let after = json(&gitops(dir.path(), &["plan", api, "-o", "json"]));
    let statuses: Vec<&str> = after["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["status"].as_str())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == "OutOfSync"),
        "everything is gone again: {after}"
    );
}
