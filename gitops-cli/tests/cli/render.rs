//! `gitops render`: directories and Application files, YAML and JSON, Helm (skipped without helm).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn gitops(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops"))
        .args(args)
        .current_dir(cwd)
        .env_remove("GITOPS_HELM")
        .envs(env.iter().copied())
        .output()
        .expect("gitops runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn seed() -> PathBuf {
    workspace().join("examples/seed-repo")
}

/// `kind/name` of each object of a JSON list.
fn objects(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a JSON list")
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// The YAML documents of `text`, as JSON values.
fn yaml_docs(text: &str) -> Vec<Value> {
    gitops_core::load::parse_yaml_documents(text, "stdout")
        .expect("valid YAML")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

#[test]
fn renders_a_directory_as_yaml_and_json() {
    let dir = seed().join("apps/api");
    let dir = dir.to_str().unwrap();
    let json_out = gitops(&workspace(), &["render", dir, "-o", "json"], &[]);
    assert!(json_out.status.success(), "{}", stderr(&json_out));
    let v: Value = serde_json::from_str(&stdout(&json_out)).unwrap();
    let names = objects(&v);
    // The directory renderer's order: files in lexical order, documents in file order.
    assert_eq!(
        names.first().map(String::as_str),
        Some("ConfigMap/api-config"),
        "{names:?}"
    );
    assert!(names.contains(&"Deployment/api".to_owned()), "{names:?}");
    assert!(names.contains(&"Job/db-migrate".to_owned()), "{names:?}");

    let yaml_out = gitops(&workspace(), &["render", dir], &[]);
    assert!(yaml_out.status.success(), "{}", stderr(&yaml_out));
    let text = stdout(&yaml_out);
    assert_eq!(text.matches("\n---\n").count(), names.len() - 1, "{text}");
    assert_eq!(Value::Array(yaml_docs(&text)), v, "YAML and JSON agree");
    let aliased = gitops(&workspace(), &["render", dir, "-o", "yaml"], &[]);
    assert_eq!(stdout(&aliased), text);

    // Forcing the type the directory has anyway changes nothing.
    let forced = gitops(&workspace(), &["render", "--directory", dir, "-o", "json"], &[]);
    assert_eq!(stdout(&forced), stdout(&json_out));
}

#[test]
fn renders_an_application_file_like_its_directory() {
    let app = seed().join("argocd/apps/api-app.yaml");
    let from_app = gitops(
        &workspace(),
        &["render", app.to_str().unwrap(), "-o", "json"],
        &[],
    );
    assert!(from_app.status.success(), "{}", stderr(&from_app));
    let dir = gitops(
        &workspace(),
        &["render", seed().join("apps/api").to_str().unwrap(), "-o", "json"],
        &[],
    );
    assert_eq!(stdout(&from_app), stdout(&dir));

    let bad = gitops(&workspace(), &["render", app.to_str().unwrap(), "--helm"], &[]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("apply to a directory"), "{}", stderr(&bad));
}

#[test]
fn errors_are_reported() {
    let missing = gitops(&workspace(), &["render", "no/such/dir"], &[]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no/such/dir"), "{}", stderr(&missing));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n",
    )
    .unwrap();
    let out = gitops(dir.path(), &["render", ".", "-o", "json"], &[]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("bad.yaml"), "{v}");
}

#[test]
fn renders_with_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("app/env.txt"), "x\n").unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata: {name: echo}\n\
         spec:\n  discover: {fileName: env.txt}\n  generate:\n    command: [sh, -c]\n    args:\n      - |\n        \
         printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: %s\\n' \"$ARGOCD_APP_NAME\"\n",
    )
    .unwrap();
    let out = gitops(
        dir.path(),
        &[
            "render",
            "app",
            "--plugin",
            "plugin.yaml",
            "--name",
            "demo",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(objects(&v), ["ConfigMap/demo"]);
}

/// A `helm` for the test: `GITOPS_HELM`, `helm` on `PATH`, or the shim `.ci/setup-helm` writes.
fn helm() -> Option<PathBuf> {
    let found = std::env::var_os("GITOPS_HELM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("helm"))
                    .find(|p| p.is_file())
            })
        })
        .or_else(|| {
            let shim = workspace().join("target/helm-shim/helm");
            shim.is_file().then_some(shim)
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no helm: CI must run .ci/setup-helm (or set GITOPS_HELM) before the tests"
        );
        eprintln!("skipping: no helm (run .ci/setup-helm)");
    }
    found
}

#[test]
fn renders_a_helm_chart() {
    let Some(helm) = helm() else { return };
    let helm = helm.to_str().unwrap();
    let fixtures = workspace().join("gitops-render/tests/fixtures/helm");
    let chart = fixtures.join("repo/charts/demo");
    let out = gitops(
        &workspace(),
        &[
            "render",
            chart.to_str().unwrap(),
            "--name",
            "demo-app",
            "--dest-namespace",
            "shop",
            "-o",
            "json",
        ],
        &[("GITOPS_HELM", helm)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        objects(&v),
        [
            "CustomResourceDefinition/widgets.example.com",
            "ConfigMap/demo-app-demo",
            "Deployment/demo-app-demo",
            "Pod/demo-app-demo-test",
        ]
    );
    assert_eq!(v[1]["metadata"]["namespace"], "shop");

    // A multi-source Application: the chart with a value file from a `ref` source.
    let dir = tempfile::tempdir().unwrap();
    let app = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: shop, namespace: argocd}}\n\
         spec:\n  project: default\n  destination: {{server: https://kubernetes.default.svc, namespace: shop}}\n  sources:\n\
         \x20   - repoURL: {repo}\n      path: charts/demo\n      helm:\n        skipTests: true\n        valueFiles: [$values/envs/prod.yaml]\n\
         \x20   - repoURL: {values}\n      ref: values\n",
        repo = fixtures.join("repo").display(),
        values = fixtures.join("values-repo").display(),
    );
    std::fs::write(dir.path().join("app.yaml"), app).unwrap();
    let out = gitops(
        dir.path(),
        &["render", "app.yaml", "-o", "json"],
        &[("GITOPS_HELM", helm)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        objects(&v),
        [
            "CustomResourceDefinition/widgets.example.com",
            "ConfigMap/shop-demo",
            "Deployment/shop-demo",
        ]
    );
    assert_eq!(v[1]["data"]["greeting"], "from-ref");

    // Without helm, the error says what to install.
    let out = gitops(
        &workspace(),
        &["render", chart.to_str().unwrap()],
        &[("GITOPS_HELM", "/nonexistent/helm")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains(".ci/setup-helm"), "{}", stderr(&out));
}
