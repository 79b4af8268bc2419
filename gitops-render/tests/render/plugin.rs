//! Config-management plugins: `plugin.yaml` parsing, selection by name and by discovery, the
//! environment, init/generate, errors and timeouts — with tiny `sh` plugins.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_core::engine::{AppContext, EngineError, ErrorKind, RenderInput, Renderer};
use gitops_core::model::{ApplicationSource, EnvEntry, SourcePlugin};
use gitops_render::plugin::{PluginConfig, PluginRenderer};
use gitops_render::{FsTree, SourceRenderer};

use super::temp_repo;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugin")
}

fn plugin(name: &str, spec: &str) -> PluginConfig {
    PluginConfig::from_yaml(&format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata:\n  name: {name}\nspec:\n{spec}"
    ))
    .expect("a valid plugin.yaml")
}

/// A plugin whose generate prints a ConfigMap named `name` with `data` lines (`k: "$VAR"`,
/// expanded by the shell).
fn cm_plugin(name: &str, discover: &str, data: &[&str]) -> PluginConfig {
    let mut script = format!(
        "        cat <<EOF\n        apiVersion: v1\n        kind: ConfigMap\n        metadata:\n          name: {name}\n        data:\n"
    );
    for d in data {
        script.push_str(&format!("          {d}\n"));
    }
    script.push_str("        EOF\n");
    plugin(
        name,
        &format!("  generate:\n    command: [sh, -c]\n    args:\n      - |\n{script}{discover}"),
    )
}

fn app() -> AppContext {
    AppContext::new("guestbook", "argocd", "team", "web")
}

fn named(name: &str) -> ApplicationSource {
    ApplicationSource {
        repo_url: "https://example.com/repo.git".into(),
        path: Some("app".into()),
        target_revision: Some("main".into()),
        plugin: Some(SourcePlugin {
            name: Some(name.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn render(
    r: &dyn Renderer,
    tree: &FsTree,
    path: &str,
    source: &ApplicationSource,
) -> Result<Vec<Object>, EngineError> {
    let app = app();
    r.render(&RenderInput::new(&app, source, tree, path))
}

fn data<'a>(o: &'a Object, key: &str) -> &'a str {
    o.pointer(&format!("/data/{key}"))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no data.{key} in {:?}", o.as_value()))
}

#[test]
fn plugin_yaml_is_parsed_and_checked() {
    let p = PluginConfig::load_file(fixtures().join("plugin.yaml")).unwrap();
    assert_eq!(p.name, "cat-manifests");
    assert_eq!(p.full_name(), "cat-manifests-v1.0");
    assert_eq!(p.init.as_ref().unwrap().command, ["sh", "-c"]);
    assert_eq!(p.generate.command, ["sh", "-c"]);
    assert_eq!(p.discover.file_name.as_deref(), Some("./manifests.txt"));
    assert!(p.discover.is_configured());
    assert!(p.parameters.is_some());
    assert!(!p.preserve_file_mode);

    let bad = |yaml: &str| PluginConfig::from_yaml(yaml).unwrap_err().to_string();
    assert!(
        bad("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
            .contains("kind should be ConfigManagementPlugin"),
    );
    assert!(
        bad("kind: ConfigManagementPlugin\nspec: {generate: {command: [sh]}}\n")
            .contains("metadata.name should be non-empty")
    );
    assert!(
        bad("kind: ConfigManagementPlugin\nmetadata: {name: x}\nspec: {}\n")
            .contains("spec.generate.command should be non-empty")
    );
    assert!(
        bad("kind: ConfigManagementPlugin\nmetadata: {name: x}\nspec: {generate: {command: sh}}\n")
            .contains("spec.generate.command should be a list of strings")
    );
}

#[test]
fn named_plugin_gets_argo_cds_environment() {
    let repo = temp_repo(&[("app/readme.txt", "hi\n")]);
    let tree = FsTree::open(repo.path(), "0123456789abcdef").unwrap();
    let p = cm_plugin(
        "env",
        "  version: v2\n",
        &[
            "name: \"$ARGOCD_APP_NAME\"",
            "ns: \"$ARGOCD_APP_NAMESPACE\"",
            "project: \"$ARGOCD_APP_PROJECT_NAME\"",
            "rev: \"$ARGOCD_APP_REVISION_SHORT\"",
            "path: \"$ARGOCD_APP_SOURCE_PATH\"",
            "repo: \"$ARGOCD_APP_SOURCE_REPO_URL\"",
            "target: \"$ARGOCD_APP_SOURCE_TARGET_REVISION\"",
            "foo: \"$ARGOCD_ENV_FOO\"",
            "kube: \"$KUBE_VERSION/$KUBE_API_VERSIONS\"",
            "tag: \"$PARAM_IMAGE_TAG\"",
            "first: \"$PARAM_HOSTS_0\"",
            "key: \"$PARAM_LABELS_TEAM_NAME\"",
            "params: '$ARGOCD_APP_PARAMETERS'",
            "cwd: \"$(basename $PWD)\"",
        ],
    );
    let r = PluginRenderer::new(vec![p])
        .with_kube_version("1.30.0")
        .with_api_versions(vec!["v1".into(), "apps/v1".into()]);
    let mut source = named("env-v2");
    source.plugin = Some(SourcePlugin {
        name: Some("env-v2".into()),
        env: vec![EnvEntry {
            name: "FOO".into(),
            value: "${ARGOCD_APP_NAME}-bar".into(),
        }],
        parameters: vec![
            serde_json::json!({"name": "image-tag", "string": "v1"}),
            serde_json::json!({"name": "hosts", "array": ["a.example.com"]}),
            serde_json::json!({"name": "labels", "map": {"team.name": "blue"}}),
        ],
    });
    let objects = render(&r, &tree, "app", &source).unwrap();
    assert_eq!(objects.len(), 1);
    let cm = &objects[0];
    assert_eq!(cm.name(), "env");
    for (k, v) in [
        ("name", "guestbook"),
        ("ns", "web"),
        ("project", "team"),
        ("rev", "0123456"),
        ("path", "app"),
        ("repo", "https://example.com/repo.git"),
        ("target", "main"),
        ("foo", "guestbook-bar"),
        ("kube", "1.30.0/v1,apps/v1"),
        ("tag", "v1"),
        ("first", "a.example.com"),
        ("key", "blue"),
        ("cwd", "app"),
    ] {
        assert_eq!(data(cm, k), v, "{k}");
    }
    let params: serde_json::Value = serde_json::from_str(data(cm, "params")).unwrap();
    assert_eq!(
        params,
        serde_json::json!([
            {"name": "image-tag", "string": "v1"},
            {"array": ["a.example.com"], "name": "hosts"},
            {"map": {"team.name": "blue"}, "name": "labels"},
        ])
    );
}

#[test]
fn init_runs_first_in_a_copy_of_the_repository() {
    let repo = temp_repo(&[
        ("app/manifests.txt", "base/cm.yaml\n"),
        (
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-base}\n",
        ),
    ]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let p = PluginConfig::load_file(fixtures().join("plugin.yaml")).unwrap();
    let r = PluginRenderer::new(vec![p]);
    let objects = render(&r, &tree, "app", &named("cat-manifests-v1.0")).unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["from-base", "from-init"]);
    assert!(
        !repo.path().join("app/init.yaml").exists(),
        "the repository is untouched"
    );

    // The plain name does not select a versioned plugin.
    let e = render(&r, &tree, "app", &named("cat-manifests")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(
        e.to_string(),
        "config management plugin cat-manifests is not configured (configured: cat-manifests-v1.0)"
    );
}

#[test]
fn discovery_by_file_name_glob_and_command() {
    let repo = temp_repo(&[
        ("by-file/config.jsonnet", "{}\n"),
        ("by-glob/deep/er/env.cue", "x: 1\n"),
        ("by-command/marker", "yes\n"),
        (
            "plain/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
        ),
        ("kustomized/kustomization.yaml", "resources: []\n"),
        ("kustomized/main.jsonnet", "{}\n"),
    ]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let plugins = vec![
        cm_plugin("named-only", "", &[]),
        cm_plugin("jsonnet", "  discover:\n    fileName: \"./*.jsonnet\"\n", &[]),
        cm_plugin("cue", "  discover:\n    find:\n      glob: \"**/*.cue\"\n", &[]),
        cm_plugin(
            "marker",
            "  discover:\n    find:\n      command: [sh, -c, \"ls marker 2>/dev/null\"]\n",
            &[],
        ),
    ];
    let r = PluginRenderer::new(plugins);
    let renderer = SourceRenderer::new().with(Arc::new(r.clone()));
    let app = app();
    let none = ApplicationSource::default();
    for (path, expected) in [
        ("by-file", "jsonnet"),
        ("by-glob", "cue"),
        ("by-command", "marker"),
        ("kustomized", "jsonnet"), // a discovering plugin wins over kustomization.yaml
    ] {
        let input = RenderInput::new(&app, &none, &tree, path);
        assert_eq!(
            r.discover(&input).map(|p| p.name.as_str()),
            Some(expected),
            "{path}"
        );
        assert!(r.supports(&input), "{path}");
        let (ty, objects) = renderer.render_detected(&input).unwrap();
        assert_eq!(ty.as_str(), "Plugin", "{path}");
        assert_eq!(objects[0].name(), expected, "{path}");
    }
    // `fileName` does not look into subdirectories; nothing discovers `plain`.
    let input = RenderInput::new(&app, &none, &tree, "plain");
    assert!(r.discover(&input).is_none());
    assert!(!r.supports(&input));
    let (ty, objects) = renderer.render_detected(&input).unwrap();
    assert_eq!(ty.as_str(), "Directory");
    assert_eq!(objects[0].name(), "plain");

    // An explicit plugin block without a name uses discovery too.
    let unnamed = ApplicationSource {
        plugin: Some(SourcePlugin::default()),
        ..Default::default()
    };
    let objects = render(&r, &tree, "by-glob", &unnamed).unwrap();
    assert_eq!(objects[0].name(), "cue");
    let e = render(&r, &tree, "plain", &unnamed).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .starts_with("no config management plugin discovers the source at plain"),
        "{e}"
    );
    // Another explicit type: the plugin does not take it.
    let dir = ApplicationSource {
        directory: Some(Default::default()),
        ..Default::default()
    };
    assert!(!r.supports(&RenderInput::new(&app, &dir, &tree, "by-file")));
}

#[test]
fn failures_output_errors_and_timeouts() {
    let repo = temp_repo(&[("app/x", "")]);
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let failing = plugin(
        "fail",
        "  generate:\n    command: [sh, -c, \"echo 'something broke' >&2; exit 3\"]\n",
    );
    let garbage = plugin(
        "garbage",
        "  generate:\n    command: [sh, -c, \"echo 'kind: [x'\"]\n",
    );
    let init_fails = plugin(
        "init-fails",
        "  init:\n    command: [sh, -c, \"echo no deps >&2; exit 1\"]\n  generate:\n    command: [\"true\"]\n",
    );
    let missing = plugin("missing", "  generate:\n    command: [/nonexistent/tool]\n");
    let slow = plugin("slow", "  generate:\n    command: [sh, -c, \"sleep 30\"]\n");
    let r = PluginRenderer::new(vec![failing, garbage, init_fails, missing, slow])
        .with_timeout(Duration::from_millis(300));

    let e = render(&r, &tree, "app", &named("fail")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.to_string()
            .starts_with("plugin fail: the generate command failed"),
        "{e}"
    );
    assert!(e.to_string().ends_with("something broke"), "{e}");

    let e = render(&r, &tree, "app", &named("garbage")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().starts_with("output of plugin garbage"), "{e}");

    let e = render(&r, &tree, "app", &named("init-fails")).unwrap_err();
    assert!(e.to_string().contains("the init command failed"), "{e}");
    assert!(e.to_string().ends_with("no deps"), "{e}");

    let e = render(&r, &tree, "app", &named("missing")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("/nonexistent/tool"), "{e}");

    let started = Instant::now();
    let e = render(&r, &tree, "app", &named("slow")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let none = PluginRenderer::default();
    let e = render(&none, &tree, "app", &named("x")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config management plugin x is not configured (no plugins are configured)"
    );
}

#[test]
fn empty_output_is_no_objects_and_modes_can_be_kept() {
    let repo = temp_repo(&[(
        "app/run.sh",
        "#!/bin/sh\necho 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: script}'\n",
    )]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            repo.path().join("app/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let tree = FsTree::open(repo.path(), "local").unwrap();
    let empty = plugin("empty", "  generate:\n    command: [\"true\"]\n");
    let keep = plugin(
        "keep",
        "  preserveFileMode: true\n  generate:\n    command: [./run.sh]\n",
    );
    let reset = plugin("reset", "  generate:\n    command: [./run.sh]\n");
    let r = PluginRenderer::new(vec![empty, keep, reset]);
    assert!(render(&r, &tree, "app", &named("empty")).unwrap().is_empty());
    let objects = render(&r, &tree, "app", &named("keep")).unwrap();
    assert_eq!(objects[0].name(), "script");
    // Without preserveFileMode the copy's script is not executable.
    let e = render(&r, &tree, "app", &named("reset")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}
