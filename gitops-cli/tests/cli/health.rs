//! `gitops health`: objects assessed with the registry, argocd-cm and native configurations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("gitops runs")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn seed_cm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gitops-core/tests/fixtures/seed/05-argocd-cm-health.yaml")
}

const OBJECTS: &str = "\
apiVersion: certmanager.k8s.io/v1alpha1
kind: Certificate
metadata: {name: tls, namespace: web}
status:
  conditions:
    - {type: Ready, status: 'False', message: issuer not found}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: web, generation: 1}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2, updatedReplicas: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: web}
";

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("objects.yaml"), OBJECTS).expect("write");
    dir
}

#[test]
fn health_text_with_argocd_cm() {
    let dir = workdir();
    let cm = seed_cm();
    let o = run(
        dir.path(),
        &["health", "objects.yaml", "--config", cm.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}{}", out(&o), err(&o));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("certmanager.k8s.io/Certificate web/tls"),
        "{text}"
    );
    assert!(
        lines[0].contains("Degraded") && lines[0].ends_with("issuer not found"),
        "{text}"
    );
    assert!(lines[1].starts_with("apps/Deployment web/api"), "{text}");
    assert!(
        lines[1].contains("Progressing")
            && lines[1]
                .ends_with("Waiting for rollout to finish: 1 out of 2 new replicas have been updated..."),
        "{text}"
    );
    assert!(
        lines[2].starts_with("ConfigMap web/settings") && lines[2].trim_end().ends_with('-'),
        "{text}"
    );
}

#[test]
fn health_json_without_config_and_first() {
    let dir = workdir();
    let o = run(dir.path(), &["-o", "json", "health", "objects.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let items = v.as_array().expect("a list");
    assert_eq!(items.len(), 3);
    // Without the seed config, certmanager.k8s.io has no check.
    assert_eq!(
        items[0],
        json!({"object": "certmanager.k8s.io/Certificate web/tls", "status": "", "message": ""})
    );
    assert_eq!(items[1]["status"], "Progressing");
    assert_eq!(items[2]["status"], "");

    let o = run(dir.path(), &["-o", "json", "health", "objects.yaml", "--first"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
}

#[test]
fn health_native_config_overrides_deployment() {
    let dir = workdir();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("scripts/deployment.lua"),
        "return {status = 'Suspended', message = 'replicas ' .. obj.spec.replicas}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("health.yaml"),
        "apiVersion: gitops.rs/v1alpha1\nkind: HealthConfig\nspec:\n  scripts:\n    - group: apps\n      kind: Deployment\n      file: scripts/deployment.lua\n",
    )
    .unwrap();
    let o = run(
        dir.path(),
        &["-o", "json", "health", "objects.yaml", "--config", "health.yaml"],
    );
    assert!(o.status.success(), "{}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[1]["status"], "Suspended");
    assert_eq!(v[1]["message"], "replicas 2");
}

#[test]
fn health_errors_exit_non_zero() {
    let dir = workdir();
    let o = run(dir.path(), &["health", "missing.yaml"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("missing.yaml"), "{}", err(&o));

    std::fs::write(
        dir.path().join("bad-cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata:\n  resource.customizations.health.a_b_C: return {}\n",
    )
    .unwrap();
    let o = run(dir.path(), &["health", "objects.yaml", "--config", "bad-cm.yaml"]);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("resource.customizations.health.a_b_C"),
        "{}",
        err(&o)
    );

    // A script that does not compile is a warning; its kind is Unknown, the exit code 0.
    std::fs::write(
        dir.path().join("broken-cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata:\n  resource.customizations.health.apps_Deployment: 'return {'\n",
    )
    .unwrap();
    let o = run(
        dir.path(),
        &[
            "-o",
            "json",
            "health",
            "objects.yaml",
            "--config",
            "broken-cm.yaml",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("warning: apps/Deployment"), "{}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[1]["status"], "Unknown");
}
