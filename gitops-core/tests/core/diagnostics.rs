//! Diagnostics on the seed article's snippets: every mistake of the seed README's table is
//! reported with the right severity, field path and real equivalent; valid snippets are clean.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::path::PathBuf;

use gitops_core::diagnostics::{Diagnostic, Severity, check_file_text, did_you_mean};
use gitops_core::load::load_objects;
use proptest::prelude::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(name)).unwrap()
}

fn diags(name: &str) -> Vec<Diagnostic> {
    check_file_text(&read(name), name)
}

/// The one diagnostic at `path`; panics with all diagnostics when there is not exactly one.
fn at<'a>(ds: &'a [Diagnostic], object: &str, path: &str) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = ds
        .iter()
        .filter(|d| d.path == path && d.object.as_ref().is_some_and(|o| o.to_string() == object))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one diagnostic for {object} at {path}, got:\n{ds:#?}"
    );
    found[0]
}

fn suggests(d: &Diagnostic, text: &str) {
    let s = d.suggestion.as_deref().unwrap_or("");
    assert!(s.contains(text), "suggestion of {d} should mention {text:?}");
}

#[test]
fn every_snippet_loads() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 11, "{names:?}");
    for name in &names {
        let objs = load_objects(&read(name), name).unwrap_or_else(|e| panic!("{e}"));
        assert!(!objs.is_empty(), "{name}");
    }
}

#[test]
fn valid_snippets_are_clean() {
    for name in [
        "01-root-app.yaml",
        "06-argocd-rbac-cm.yaml",
        "09-image-updater-config.yaml",
    ] {
        let ds = diags(name);
        assert!(ds.is_empty(), "{name}: {ds:#?}");
    }
}

#[test]
fn plugin_named_kustomize_is_an_error() {
    let ds = diags("02-api-app.yaml");
    assert_eq!(ds.len(), 1, "{ds:#?}");
    let d = at(
        &ds,
        "argoproj.io/Application argocd/api",
        "spec.source.plugin.name",
    );
    assert_eq!(d.severity, Severity::Error);
    suggests(d, "drop `plugin`");
    suggests(d, "kustomize");
    assert_eq!(d.line, Some(1));
    assert!(d.to_string().starts_with(
        "02-api-app.yaml:1: error: argoproj.io/Application argocd/api: spec.source.plugin.name: "
    ));
}

#[test]
fn kustomize_overlays_is_not_a_field() {
    let ds = diags("03-applicationset.yaml");
    assert_eq!(
        ds.len(),
        1,
        "templated `{{{{ env }}}}` tags must not be reported: {ds:#?}"
    );
    let d = at(
        &ds,
        "argoproj.io/ApplicationSet argocd/api-environments",
        "spec.template.spec.source.kustomize.overlays",
    );
    assert_eq!(d.severity, Severity::Warning);
    suggests(d, "spec.template.spec.source.path");
    suggests(d, "apps/api/overlays/{{ env }}");
}

#[test]
fn hook_sync_wave_and_delete_policy() {
    let ds = diags("04-sync-waves.yaml");
    let wave = "metadata.annotations[\"argocd.argoproj.io/hook-sync-wave\"]";
    let policy = "metadata.annotations[\"argocd.argoproj.io/hook-delete-policy\"]";
    for job in ["batch/Job db-migrate", "batch/Job smoke-test"] {
        let hook_diags: Vec<_> = ds
            .iter()
            .filter(|d| d.object.as_ref().unwrap().to_string() == job)
            .collect();
        assert_eq!(hook_diags.len(), 2, "{job}: {hook_diags:#?}");
        let w = at(&ds, job, wave);
        assert_eq!(w.severity, Severity::Warning);
        suggests(w, "argocd.argoproj.io/sync-wave");
        let p = at(&ds, job, policy);
        assert_eq!(p.severity, Severity::Error);
        assert!(p.message.contains("BeforeSyncFinished"), "{p}");
        suggests(p, "BeforeHookCreation");
        suggests(p, "HookSucceeded");
        suggests(p, "HookFailed");
    }
    let d = at(&ds, "apps/Deployment api", wave);
    suggests(d, "argocd.argoproj.io/sync-wave");
    assert_eq!(ds.len(), 5, "{ds:#?}");
    // Lines and document indexes point at each document.
    assert_eq!(at(&ds, "batch/Job smoke-test", wave).document, Some(2));
    assert_eq!(at(&ds, "apps/Deployment api", wave).line, Some(19));
}

#[test]
fn old_cert_manager_group_in_health_key() {
    let ds = diags("05-argocd-cm-health.yaml");
    assert_eq!(ds.len(), 1, "{ds:#?}");
    let d = at(
        &ds,
        "ConfigMap argocd/argocd-cm",
        "data[\"resource.customizations.health.certmanager.k8s.io_Certificate\"]",
    );
    assert_eq!(d.severity, Severity::Warning);
    suggests(d, "resource.customizations.health.cert-manager.io_Certificate");
}

#[test]
fn claims_mapping_is_not_an_oidc_field() {
    let ds = diags("07-argocd-cm-oidc.yaml");
    assert_eq!(ds.len(), 1, "{ds:#?}");
    let d = at(
        &ds,
        "ConfigMap argocd/argocd-cm",
        "data[\"oidc.config\"].claimsMapping",
    );
    assert_eq!(d.severity, Severity::Warning);
    suggests(d, "`groups` claim");
    suggests(d, "requestedScopes");
    suggests(d, "argocd-rbac-cm");
}

#[test]
fn rollout_fields_that_are_not_real() {
    let ds = diags("08-rollout.yaml");
    let ro = "argoproj.io/Rollout api";
    let d = at(&ds, ro, "spec.strategy.canary.trafficWeight");
    assert_eq!(d.severity, Severity::Warning);
    suggests(d, "setWeight");
    suggests(d, "trafficRouting");
    let d = at(&ds, ro, "spec.strategy.canary.analysis.templates[0].name");
    suggests(d, "templateName: success-rate");
    let d = at(&ds, ro, "spec.strategy.canary.analysis.interval");
    suggests(d, "interval: 30s");
    let d = at(&ds, ro, "spec.strategy.canary.analysis.threshold");
    suggests(d, "failureLimit");
    let d = at(
        &ds,
        "argoproj.io/AnalysisTemplate success-rate",
        "spec.metrics[0].thresholdResults",
    );
    assert_eq!(d.severity, Severity::Warning);
    suggests(d, "successCondition: result[0] >= 0.95");
    assert_eq!(ds.len(), 5, "{ds:#?}");
}

#[test]
fn image_updater_annotations_on_a_kustomization() {
    let ds = diags("10-kustomization-image-updater.yaml");
    assert_eq!(ds.len(), 4, "{ds:#?}");
    for d in &ds {
        assert_eq!(d.severity, Severity::Warning);
        assert!(
            d.path
                .starts_with("metadata.annotations[\"argocd-image-updater.argoproj.io/"),
            "{d}"
        );
        assert!(d.message.contains("write-back target"), "{d}");
        suggests(d, "Application");
    }
    at(
        &ds,
        "kustomize.config.k8s.io/Kustomization ",
        "metadata.annotations[\"argocd-image-updater.argoproj.io/image-list\"]",
    );
}

#[test]
fn argocd_server_statefulset_with_disable_auth() {
    let ds = diags("11-argocd-server-ha.yaml");
    assert_eq!(ds.len(), 2, "{ds:#?}");
    let obj = "apps/StatefulSet argocd-server";
    let d = at(&ds, obj, "spec.template.spec.containers[0].command[2]");
    assert_eq!(d.severity, Severity::Error);
    assert!(d.message.contains("authentication off"), "{d}");
    let d = at(&ds, obj, "kind");
    assert_eq!(d.severity, Severity::Warning);
    suggests(d, "Deployment");
    suggests(d, "replicas");
    suggests(d, "sharded application controller");
}

#[test]
fn unknown_annotations_sync_options_and_validation_errors() {
    let yaml = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: Bad_Name
  annotations:
    argocd.argoproj.io/sync-wav: "1"
    argocd.argoproj.io/sync-options: Prune=false,PruneLats=true
spec:
  project: default
  source: {repoURL: r, path: p, kustomize: {}, plugin: {}}
  destination: {server: "https://x", name: x}
  syncPolicy:
    syncOptions: [PrunePropagationPolicy=sideways]
    retry: {backoff: {duration: soon}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  annotations:
    argocd.argoproj.io/hook: PreSynk
    argocd.argoproj.io/sync-wave: first
"#;
    let ds = check_file_text(yaml, "x.yaml");
    let app = "argoproj.io/Application Bad_Name";
    suggests(
        at(&ds, app, "metadata.annotations[\"argocd.argoproj.io/sync-wav\"]"),
        "argocd.argoproj.io/sync-wave",
    );
    let d = at(
        &ds,
        app,
        "metadata.annotations[\"argocd.argoproj.io/sync-options\"]",
    );
    suggests(d, "PruneLast=true");
    let d = at(&ds, app, "spec.syncPolicy.syncOptions[0]");
    assert_eq!(d.severity, Severity::Error);
    suggests(d, "PrunePropagationPolicy=foreground");
    assert_eq!(at(&ds, app, "metadata.name").severity, Severity::Error);
    assert_eq!(
        at(&ds, app, "spec.destination").message,
        "application destination can't have both name and server defined: x https://x"
    );
    assert_eq!(
        at(&ds, app, "spec.source").message,
        "multiple application sources defined: Kustomize,Plugin"
    );
    at(&ds, app, "spec.syncPolicy.retry.backoff.duration");
    let cm = "ConfigMap c";
    let d = at(&ds, cm, "metadata.annotations[\"argocd.argoproj.io/hook\"]");
    assert_eq!(d.severity, Severity::Error);
    suggests(d, "PreSync");
    assert_eq!(
        at(&ds, cm, "metadata.annotations[\"argocd.argoproj.io/sync-wave\"]").severity,
        Severity::Warning
    );
}

#[test]
fn parse_errors_become_error_diagnostics() {
    let ds = check_file_text("a: [1, 2\n", "bad.yaml");
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].severity, Severity::Error);
    let ds = check_file_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "noname.yaml");
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert!(ds[0].message.contains("metadata.name"), "{}", ds[0]);
}

#[test]
fn did_you_mean_examples() {
    assert_eq!(
        did_you_mean("syncOption", ["syncPolicy", "syncOptions"]),
        Some("syncOptions")
    );
    assert_eq!(
        did_you_mean("destinaton", ["source", "destination"]),
        Some("destination")
    );
    assert_eq!(did_you_mean("repoUrl", ["repoURL", "path"]), Some("repoURL"));
    assert_eq!(did_you_mean("completely-different", ["repoURL"]), None);
}

const TOKENS: &[&str] = &[
    "apiVersion: argoproj.io/v1alpha1\n",
    "apiVersion: v1\n",
    "kind: Application\n",
    "kind: ApplicationSet\n",
    "kind: AppProject\n",
    "kind: Rollout\n",
    "kind: ConfigMap\n",
    "kind: List\n",
    "items:\n",
    "metadata:\n",
    "  name: argocd-cm\n",
    "  annotations:\n",
    "    argocd.argoproj.io/hook: PreSync,Bogus\n",
    "    argocd.argoproj.io/sync-wave: x\n",
    "spec:\n",
    "  source:\n",
    "  sources:\n",
    "    plugin: {name: kustomize}\n",
    "    kustomize: {overlays: [a]}\n",
    "  destination: {server: a, name: b}\n",
    "  syncPolicy: {retry: {backoff: {duration: 1x}}}\n",
    "data:\n",
    "  oidc.config: |\n    claimsMapping: {}\n",
    "  registries.conf: |\n    registries:\n    - bogus: 1\n",
    "  strategy: {canary: {analysis: {templates: [{name: a}], threshold: x}}}\n",
    "- ",
    "  ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a ",
    "!!str ",
    "---\n",
    "\n",
    "\"",
    "'",
    "#",
    "0",
    "~",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = load_objects(&text, "fuzz.yaml");
        let _ = check_file_text(&text, "fuzz.yaml");
    }

    #[test]
    fn yaml_like_text_never_panics(idx in proptest::collection::vec(0..TOKENS.len(), 0..64)) {
        let text: String = idx.into_iter().map(|i| TOKENS[i]).collect();
        let _ = load_objects(&text, "fuzz.yaml");
        let ds = check_file_text(&text, "fuzz.yaml");
        for d in ds {
            let _ = d.to_string();
        }
    }
}
