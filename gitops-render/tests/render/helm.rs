//! The Helm renderer: a fake `helm` (always) pins the exact command line and environment; a real
//! one (`GITOPS_HELM`, `PATH`, or the shim `.ci/setup-helm` writes) renders the fixture chart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_core::engine::{
    AppContext, EngineError, ErrorKind, RenderInput, Renderer, SharedSourceTree, SourceTree, TreeEntry,
};
use gitops_core::model::{ApplicationSource, HelmFileParameter, HelmParameter, SourceHelm};
use gitops_render::helm::HelmRenderer;
use gitops_render::{FsTree, SourceRenderer};

use super::temp_repo;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm")
}

fn repo() -> FsTree {
    FsTree::open(fixtures().join("repo"), "0123456789abcdef0123").expect("fixture repository")
}

const CHART: &str = "charts/demo";

/// A `helm` to run, or `None` (after saying why) when there is none and this is not CI.
fn real_helm() -> Option<PathBuf> {
    let from_env = std::env::var_os("GITOPS_HELM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("helm"))
            .find(|p| p.is_file())
    });
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/helm-shim/helm");
    let found = from_env.or(on_path).or_else(|| shim.is_file().then_some(shim));
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no helm: CI must run .ci/setup-helm (or set GITOPS_HELM) before the tests"
        );
        eprintln!("skipping: no helm (run .ci/setup-helm)");
    }
    found
}

fn app() -> AppContext {
    AppContext::new("guestbook", "argocd", "default", "web")
}

fn helm_source(helm: SourceHelm) -> ApplicationSource {
    ApplicationSource {
        repo_url: "https://example.com/charts.git".into(),
        path: Some(CHART.into()),
        target_revision: Some("main".into()),
        helm: Some(helm),
        ..Default::default()
    }
}

fn render(
    r: &HelmRenderer,
    tree: &dyn SourceTree,
    path: &str,
    source: &ApplicationSource,
) -> Result<Vec<Object>, EngineError> {
    let app = app();
    r.render(&RenderInput::new(&app, source, tree, path))
}

fn kinds_names(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .map(|o| format!("{}/{}", o.kind(), o.name()))
        .collect()
}

fn find<'a>(objects: &'a [Object], kind: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds_names(objects)))
}

fn data<'a>(cm: &'a Object, key: &str) -> &'a str {
    cm.pointer(&format!("/data/{key}"))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no data.{key} in {:?}", cm.as_value()))
}

// ---------------------------------------------------------------- with a real helm

#[test]
fn chart_renders_with_value_files_parameters_and_values_object() {
    let Some(helm) = real_helm() else { return };
    let r = HelmRenderer::new().with_binary(helm);
    let source = helm_source(SourceHelm {
        value_files: vec!["env/prod.yaml".into(), "../../values/shared.yaml".into()],
        values_object: Some(serde_json::json!({"greeting": "from-values-object", "color": "ignored"})),
        parameters: vec![
            HelmParameter {
                name: "color".into(),
                value: "$ARGOCD_APP_NAME-purple".into(),
                force_string: false,
            },
            HelmParameter {
                name: "port".into(),
                value: "8080".into(),
                force_string: true,
            },
        ],
        kube_version: Some("v1.29.0".into()),
        api_versions: vec!["example.com/v1".into()],
        ..Default::default()
    });
    let objects = render(&r, &repo(), CHART, &source).unwrap();
    // CRDs first, then helm's install order, then hooks.
    assert_eq!(
        kinds_names(&objects),
        [
            "CustomResourceDefinition/widgets.example.com",
            "ConfigMap/guestbook-demo",
            "Deployment/guestbook-demo",
            "Pod/guestbook-demo-test",
        ]
    );
    let cm = find(&objects, "ConfigMap");
    assert_eq!(
        cm.namespace(),
        Some("web"),
        "release namespace = destination namespace"
    );
    assert_eq!(cm.label("app.kubernetes.io/instance"), Some("guestbook"));
    // parameters > valuesObject > value files (later wins) > chart values.
    assert_eq!(data(cm, "color"), "guestbook-purple");
    assert_eq!(data(cm, "greeting"), "from-values-object");
    assert_eq!(data(cm, "port"), "8080");
    assert_eq!(data(cm, "kubeVersion"), "v1.29.0");
    assert_eq!(data(cm, "hasWidgets"), "true");
    let deploy = find(&objects, "Deployment");
    assert_eq!(deploy.pointer("/spec/replicas"), Some(&serde_json::json!(3)));
    assert_eq!(
        deploy.pointer("/spec/template/spec/containers/0/image"),
        Some(&serde_json::json!("nginx:1.25"))
    );
}

#[test]
fn skip_crds_skip_tests_release_name_and_namespace() {
    let Some(helm) = real_helm() else { return };
    let r = HelmRenderer::new().with_binary(helm);
    let source = helm_source(SourceHelm {
        skip_crds: true,
        skip_tests: true,
        release_name: Some("rel".into()),
        namespace: Some("other".into()),
        values: Some("greeting: from-values\n".into()),
        ..Default::default()
    });
    let objects = render(&r, &repo(), CHART, &source).unwrap();
    assert_eq!(
        kinds_names(&objects),
        ["ConfigMap/rel-demo", "Deployment/rel-demo"]
    );
    let cm = find(&objects, "ConfigMap");
    assert_eq!(cm.namespace(), Some("other"));
    assert_eq!(data(cm, "greeting"), "from-values");
    assert_eq!(data(cm, "color"), "blue", "chart default");
}

#[test]
fn chart_is_detected_by_the_source_renderer() {
    let Some(helm) = real_helm() else { return };
    let renderer = SourceRenderer::new().with(Arc::new(HelmRenderer::new().with_binary(helm)));
    let source = ApplicationSource {
        repo_url: "./".into(),
        path: Some(CHART.into()),
        ..Default::default()
    };
    let app = AppContext::new("auto", "argocd", "default", "");
    let (ty, objects) = renderer
        .render_detected(&RenderInput::new(&app, &source, &repo(), CHART))
        .unwrap();
    assert_eq!(ty.as_str(), "Helm");
    let cm = find(&objects, "ConfigMap");
    assert_eq!(cm.name(), "auto-demo");
    // No destination namespace: helm's default.
    assert_eq!(cm.namespace(), Some("default"));
}

#[test]
fn ref_value_files_come_from_the_referenced_tree() {
    let Some(helm) = real_helm() else { return };
    let r = HelmRenderer::new().with_binary(helm);
    let values: SharedSourceTree = Arc::new(FsTree::open(fixtures().join("values-repo"), "local").unwrap());
    let refs = HashMap::from([("values".to_owned(), values.clone())]);
    let source = helm_source(SourceHelm {
        value_files: vec!["env/prod.yaml".into(), "$values/envs/prod.yaml".into()],
        ..Default::default()
    });
    let app = app();
    let tree = repo();
    let input = RenderInput::new(&app, &source, &tree, CHART);
    let objects = r.render_with_refs(&input, &refs).unwrap();
    let cm = find(&objects, "ConfigMap");
    assert_eq!(data(cm, "greeting"), "from-ref");
    assert_eq!(data(cm, "color"), "red");
    let deploy = find(&objects, "Deployment");
    assert_eq!(
        deploy.pointer("/spec/template/spec/containers/0/image"),
        Some(&serde_json::json!("nginx:2.0"))
    );

    // The same with a ref tree that has no directory on disk.
    let refs = HashMap::from([(
        "$values".to_owned(),
        Arc::new(NotOnDisk(
            FsTree::open(fixtures().join("values-repo"), "local").unwrap(),
        )) as SharedSourceTree,
    )]);
    let objects = r.render_with_refs(&input, &refs).unwrap();
    assert_eq!(data(find(&objects, "ConfigMap"), "greeting"), "from-ref");
}

#[test]
fn trees_without_a_local_root_are_copied() {
    let Some(helm) = real_helm() else { return };
    let r = HelmRenderer::new().with_binary(helm);
    let source = helm_source(SourceHelm {
        value_files: vec!["../../values/shared.yaml".into()],
        ..Default::default()
    });
    let objects = render(&r, &NotOnDisk(repo()), CHART, &source).unwrap();
    assert_eq!(objects.len(), 4);
    assert_eq!(data(find(&objects, "ConfigMap"), "color"), "green");
}

#[test]
fn template_errors_carry_helm_stderr() {
    let Some(helm) = real_helm() else { return };
    let dir = temp_repo(&[
        ("bad/Chart.yaml", "apiVersion: v2\nname: bad\nversion: 0.1.0\n"),
        (
            "bad/templates/cm.yaml",
            "kind: ConfigMap\nname: {{ .Values.x.y.z }\n",
        ),
    ]);
    let tree = FsTree::open(dir.path(), "local").unwrap();
    let source = helm_source(SourceHelm::default());
    let e = render(&HelmRenderer::new().with_binary(helm), &tree, "bad", &source).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().starts_with("helm template in bad failed"), "{e}");
    assert!(e.to_string().contains("cm.yaml"), "{e}");
}

// ---------------------------------------------------------------- with a fake helm

/// A `helm` script that records its arguments, working directory and `ARGOCD_*` environment
/// in `<dir>/calls` and prints one ConfigMap (or does what `body` says).
fn fake_helm(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("fake-helm");
    let log = dir.join("calls");
    let script = format!(
        "#!/bin/sh\n\
         {{ for a in \"$@\"; do printf 'arg=%s\\n' \"$a\"; done; printf 'cwd=%s\\n' \"$PWD\"; \
         env | grep '^ARGOCD_' | sort; }} > '{}'\n{body}\n",
        log.display()
    );
    std::fs::write(&path, script).expect("write the fake helm");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("make it executable");
    }
    path
}

const PRINT_CM: &str = "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: from-fake\\n'";

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .expect("the fake helm ran")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn args_of(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("arg=").map(str::to_owned))
        .collect()
}

#[test]
fn fake_helm_sees_argo_cds_exact_command_line_and_env() {
    let work = tempfile::tempdir().unwrap();
    let helm = fake_helm(work.path(), PRINT_CM);
    let root = repo().root().to_path_buf();
    let r = HelmRenderer::new()
        .with_binary(&helm)
        .with_kube_version("v1.30.1")
        .with_api_versions(vec!["cluster.example.com/v1".into()]);
    let source = helm_source(SourceHelm {
        value_files: vec![
            "env/prod*.yaml".into(),
            "env/prod.yaml".into(),
            "$ARGOCD_APP_NAME.yaml".into(),
        ],
        ignore_missing_value_files: true,
        values: Some("a: 1\n".into()),
        parameters: vec![
            HelmParameter {
                name: "image.tag".into(),
                value: "v1,$ARGOCD_APP_REVISION_SHORT".into(),
                force_string: true,
            },
            HelmParameter {
                name: "list".into(),
                value: "{a,b}".into(),
                force_string: false,
            },
        ],
        file_parameters: vec![HelmFileParameter {
            name: "config".into(),
            path: "../../values/shared.yaml".into(),
        }],
        skip_schema_validation: true,
        skip_tests: true,
        ..Default::default()
    });
    let objects = render(&r, &repo(), CHART, &source).unwrap();
    assert_eq!(kinds_names(&objects), ["ConfigMap/from-fake"]);
    let lines = calls(work.path());
    let args = args_of(&lines);
    let chart = root.join(CHART);
    let values_tmp = args
        .iter()
        .rfind(|a| a.ends_with("values.yaml"))
        .cloned()
        .unwrap();
    assert_eq!(
        args,
        [
            "template",
            ".",
            "--name-template",
            "guestbook",
            "--namespace",
            "web",
            "--kube-version",
            "v1.30.1",
            "--set",
            "list={a,b}",
            "--set-string",
            "image.tag=v1\\,0123456",
            "--set-file",
            &format!("config={}", root.join("values/shared.yaml").display()),
            // The glob in lexical order, leaving out the explicitly listed file…
            "--values",
            &chart.join("env/prod-b.yaml").display().to_string(),
            // …which keeps its own position; guestbook.yaml is missing and ignored.
            "--values",
            &chart.join("env/prod.yaml").display().to_string(),
            "--values",
            &values_tmp,
            "--api-versions",
            "cluster.example.com/v1",
            "--include-crds",
            "--skip-schema-validation",
            "--skip-tests",
        ]
    );
    assert!(lines.contains(&format!("cwd={}", chart.display())), "{lines:?}");
    for expected in [
        "ARGOCD_APP_NAME=guestbook",
        "ARGOCD_APP_NAMESPACE=web",
        "ARGOCD_APP_PROJECT_NAME=default",
        "ARGOCD_APP_REVISION=0123456789abcdef0123",
        "ARGOCD_APP_REVISION_SHORT=0123456",
        "ARGOCD_APP_REVISION_SHORT_8=01234567",
        "ARGOCD_APP_SOURCE_PATH=charts/demo",
        "ARGOCD_APP_SOURCE_REPO_URL=https://example.com/charts.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION=main",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected} in {lines:?}");
    }
    assert!(
        !Path::new(&values_tmp).exists(),
        "the values file is removed afterwards"
    );
}

#[test]
fn source_settings_override_cluster_settings_and_values_object_wins() {
    let work = tempfile::tempdir().unwrap();
    let helm = fake_helm(
        work.path(),
        &format!(
            "prev=; for a in \"$@\"; do [ \"$prev\" = --values ] && cat \"$a\" > '{}/values'; prev=$a; done; {PRINT_CM}",
            work.path().display()
        ),
    );
    let r = HelmRenderer::new()
        .with_binary(&helm)
        .with_kube_version("v1.30.1")
        .with_api_versions(vec!["cluster.example.com/v1".into()]);
    let source = helm_source(SourceHelm {
        values: Some("ignored: true\n".into()),
        values_object: Some(serde_json::json!({"obj": {"x": 1}})),
        kube_version: Some("v1.28.0".into()),
        api_versions: vec!["app.example.com/v1".into()],
        skip_crds: true,
        ..Default::default()
    });
    render(&r, &repo(), CHART, &source).unwrap();
    let args = args_of(&calls(work.path()));
    let at = |flag: &str| args.iter().position(|a| a == flag).map(|i| args[i + 1].clone());
    assert_eq!(at("--kube-version").as_deref(), Some("v1.28.0"));
    assert_eq!(at("--api-versions").as_deref(), Some("app.example.com/v1"));
    assert!(!args.contains(&"--include-crds".to_owned()));
    // The script saved the values file.
    let values = std::fs::read_to_string(work.path().join("values")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&values).unwrap();
    assert_eq!(v, serde_json::json!({"obj": {"x": 1}}));
}

#[test]
fn ref_value_files_need_refs() {
    let work = tempfile::tempdir().unwrap();
    let r = HelmRenderer::new().with_binary(fake_helm(work.path(), PRINT_CM));
    let source = helm_source(SourceHelm {
        value_files: vec!["$values/envs/prod.yaml".into()],
        ..Default::default()
    });
    let e = render(&r, &repo(), CHART, &source).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("no ref sources were given"), "{e}");
    assert!(e.to_string().contains("render_with_refs"), "{e}");

    let other: SharedSourceTree = Arc::new(FsTree::open(fixtures().join("values-repo"), "local").unwrap());
    let refs = HashMap::from([("config".to_owned(), other.clone())]);
    let app = app();
    let tree = repo();
    let input = RenderInput::new(&app, &source, &tree, CHART);
    let e = r.render_with_refs(&input, &refs).unwrap_err();
    assert!(
        e.to_string().contains("no source has ref values (refs: config)"),
        "{e}"
    );

    // Escaping the referenced tree is refused too.
    let refs = HashMap::from([("values".to_owned(), other)]);
    let escape = helm_source(SourceHelm {
        value_files: vec!["$values/../repo/values/shared.yaml".into()],
        ..Default::default()
    });
    let input = RenderInput::new(&app, &escape, &tree, CHART);
    let e = r.render_with_refs(&input, &refs).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
}

#[test]
fn value_files_must_stay_in_the_repository() {
    let work = tempfile::tempdir().unwrap();
    let r = HelmRenderer::new().with_binary(fake_helm(work.path(), PRINT_CM));
    for bad in ["../../../../etc/passwd", "/etc/passwd", "env/../../../../x.yaml"] {
        let source = helm_source(SourceHelm {
            value_files: vec![bad.into()],
            ignore_missing_value_files: true,
            ..Default::default()
        });
        let e = render(&r, &repo(), CHART, &source).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{bad}: {e}");
        assert!(e.to_string().contains(bad), "{e}");
    }
    let file_param = helm_source(SourceHelm {
        file_parameters: vec![HelmFileParameter {
            name: "x".into(),
            path: "../../../secret".into(),
        }],
        ..Default::default()
    });
    assert_eq!(
        render(&r, &repo(), CHART, &file_param).unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    assert!(!work.path().join("calls").exists(), "helm never ran");

    // A symbolic link to outside the repository.
    #[cfg(unix)]
    {
        let outside = temp_repo(&[("secret.yaml", "password: hunter2\n")]);
        let repo = temp_repo(&[("chart/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")]);
        std::os::unix::fs::symlink(
            outside.path().join("secret.yaml"),
            repo.path().join("chart/values-link.yaml"),
        )
        .unwrap();
        let tree = FsTree::open(repo.path(), "local").unwrap();
        let source = helm_source(SourceHelm {
            value_files: vec!["values-link.yaml".into()],
            ..Default::default()
        });
        let e = render(&r, &tree, "chart", &source).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
        assert!(!e.to_string().contains("hunter2"));
    }
}

#[test]
fn missing_value_files_and_remote_ones() {
    let work = tempfile::tempdir().unwrap();
    let r = HelmRenderer::new().with_binary(fake_helm(work.path(), PRINT_CM));
    let missing = helm_source(SourceHelm {
        value_files: vec!["nope.yaml".into()],
        ..Default::default()
    });
    let e = render(&r, &repo(), CHART, &missing).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "values file nope.yaml does not exist in the repository"
    );
    let remote = helm_source(SourceHelm {
        value_files: vec!["https://example.com/values.yaml".into()],
        ..Default::default()
    });
    assert_eq!(
        render(&r, &repo(), CHART, &remote).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[test]
fn no_helm_says_what_to_install() {
    let r = HelmRenderer::new().with_binary("/nonexistent/helm");
    let e = render(&r, &repo(), CHART, &helm_source(SourceHelm::default())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let msg = e.to_string();
    assert!(msg.contains("/nonexistent/helm was not found"), "{msg}");
    assert!(msg.contains("install helm 3.x"), "{msg}");
    assert!(
        msg.contains("GITOPS_HELM") && msg.contains(".ci/setup-helm"),
        "{msg}"
    );
    let e = HelmRenderer::new()
        .with_binary("no-such-helm-binary")
        .find_binary()
        .unwrap_err();
    assert!(e.to_string().contains("no-such-helm-binary on PATH"), "{e}");
}

#[test]
fn failures_and_timeouts() {
    let work = tempfile::tempdir().unwrap();
    let failing = fake_helm(work.path(), "echo 'Error: template: boom' >&2; exit 1");
    let e = render(
        &HelmRenderer::new().with_binary(failing),
        &repo(),
        CHART,
        &helm_source(SourceHelm::default()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.to_string().starts_with("helm template in charts/demo failed"),
        "{e}"
    );
    assert!(e.to_string().ends_with("Error: template: boom"), "{e}");

    let garbage = fake_helm(work.path(), "echo 'kind: [unclosed'");
    let e = render(
        &HelmRenderer::new().with_binary(garbage),
        &repo(),
        CHART,
        &helm_source(SourceHelm::default()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.to_string().contains("helm template output for charts/demo"),
        "{e}"
    );

    let slow = fake_helm(work.path(), "sleep 30");
    let started = Instant::now();
    let e = render(
        &HelmRenderer::new()
            .with_binary(slow)
            .with_timeout(Duration::from_millis(300)),
        &repo(),
        CHART,
        &helm_source(SourceHelm::default()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn chart_lock_created_by_the_run_is_removed() {
    let work = tempfile::tempdir().unwrap();
    let repo = temp_repo(&[("chart/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")]);
    let helm = fake_helm(work.path(), &format!("touch Chart.lock; {PRINT_CM}"));
    let tree = FsTree::open(repo.path(), "local").unwrap();
    render(
        &HelmRenderer::new().with_binary(helm),
        &tree,
        "chart",
        &helm_source(SourceHelm::default()),
    )
    .unwrap();
    assert!(!repo.path().join("chart/Chart.lock").exists());
}

#[test]
fn supports_explicit_and_detected_charts() {
    let r = HelmRenderer::new();
    let app = app();
    let tree = repo();
    let plain = ApplicationSource::default();
    assert!(r.supports(&RenderInput::new(&app, &plain, &tree, CHART)));
    assert!(!r.supports(&RenderInput::new(&app, &plain, &tree, "values")));
    let explicit = helm_source(SourceHelm::default());
    assert!(r.supports(&RenderInput::new(&app, &explicit, &tree, "values")));
    assert_eq!(r.name(), "Helm");
}

/// A tree that hides its directory on disk.
struct NotOnDisk(FsTree);

impl SourceTree for NotOnDisk {
    fn revision(&self) -> &str {
        self.0.revision()
    }
    fn read_dir(&self, path: &str) -> Result<Vec<TreeEntry>, EngineError> {
        self.0.read_dir(path)
    }
    fn read_file(&self, path: &str) -> Result<Vec<u8>, EngineError> {
        self.0.read_file(path)
    }
}
