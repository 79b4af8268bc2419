//! Model round trips (YAML → types → YAML → types) and `validate()`.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions

use std::collections::BTreeMap;

use gitops_core::diagnostics::check_document;
use gitops_core::load::Document;
use gitops_core::model::*;
use proptest::prelude::*;
use serde_json::{Value, json};

// -- strategies ---------------------------------------------------------------------------------

/// Strings, including ones YAML would read as something else unless quoted.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._:/=,#'\"{}-]{0,16}",
        Just(String::new()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("~".to_owned()),
        Just("0x1F".to_owned()),
        Just("1e3".to_owned()),
        Just("- item".to_owned()),
        Just("{{ env }}".to_owned()),
        Just("multi\nline".to_owned()),
        Just(" padded ".to_owned()),
        Just("ünïcödé".to_owned()),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..3)
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(text(), text(), 0..3)
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn json_object() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map("[a-z]{1,6}", json_scalar(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn helm() -> impl Strategy<Value = SourceHelm> {
    (
        (texts(), opt_text(), proptest::option::of(json_object())),
        proptest::collection::vec(
            (text(), text(), any::<bool>()).prop_map(|(name, value, force_string)| HelmParameter {
                name,
                value,
                force_string,
            }),
            0..3,
        ),
        proptest::collection::vec(
            (text(), text()).prop_map(|(name, path)| HelmFileParameter { name, path }),
            0..2,
        ),
        (opt_text(), opt_text(), any::<[bool; 5]>()),
        (opt_text(), opt_text(), texts()),
    )
        .prop_map(
            |(
                (value_files, values, values_object),
                parameters,
                file_parameters,
                (release_name, namespace, flags),
                (version, kube_version, api_versions),
            )| SourceHelm {
                value_files,
                values,
                values_object,
                parameters,
                file_parameters,
                release_name,
                namespace,
                pass_credentials: flags[0],
                ignore_missing_value_files: flags[1],
                skip_crds: flags[2],
                skip_tests: flags[3],
                skip_schema_validation: flags[4],
                version,
                kube_version,
                api_versions,
            },
        )
}

fn kustomize() -> impl Strategy<Value = SourceKustomize> {
    let patch = (
        opt_text(),
        opt_text(),
        proptest::option::of((opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
            |(group, kind, name, label_selector)| KustomizeSelector {
                group,
                kind,
                name,
                label_selector,
                ..Default::default()
            },
        )),
        proptest::collection::btree_map("[a-zA-Z]{1,8}", any::<bool>(), 0..2),
    )
        .prop_map(|(path, patch, target, options)| KustomizePatch {
            path,
            patch,
            target,
            options,
        });
    (
        (opt_text(), opt_text(), opt_text(), texts()),
        (string_map(), string_map(), any::<[bool; 6]>()),
        proptest::collection::vec(
            (
                text(),
                prop_oneof![any::<i64>().prop_map(Value::from), text().prop_map(Value::String)],
            )
                .prop_map(|(name, count)| KustomizeReplica { name, count }),
            0..2,
        ),
        proptest::collection::vec(patch, 0..2),
        (texts(), opt_text(), opt_text(), texts()),
    )
        .prop_map(
            |(
                (name_prefix, name_suffix, namespace, images),
                (common_labels, common_annotations, f),
                replicas,
                patches,
                (components, version, kube_version, api_versions),
            )| SourceKustomize {
                name_prefix,
                name_suffix,
                namespace,
                images,
                common_labels,
                common_annotations,
                common_annotations_envsubst: f[0],
                force_common_labels: f[1],
                force_common_annotations: f[2],
                label_without_selector: f[3],
                label_include_templates: f[4],
                replicas,
                patches,
                components,
                ignore_missing_components: f[5],
                version,
                kube_version,
                api_versions,
            },
        )
}

fn directory() -> impl Strategy<Value = SourceDirectory> {
    let var =
        || (text(), text(), any::<bool>()).prop_map(|(name, value, code)| JsonnetVar { name, value, code });
    (
        any::<bool>(),
        opt_text(),
        opt_text(),
        proptest::option::of(
            (
                proptest::collection::vec(var(), 0..2),
                proptest::collection::vec(var(), 0..2),
                texts(),
            )
                .prop_map(|(ext_vars, tlas, libs)| SourceJsonnet { ext_vars, tlas, libs }),
        ),
        any::<bool>(),
    )
        .prop_map(
            |(recurse, include, exclude, jsonnet, disable_extension_filter)| SourceDirectory {
                recurse,
                include,
                exclude,
                jsonnet,
                disable_extension_filter,
            },
        )
}

fn plugin() -> impl Strategy<Value = SourcePlugin> {
    (
        opt_text(),
        proptest::collection::vec(
            (text(), text()).prop_map(|(name, value)| EnvEntry { name, value }),
            0..2,
        ),
        proptest::collection::vec(
            (text(), text()).prop_map(|(n, s)| json!({"name": n, "string": s})),
            0..2,
        ),
    )
        .prop_map(|(name, env, parameters)| SourcePlugin {
            name,
            env,
            parameters,
        })
}

fn source() -> impl Strategy<Value = ApplicationSource> {
    (
        (text(), opt_text(), opt_text(), opt_text()),
        (opt_text(), opt_text(), opt_text()),
        (
            proptest::option::of(helm()),
            proptest::option::of(kustomize()),
            proptest::option::of(directory()),
            proptest::option::of(plugin()),
        ),
    )
        .prop_map(
            |(
                (repo_url, path, target_revision, chart),
                (reference, name, tag_prefix),
                (helm, kustomize, directory, plugin),
            )| {
                ApplicationSource {
                    repo_url,
                    path,
                    target_revision,
                    chart,
                    reference,
                    name,
                    tag_prefix,
                    helm,
                    kustomize,
                    directory,
                    plugin,
                }
            },
        )
}

fn sync_policy() -> impl Strategy<Value = SyncPolicy> {
    let b = || proptest::option::of(any::<bool>());
    (
        proptest::option::of(
            (b(), b(), b(), b()).prop_map(|(prune, self_heal, allow_empty, enabled)| SyncPolicyAutomated {
                prune,
                self_heal,
                allow_empty,
                enabled,
            }),
        ),
        texts(),
        proptest::option::of(
            (
                any::<i64>(),
                proptest::option::of(
                    (opt_text(), proptest::option::of(any::<i64>()), opt_text()).prop_map(
                        |(duration, factor, max_duration)| Backoff {
                            duration,
                            factor,
                            max_duration,
                        },
                    ),
                ),
                any::<bool>(),
            )
                .prop_map(|(limit, backoff, refresh)| RetryStrategy {
                    limit,
                    backoff,
                    refresh,
                }),
        ),
        proptest::option::of(
            (string_map(), string_map())
                .prop_map(|(labels, annotations)| ManagedNamespaceMetadata { labels, annotations }),
        ),
    )
        .prop_map(
            |(automated, sync_options, retry, managed_namespace_metadata)| SyncPolicy {
                automated,
                sync_options,
                retry,
                managed_namespace_metadata,
            },
        )
}

fn ignore_difference() -> impl Strategy<Value = ResourceIgnoreDifferences> {
    (text(), text(), opt_text(), opt_text(), texts(), texts(), texts()).prop_map(
        |(group, kind, name, namespace, json_pointers, jq_path_expressions, managed_fields_managers)| {
            ResourceIgnoreDifferences {
                group,
                kind,
                name,
                namespace,
                json_pointers,
                jq_path_expressions,
                managed_fields_managers,
            }
        },
    )
}

fn meta() -> impl Strategy<Value = ObjectMeta> {
    (
        "[a-z][a-z0-9-]{0,10}",
        opt_text(),
        string_map(),
        string_map(),
        texts(),
    )
        .prop_map(|(name, namespace, labels, annotations, finalizers)| ObjectMeta {
            name,
            namespace,
            labels,
            annotations,
            finalizers,
            ..Default::default()
        })
}

fn application() -> impl Strategy<Value = Application> {
    (
        meta(),
        // Single source, multi-source, or neither.
        prop_oneof![
            proptest::option::of(source()).prop_map(|s| (s, Vec::new())),
            proptest::collection::vec(source(), 1..3).prop_map(|v| (None, v)),
        ],
        (opt_text(), opt_text(), opt_text()).prop_map(|(server, name, namespace)| ApplicationDestination {
            server,
            name,
            namespace,
        }),
        text(),
        proptest::option::of(sync_policy()),
        proptest::collection::vec(ignore_difference(), 0..2),
        proptest::collection::vec(
            (text(), text()).prop_map(|(name, value)| Info { name, value }),
            0..2,
        ),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(
            |(
                metadata,
                (source, sources),
                destination,
                project,
                sync_policy,
                ignore_differences,
                info,
                revision_history_limit,
            )| {
                Application {
                    api_version: ARGO_API_VERSION.to_owned(),
                    kind: "Application".to_owned(),
                    metadata,
                    spec: ApplicationSpec {
                        source,
                        sources,
                        destination,
                        project,
                        sync_policy,
                        ignore_differences,
                        info,
                        revision_history_limit,
                        source_hydrator: None,
                    },
                    status: None,
                    operation: None,
                }
            },
        )
}

fn resource_spec() -> impl Strategy<Value = ResourceSpec> {
    (text(), text(), opt_text()).prop_map(|(group, kind, name)| ResourceSpec { group, kind, name })
}

fn project() -> impl Strategy<Value = AppProject> {
    (
        meta(),
        (texts(), texts()),
        proptest::collection::vec(
            (opt_text(), opt_text(), opt_text()).prop_map(|(server, name, namespace)| ProjectDestination {
                server,
                name,
                namespace,
            }),
            0..3,
        ),
        (
            proptest::collection::vec(resource_spec(), 0..2),
            proptest::option::of(proptest::collection::vec(resource_spec(), 0..2)),
        ),
        opt_text(),
        proptest::collection::vec(
            (
                text(),
                opt_text(),
                texts(),
                texts(),
                proptest::collection::vec(
                    (any::<i64>(), proptest::option::of(any::<i64>()), opt_text()),
                    0..2,
                ),
            )
                .prop_map(|(name, description, policies, groups, tokens)| ProjectRole {
                    name,
                    description,
                    policies,
                    groups,
                    jwt_tokens: tokens
                        .into_iter()
                        .map(|(iat, exp, id)| JwtToken { iat, exp, id })
                        .collect(),
                }),
            0..2,
        ),
        proptest::collection::vec(
            (
                (text(), text(), text()),
                (texts(), texts(), texts()),
                (any::<[bool; 3]>(), opt_text(), opt_text()),
            )
                .prop_map(
                    |(
                        (kind, schedule, duration),
                        (applications, namespaces, clusters),
                        (f, time_zone, description),
                    )| SyncWindow {
                        kind,
                        schedule,
                        duration,
                        applications,
                        namespaces,
                        clusters,
                        manual_sync: f[0],
                        time_zone,
                        and_operator: f[1],
                        description,
                        sync_overrun: f[2],
                    },
                ),
            0..2,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(
                metadata,
                (source_repos, source_namespaces),
                destinations,
                (cluster_resource_whitelist, namespace_resource_whitelist),
                description,
                roles,
                sync_windows,
                permit,
            )| {
                AppProject {
                    api_version: ARGO_API_VERSION.to_owned(),
                    kind: "AppProject".to_owned(),
                    metadata,
                    spec: AppProjectSpec {
                        source_repos,
                        source_namespaces,
                        destinations,
                        permit_only_project_scoped_clusters: permit,
                        cluster_resource_whitelist,
                        namespace_resource_whitelist,
                        description,
                        roles,
                        sync_windows,
                        ..Default::default()
                    },
                    status: None,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn application_yaml_round_trip(app in application()) {
        let yaml = serde_yaml::to_string(&app).unwrap();
        let back: Application = serde_yaml::from_str(&yaml).unwrap();
        prop_assert_eq!(&back, &app, "yaml:\n{}", yaml);
        let yaml2 = serde_yaml::to_string(&back).unwrap();
        prop_assert_eq!(serde_yaml::from_str::<Application>(&yaml2).unwrap(), app);
    }

    /// Every field the model writes is known to the diagnostics schema.
    #[test]
    fn model_fields_are_known_to_diagnostics(app in application()) {
        let value = serde_json::to_value(&app).unwrap();
        let doc = Document { index: 0, line: 1, value };
        let unknown: Vec<String> = check_document(&doc, "gen.yaml")
            .into_iter()
            .filter(|d| d.message.starts_with("unknown field"))
            .map(|d| d.to_string())
            .collect();
        prop_assert!(unknown.is_empty(), "{:#?}", unknown);
    }

    #[test]
    fn project_yaml_round_trip(p in project()) {
        let yaml = serde_yaml::to_string(&p).unwrap();
        let back: AppProject = serde_yaml::from_str(&yaml).unwrap();
        prop_assert_eq!(&back, &p, "yaml:\n{}", yaml);
        let value = serde_json::to_value(&p).unwrap();
        let unknown: Vec<String> = check_document(&Document { index: 0, line: 1, value }, "gen.yaml")
            .into_iter()
            .filter(|d| d.message.starts_with("unknown field"))
            .map(|d| d.to_string())
            .collect();
        prop_assert!(unknown.is_empty(), "{:#?}", unknown);
    }
}

// -- validate() -----------------------------------------------------------------------------------

fn app(yaml: &str) -> Application {
    serde_yaml::from_str(yaml).unwrap()
}

fn paths(e: &ValidationErrors) -> Vec<&str> {
    e.0.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn valid_application_passes() {
    let a = app(r#"
metadata: {name: guestbook}
spec:
  source: {repoURL: https://example.com/repo.git, path: guestbook}
  destination: {server: "https://kubernetes.default.svc", namespace: guestbook}
  syncPolicy:
    syncOptions: [CreateNamespace=true, PrunePropagationPolicy=background, Prune=confirm]
    retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
"#);
    assert_eq!(a.validate(), Ok(()));
}

#[test]
fn all_errors_at_once_with_paths() {
    let a = app(r#"
metadata: {name: Guestbook}
spec:
  source: {repoURL: "", chart: nginx, kustomize: {}, plugin: {name: x}}
  destination: {server: "https://kubernetes.default.svc", name: in-cluster}
  revisionHistoryLimit: -1
  ignoreDifferences: [{group: apps}]
  syncPolicy:
    syncOptions: [CreateNamespace, Validate=maybe, PrunePropagationPolicy=sideways, Bogus=true]
    retry: {backoff: {duration: soon, factor: 0, maxDuration: 3x}}
"#);
    let e = a.validate().unwrap_err();
    assert_eq!(
        paths(&e),
        [
            "metadata.name",
            "spec.destination",
            "spec.source.repoURL",
            "spec.source.targetRevision",
            "spec.source",
            "spec.syncPolicy.syncOptions[0]",
            "spec.syncPolicy.syncOptions[1]",
            "spec.syncPolicy.syncOptions[2]",
            "spec.syncPolicy.syncOptions[3]",
            "spec.syncPolicy.retry.backoff.duration",
            "spec.syncPolicy.retry.backoff.maxDuration",
            "spec.syncPolicy.retry.backoff.factor",
            "spec.revisionHistoryLimit",
            "spec.ignoreDifferences[0].kind",
        ],
        "{e}"
    );
    let text = e.to_string();
    assert_eq!(text.lines().count(), e.0.len());
    assert!(text.contains(
        "spec.destination: application destination can't have both name and server defined: in-cluster https://kubernetes.default.svc"
    ));
    assert!(text.contains("spec.source: multiple application sources defined: Kustomize,Plugin"));
    assert!(text.contains("PrunePropagationPolicy"), "{text}");
}

#[test]
fn missing_destination_is_argo_literal() {
    let a = app("metadata: {name: a}\nspec: {source: {repoURL: r, path: p}}\n");
    let e = a.validate().unwrap_err();
    assert_eq!(
        e.0,
        [FieldError::new(
            "spec.destination",
            "Destination server missing from app spec"
        )]
    );
}

#[test]
fn multi_source_rules() {
    let a = app(r#"
metadata: {name: a}
spec:
  destination: {name: in-cluster}
  sources:
    - {repoURL: https://charts, chart: web, targetRevision: 1.0.0, helm: {valueFiles: [$values/web.yaml]}}
    - {repoURL: https://git, ref: values}
    - {repoURL: https://git2, ref: values}
    - {repoURL: https://git3, ref: "bad/ref", chart: x, targetRevision: "1"}
    - {repoURL: https://git4}
"#);
    let e = a.validate().unwrap_err();
    assert_eq!(
        paths(&e),
        [
            "spec.sources[2].ref",
            "spec.sources[3].ref",
            "spec.sources[3].ref",
            "spec.sources[4]"
        ],
        "{e}"
    );
}

#[test]
fn retry_durations() {
    for (d, ok) in [
        ("5s", true),
        ("1m30s", true),
        ("500ms", true),
        ("10", true),
        ("1h", true),
        ("5 minutes", false),
        ("", true),
    ] {
        let a = app(&format!(
            "metadata: {{name: a}}\nspec: {{source: {{repoURL: r, path: p}}, destination: {{name: x}}, syncPolicy: {{retry: {{backoff: {{duration: '{d}'}}}}}}}}\n"
        ));
        assert_eq!(a.validate().is_ok(), ok, "{d}: {:?}", a.validate());
    }
    assert_eq!(parse_duration("1m30s"), Ok(std::time::Duration::from_secs(90)));
}

#[test]
fn appset_rules() {
    let set: ApplicationSet = serde_yaml::from_str(
        r#"
metadata: {name: s}
spec:
  generators:
    - {list: {elements: []}, clusters: {}}
    - {selector: {}}
  template:
    metadata: {}
    spec:
      source: {repoURL: "{{repo}}", path: "{{path}}", helm: {}, directory: {}}
      destination: {server: "{{server}}"}
      syncPolicy: {syncOptions: ["{{opt}}", CreateNamespce=true]}
"#,
    )
    .unwrap();
    let e = set.validate().unwrap_err();
    assert_eq!(
        paths(&e),
        [
            "spec.generators[0]",
            "spec.generators[1]",
            "spec.template.metadata.name",
            "spec.template.spec.source",
            "spec.template.spec.syncPolicy.syncOptions[1]",
        ],
        "{e}"
    );
    let empty: ApplicationSet =
        serde_yaml::from_str("metadata: {name: s}\nspec: {template: {metadata: {name: x}}}\n").unwrap();
    assert_eq!(paths(&empty.validate().unwrap_err()), ["spec.generators"]);
}

#[test]
fn project_rules() {
    let p: AppProject = serde_yaml::from_str(&format!(
        r#"
metadata: {{name: team}}
spec:
  description: "{}"
  sourceRepos: ["*", "!*", "*"]
  sourceNamespaces: [a, a]
  destinations:
    - {{server: "https://a", namespace: x}}
    - {{server: "https://a", namespace: x}}
    - {{name: "!*", namespace: y}}
  roles:
    - name: ci-
      policies:
        - p, proj:team:ci-, applications, sync, team/*, allow
        - p, proj:other:ci-, applications, sync, team/*, allow
        - p, proj:team:ci-, secrets, fly, other/*, maybe
        - g, x, y
      groups: ["a,b", " c"]
  syncWindows:
    - {{kind: sometimes, schedule: "0 22 * * *", duration: 1h}}
    - {{kind: allow, schedule: "* *", duration: 1x, applications: ["*"]}}
"#,
        "d".repeat(300)
    ))
    .unwrap();
    let e = p.validate().unwrap_err();
    assert_eq!(
        paths(&e),
        [
            "spec.sourceRepos[1]",
            "spec.sourceRepos[2]",
            "spec.sourceNamespaces[1]",
            "spec.destinations[1]",
            "spec.destinations[2].name",
            "spec.roles[0].name",
            "spec.roles[0].policies[1]",
            "spec.roles[0].policies[2]",
            "spec.roles[0].policies[2]",
            "spec.roles[0].policies[2]",
            "spec.roles[0].policies[2]",
            "spec.roles[0].policies[3]",
            "spec.roles[0].groups[0]",
            "spec.roles[0].groups[1]",
            "spec.syncWindows[0].kind",
            "spec.syncWindows[0]",
            "spec.syncWindows[1].schedule",
            "spec.syncWindows[1].duration",
            "spec.description",
        ],
        "{e}"
    );
    assert_eq!(AppProject::default_project("argocd").validate(), Ok(()));
}
