//! Spec validation for [`Application`], [`ApplicationSet`] and [`AppProject`].
//!
//! Each `validate()` returns **every** problem at once, each with the field path it concerns, so a
//! user can fix a manifest in one pass. The rules follow Argo CD (`util/argo/argo.go`,
//! `app_project_types.go` `ValidateProject`); where Argo CD has a fixed message it is used verbatim.
//!
//! ```
//! use gitops_core::model::Application;
//! let app: Application = serde_yaml::from_str(r#"
//! metadata: {name: demo}
//! spec:
//!   source: {repoURL: ./repo, path: demo}
//!   destination: {server: "https://kubernetes.default.svc", name: in-cluster}
//!   syncPolicy: {retry: {backoff: {duration: soon}}}
//! "#).unwrap();
//! let errs = app.validate().unwrap_err();
//! assert_eq!(errs.0.len(), 2);
//! assert_eq!(errs.0[0].path, "spec.destination");
//! assert_eq!(errs.0[1].path, "spec.syncPolicy.retry.backoff.duration");
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::{
    AppProject, Application, ApplicationSet, ApplicationSource, ApplicationSpec, ProjectRole, SyncWindow,
};

/// One problem found by a `validate()` method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, e.g. `spec.destination` or `spec.sources[1].ref`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All problems found by a `validate()` method; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl ValidationErrors {
    fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }
}

/// Parses a Go duration (`5s`, `1m30s`, `3m`, `1h`, `500ms`, `1.5h`, `0`). As in Argo CD's retry
/// backoff, a bare integer means seconds. Negative durations are refused.
///
/// ```
/// use gitops_core::model::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("invalid duration {s:?}: number too large"));
    }
    parse_go_duration(s)
}

/// Go's `time.ParseDuration`, without the bare-integer extension and refusing negative values.
pub(crate) fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: expected a Go duration such as 5s, 1m30s or 500ms");
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        if r == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(format!(
            "invalid duration {s:?}: negative durations are not allowed"
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("invalid duration {s:?}: missing unit")),
            other => return Err(format!("invalid duration {s:?}: unknown unit {other:?}")),
        };
        total += value * nanos_per;
    }
    // Go durations are int64 nanoseconds.
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(format!("invalid duration {s:?}: out of range"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// A sync option key, with the values it accepts (compared case-insensitively, as gitops-rs does).
pub(crate) const SYNC_OPTIONS: &[(&str, &[&str])] = &[
    ("Validate", &["true", "false"]),
    ("CreateNamespace", &["true", "false"]),
    ("PruneLast", &["true", "false"]),
    ("ApplyOutOfSyncOnly", &["true", "false"]),
    ("RespectIgnoreDifferences", &["true", "false"]),
    ("SkipDryRunOnMissingResource", &["true", "false"]),
    ("FailOnSharedResource", &["true", "false"]),
    ("Replace", &["true", "false"]),
    ("ServerSideApply", &["true", "false"]),
    ("Force", &["true", "false"]),
    ("ClientSideApplyMigration", &["true", "false"]),
    ("PrunePropagationPolicy", &["foreground", "background", "orphan"]),
    ("Prune", &["true", "false", "confirm"]),
    ("Delete", &["true", "false", "confirm"]),
];

/// Checks one sync option string `Key=Value`. Returns a message and, when one exists, the closest
/// valid spelling.
pub(crate) fn check_sync_option(option: &str) -> Option<(String, Option<String>)> {
    let Some((key, value)) = option.split_once('=') else {
        let near = crate::diagnostics::did_you_mean(option.trim(), SYNC_OPTIONS.iter().map(|(k, _)| *k));
        return Some((
            format!("sync option {option:?} is not of the form Key=Value"),
            near.map(|k| format!("{k}={}", sync_option_default_value(k))),
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    match SYNC_OPTIONS.iter().find(|(k, _)| *k == key) {
        None => {
            let near = crate::diagnostics::did_you_mean(key, SYNC_OPTIONS.iter().map(|(k, _)| *k));
            Some((
                format!("unknown sync option {key:?}"),
                near.map(|k| format!("{k}={value}")),
            ))
        }
        Some((k, values)) => {
            if values.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                None
            } else {
                let near = crate::diagnostics::did_you_mean(value, values.iter().copied());
                Some((
                    format!(
                        "invalid value {value:?} for sync option {k}: expected {}",
                        values.join(", ")
                    ),
                    Some(format!("{k}={}", near.unwrap_or(values[0]))),
                ))
            }
        }
    }
}

fn sync_option_default_value(key: &str) -> &'static str {
    SYNC_OPTIONS
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.first().copied())
        .unwrap_or("true")
}

/// The Kubernetes DNS-subdomain rule message.
const DNS_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Whether `s` is a valid Kubernetes DNS subdomain (RFC 1123, at most 253 characters).
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| ok_char(c) || c == '-')
                && label.starts_with(ok_char)
                && label.ends_with(ok_char)
        })
}

fn check_name(name: &str, path: &str, errs: &mut ValidationErrors) {
    if name.is_empty() {
        errs.push(path, "name is required");
    } else if !is_dns_subdomain(name) {
        errs.push(path, format!("invalid name {name:?}: {DNS_SUBDOMAIN_MESSAGE}"));
    }
}

fn is_templated(s: &str) -> bool {
    s.contains("{{")
}

fn is_ref_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn non_empty(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

/// Checks one source: required fields, source type, `ref`.
fn check_source(
    src: &ApplicationSource,
    path: &str,
    multi: bool,
    templated: bool,
    errs: &mut ValidationErrors,
) {
    if !templated {
        if src.repo_url.is_empty() {
            errs.push(format!("{path}.repoURL"), "repoURL is required");
        }
        let has_path = non_empty(&src.path);
        let has_chart = non_empty(&src.chart);
        let has_ref = non_empty(&src.reference);
        if multi {
            if !has_path && !has_chart && !has_ref {
                errs.push(path, "either path, chart or ref is required");
            }
        } else if !has_path && !has_chart {
            errs.push(path, "either path or chart is required");
        }
        if has_chart && !non_empty(&src.target_revision) {
            errs.push(
                format!("{path}.targetRevision"),
                "targetRevision is required if the manifest source is a helm chart",
            );
        }
    }
    let types = src.explicit_types();
    if types.len() > 1 {
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        errs.push(
            path,
            format!("multiple application sources defined: {}", names.join(",")),
        );
    }
    if let Some(r) = &src.reference {
        if !is_templated(r) && !is_ref_key(r) {
            errs.push(
                format!("{path}.ref"),
                format!("invalid ref {r:?}: must match ^[a-zA-Z0-9_-]+$"),
            );
        }
        if non_empty(&src.chart) {
            errs.push(format!("{path}.ref"), "a source with ref must not set chart");
        }
    }
}

/// The spec rules shared by Applications and ApplicationSet templates. With `templated`, rules
/// that depend on values a generator fills in are skipped.
fn check_spec(spec: &ApplicationSpec, prefix: &str, templated: bool, errs: &mut ValidationErrors) {
    let dest = &spec.destination;
    if !templated {
        match (non_empty(&dest.server), non_empty(&dest.name)) {
            (true, true) => errs.push(
                format!("{prefix}.destination"),
                format!(
                    "application destination can't have both name and server defined: {} {}",
                    dest.name.as_deref().unwrap_or(""),
                    dest.server.as_deref().unwrap_or("")
                ),
            ),
            (false, false) => errs.push(
                format!("{prefix}.destination"),
                "Destination server missing from app spec",
            ),
            _ => {}
        }
        if !spec.project.is_empty() && !is_dns_subdomain(&spec.project) {
            errs.push(
                format!("{prefix}.project"),
                format!("invalid project name {:?}: {DNS_SUBDOMAIN_MESSAGE}", spec.project),
            );
        }
    }

    if let Some(h) = &spec.source_hydrator {
        if !templated {
            let dry_repo = h.dry_source.get("repoURL").and_then(|v| v.as_str()).unwrap_or("");
            if dry_repo.is_empty() {
                errs.push(
                    format!("{prefix}.sourceHydrator.drySource.repoURL"),
                    "repoURL is required",
                );
            }
            let branch = h
                .sync_source
                .get("targetBranch")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if branch.is_empty() {
                errs.push(
                    format!("{prefix}.sourceHydrator.syncSource.targetBranch"),
                    "targetBranch is required",
                );
            }
            if let Some(to) = &h.hydrate_to
                && to
                    .get("targetBranch")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .is_empty()
            {
                errs.push(
                    format!("{prefix}.sourceHydrator.hydrateTo.targetBranch"),
                    "targetBranch is required",
                );
            }
        }
    } else if !spec.sources.is_empty() {
        let mut refs = BTreeSet::new();
        for (i, src) in spec.sources.iter().enumerate() {
            let path = format!("{prefix}.sources[{i}]");
            check_source(src, &path, true, templated, errs);
            if let Some(r) = src.reference.as_deref().filter(|r| !r.is_empty())
                && !refs.insert(r)
            {
                errs.push(format!("{path}.ref"), format!("duplicate ref {r:?}"));
            }
        }
    } else if let Some(src) = &spec.source {
        check_source(src, &format!("{prefix}.source"), false, templated, errs);
    } else if !templated {
        errs.push(
            format!("{prefix}.source"),
            "one of source, sources or sourceHydrator is required",
        );
    }

    if let Some(policy) = &spec.sync_policy {
        let pp = format!("{prefix}.syncPolicy");
        for (i, opt) in policy.sync_options.iter().enumerate() {
            if templated && is_templated(opt) {
                continue;
            }
            if let Some((msg, suggestion)) = check_sync_option(opt) {
                let msg = match suggestion {
                    Some(s) => format!("{msg} (did you mean {s}?)"),
                    None => msg,
                };
                errs.push(format!("{pp}.syncOptions[{i}]"), msg);
            }
        }
        if let Some(backoff) = policy.retry.as_ref().and_then(|r| r.backoff.as_ref()) {
            let bp = format!("{pp}.retry.backoff");
            for (field, value) in [
                ("duration", &backoff.duration),
                ("maxDuration", &backoff.max_duration),
            ] {
                if let Some(v) = value.as_deref().filter(|v| !v.is_empty())
                    && !(templated && is_templated(v))
                    && let Err(e) = parse_duration(v)
                {
                    errs.push(format!("{bp}.{field}"), e);
                }
            }
            if let Some(f) = backoff.factor
                && f < 1
            {
                errs.push(
                    format!("{bp}.factor"),
                    format!("factor must be at least 1, got {f}"),
                );
            }
        }
    }
    if let Some(limit) = spec.revision_history_limit
        && limit < 0
    {
        errs.push(
            format!("{prefix}.revisionHistoryLimit"),
            format!("revisionHistoryLimit must not be negative, got {limit}"),
        );
    }
    for (i, d) in spec.ignore_differences.iter().enumerate() {
        if d.kind.is_empty() {
            errs.push(
                format!("{prefix}.ignoreDifferences[{i}].kind"),
                "kind is required",
            );
        }
    }
}

impl Application {
    /// Checks the spec the way Argo CD does before it accepts an Application, returning every
    /// problem found (name, destination, sources, sync options, retry, history limit,
    /// ignoreDifferences). Project permissions and cluster lookups are not checked here.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_name(&self.metadata.name, "metadata.name", &mut errs);
        check_spec(&self.spec, "spec", false, &mut errs);
        errs.into_result()
    }
}

/// The generator keys of an ApplicationSet generator entry.
pub(crate) const GENERATOR_KEYS: &[&str] = &[
    "list",
    "clusters",
    "git",
    "scmProvider",
    "clusterDecisionResource",
    "pullRequest",
    "matrix",
    "merge",
    "plugin",
];

impl ApplicationSet {
    /// Checks the ApplicationSet: a valid name, at least one generator, exactly one generator key
    /// per entry, a template name, and the template-safe Application rules on `spec.template.spec`
    /// (values holding `{{` are left to the generated Applications).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_name(&self.metadata.name, "metadata.name", &mut errs);
        if self.spec.generators.is_empty() {
            errs.push("spec.generators", "at least one generator is required");
        }
        for (i, g) in self.spec.generators.iter().enumerate() {
            let keys: Vec<&str> = g.entries().into_iter().map(|(k, _)| k).collect();
            match keys.len() {
                1 => {}
                0 => errs.push(
                    format!("spec.generators[{i}]"),
                    format!("no generator set: expected one of {}", GENERATOR_KEYS.join(", ")),
                ),
                _ => errs.push(
                    format!("spec.generators[{i}]"),
                    format!(
                        "exactly one generator per entry is allowed, found {}",
                        keys.join(", ")
                    ),
                ),
            }
        }
        // A templatePatch may supply the name.
        if self.spec.template.metadata.name.is_empty() && self.spec.template_patch.is_none() {
            errs.push("spec.template.metadata.name", "name is required");
        }
        check_spec(&self.spec.template.spec, "spec.template.spec", true, &mut errs);
        errs.into_result()
    }
}

const POLICY_RESOURCES: &[&str] = &[
    "applications",
    "applicationsets",
    "repositories",
    "exec",
    "logs",
    "clusters",
];
const POLICY_ACTIONS: &[&str] = &[
    "get", "create", "update", "delete", "sync", "override", "rollback", "*",
];

fn is_role_name(s: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric();
    !s.is_empty() && s.chars().all(|c| ok(c) || c == '-' || c == '_') && s.starts_with(ok) && s.ends_with(ok)
}

fn is_valid_action(a: &str) -> bool {
    POLICY_ACTIONS.contains(&a) || ["action/", "update/", "delete/"].iter().any(|p| a.starts_with(p))
}

/// `^<project>(/[*\w-.]+)?/[*\w-.]+$`.
fn is_valid_object(project: &str, obj: &str) -> bool {
    let Some(rest) = obj.strip_prefix(project).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    let seg_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c == '*' || c == '-' || c == '.' || c == '_' || c.is_alphanumeric())
    };
    let segs: Vec<&str> = rest.split('/').collect();
    (segs.len() == 1 || segs.len() == 2) && segs.iter().all(|s| seg_ok(s))
}

fn check_policy(project: &str, role: &str, line: &str, path: &str, errs: &mut ValidationErrors) {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 6 || fields[0] != "p" {
        errs.push(
            path,
            format!("invalid policy rule {line:?}: must be of the form 'p, sub, res, act, obj, eft'"),
        );
        return;
    }
    let expected = format!("proj:{project}:{role}");
    if fields[1] != expected {
        errs.push(
            path,
            format!("invalid policy rule {line:?}: policy subject must be: {expected}"),
        );
    }
    if !POLICY_RESOURCES.contains(&fields[2]) {
        errs.push(
            path,
            format!(
                "invalid policy rule {line:?}: resource {:?} must be one of {}",
                fields[2],
                POLICY_RESOURCES.join(", ")
            ),
        );
    }
    if !is_valid_action(fields[3]) {
        errs.push(
            path,
            format!("invalid policy rule {line:?}: invalid action {:?}", fields[3]),
        );
    }
    if !is_valid_object(project, fields[4]) {
        errs.push(
            path,
            format!(
                "invalid policy rule {line:?}: object must be of form '{project}/*', '{project}[/<NAMESPACE>]/<APPNAME>' or '{project}/<APPNAME>'"
            ),
        );
    }
    if fields[5] != "allow" && fields[5] != "deny" {
        errs.push(
            path,
            format!("invalid policy rule {line:?}: effect must be: 'allow' or 'deny'"),
        );
    }
}

fn check_group_name(group: &str, path: &str, errs: &mut ValidationErrors) {
    let g = group;
    if g.trim() != g {
        errs.push(
            path,
            format!("group {g:?} must not have leading or trailing spaces"),
        );
    }
    if g.contains(['\n', '\r', '\t']) {
        errs.push(
            path,
            format!("group {g:?} must not contain newline, carriage return or tab characters"),
        );
    }
    let inner = g.strip_prefix('"').and_then(|s| s.strip_suffix('"'));
    match inner {
        Some(inner) if !inner.contains('"') => {}
        _ if g.contains('"') => errs.push(path, format!("group {g:?} must not contain quotes")),
        _ if g.contains(',') => errs.push(path, format!("group {g:?} contains a comma and must be quoted")),
        _ => {}
    }
}

fn check_role(project: &str, role: &ProjectRole, path: &str, errs: &mut ValidationErrors) {
    if !is_role_name(&role.name) {
        errs.push(
            format!("{path}.name"),
            format!(
                "invalid role name {:?}: must match ^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$",
                role.name
            ),
        );
    }
    for (j, line) in role.policies.iter().enumerate() {
        check_policy(project, &role.name, line, &format!("{path}.policies[{j}]"), errs);
    }
    for (j, g) in role.groups.iter().enumerate() {
        check_group_name(g, &format!("{path}.groups[{j}]"), errs);
    }
}

fn check_window(w: &SyncWindow, path: &str, errs: &mut ValidationErrors) {
    if w.kind != "allow" && w.kind != "deny" {
        errs.push(
            format!("{path}.kind"),
            format!("kind {:?} mismatches allow or deny", w.kind),
        );
    }
    if w.applications.is_empty() && w.namespaces.is_empty() && w.clusters.is_empty() {
        errs.push(
            path,
            "at least one of applications, namespaces or clusters is required",
        );
    }
    let fields = w.schedule.split_whitespace().count();
    if fields != 5 {
        errs.push(
            format!("{path}.schedule"),
            format!("cannot parse schedule {:?}: expected 5 cron fields", w.schedule),
        );
    }
    if let Err(e) = parse_go_duration(&w.duration) {
        errs.push(format!("{path}.duration"), e);
    }
}

impl AppProject {
    /// Checks the project the way Argo CD's `ValidateProject` does: `!*` patterns, duplicate
    /// destinations, source repositories and source namespaces, role names, policy lines, group
    /// names, sync windows and the description length.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let project = self.metadata.name.as_str();
        check_name(project, "metadata.name", &mut errs);
        let spec = &self.spec;

        let mut seen = BTreeSet::new();
        for (i, repo) in spec.source_repos.iter().enumerate() {
            let path = format!("spec.sourceRepos[{i}]");
            if repo == "!*" {
                errs.push(&path, "source repository has an invalid format, '!*'");
            }
            if !seen.insert(repo.as_str()) {
                errs.push(&path, format!("source repository {repo:?} already added"));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, ns) in spec.source_namespaces.iter().enumerate() {
            if !seen.insert(ns.as_str()) {
                errs.push(
                    format!("spec.sourceNamespaces[{i}]"),
                    format!("source namespace {ns:?} already added"),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (i, d) in spec.destinations.iter().enumerate() {
            let path = format!("spec.destinations[{i}]");
            for (field, v) in [
                ("server", &d.server),
                ("name", &d.name),
                ("namespace", &d.namespace),
            ] {
                if v.as_deref() == Some("!*") {
                    errs.push(
                        format!("{path}.{field}"),
                        format!("{field} has an invalid format, '!*'"),
                    );
                }
            }
            let ns = d.namespace.as_deref().unwrap_or("");
            let key = if non_empty(&d.server) {
                format!("{}/{ns}", d.server.as_deref().unwrap_or(""))
            } else {
                format!("{}/{ns}", d.name.as_deref().unwrap_or(""))
            };
            if !seen.insert(key.clone()) {
                errs.push(&path, format!("destination {key:?} already added"));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, role) in spec.roles.iter().enumerate() {
            let path = format!("spec.roles[{i}]");
            check_role(project, role, &path, &mut errs);
            if !seen.insert(role.name.as_str()) {
                errs.push(
                    format!("{path}.name"),
                    format!("role {:?} already exists", role.name),
                );
            }
        }
        for (i, w) in spec.sync_windows.iter().enumerate() {
            let path = format!("spec.syncWindows[{i}]");
            check_window(w, &path, &mut errs);
            if spec.sync_windows[..i].contains(w) {
                errs.push(&path, "sync window already exists");
            }
        }
        if let Some(d) = &spec.description {
            let n = d.chars().count();
            if n > 255 {
                errs.push(
                    "spec.description",
                    format!("description must be at most 255 characters, got {n}"),
                );
            }
        }
        errs.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(Duration::from_millis(3_723_004)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "5", "1x", "-1s", "1..5s", "5 s", "h1"] {
            if bad == "5" {
                continue;
            }
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_go_duration("5").is_err());
    }

    #[test]
    fn dns_and_refs() {
        assert!(is_dns_subdomain("api-dev.example"));
        assert!(!is_dns_subdomain("Api"));
        assert!(!is_dns_subdomain("-a"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(is_ref_key("values_1-x"));
        assert!(!is_ref_key("a/b"));
        assert!(is_valid_object("p", "p/*"));
        assert!(is_valid_object("p", "p/ns/app"));
        assert!(!is_valid_object("p", "q/app"));
        assert!(!is_valid_object("p", "p/a/b/c"));
        assert!(is_role_name("dev_team-1"));
        assert!(!is_role_name("dev-"));
    }

    #[test]
    fn sync_options() {
        assert!(check_sync_option("CreateNamespace=true").is_none());
        assert!(check_sync_option("PrunePropagationPolicy=orphan").is_none());
        let (msg, s) = check_sync_option("PrunePropagationPolicy=sideways").unwrap_or_default();
        assert!(msg.contains("invalid value"), "{msg}");
        assert_eq!(s.as_deref(), Some("PrunePropagationPolicy=foreground"));
        let (msg, s) = check_sync_option("CreateNamespce=true").unwrap_or_default();
        assert!(msg.contains("unknown sync option"), "{msg}");
        assert_eq!(s.as_deref(), Some("CreateNamespace=true"));
    }
}
