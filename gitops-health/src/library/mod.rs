//! The built-in health script library, written in Rhai for gitops-rs.
//!
//! One script per kind lives in `src/library/scripts/<group>/<Kind>.rhai` (wildcard groups and
//! kinds are spelled `_`, as in Argo CD's `resource_customizations`). The scripts were written
//! from the kinds' documented status semantics and Argo CD's test data; they follow the contract
//! of [`crate::script::rhai_engine`].
//!
//! Lookup ([`Library::lookup`]) follows spec/health.md §6.2 steps 3–4: the exact `group/Kind`
//! first, then the wildcard entries — each `_` in the entry's path becomes a `*` that does not
//! cross `/` — tried in lexicographic order; the first match wins.
//!
//! ```
//! use gitops_health::library::Library;
//!
//! let lib = Library::builtin();
//! assert!(lib.lookup("argoproj.io", "Rollout").is_some());
//! // `_.crossplane.io/_` matches any kind in any crossplane.io sub-group.
//! assert!(lib.lookup("ec2.aws.crossplane.io", "VPC").is_some());
//! assert!(lib.lookup("", "ConfigMap").is_none());
//! assert!(Library::builtin().errors().is_empty());
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::script::rhai_engine::{RhaiEngine, RhaiScript};
use crate::script::{Limits, ScriptError};

macro_rules! scripts {
    ($(($group:literal, $kind:literal)),* $(,)?) => {
        &[$(($group, $kind, include_str!(concat!("scripts/", $group, "/", $kind, ".rhai")))),*]
    };
}

/// `(group, kind, source)` of every shipped script; `_` is the wildcard.
static SOURCES: &[(&str, &str, &str)] = scripts![
    ("_.crossplane.io", "_"),
    ("_.upbound.io", "_"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("argoproj.io", "AnalysisRun"),
    ("argoproj.io", "Experiment"),
    ("argoproj.io", "Rollout"),
    ("batch", "CronJob"),
    ("bitnami.com", "SealedSecret"),
    ("cert-manager.io", "Certificate"),
    ("cert-manager.io", "ClusterIssuer"),
    ("cert-manager.io", "Issuer"),
    ("cluster.x-k8s.io", "Cluster"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ExternalSecret"),
    ("external-secrets.io", "SecretStore"),
    ("gateway.networking.k8s.io", "GRPCRoute"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("helm.toolkit.fluxcd.io", "HelmRelease"),
    ("kafka.strimzi.io", "Kafka"),
    ("keda.sh", "ScaledJob"),
    ("keda.sh", "ScaledObject"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization"),
    ("operators.coreos.com", "Subscription"),
    ("pkg.crossplane.io", "Provider"),
    ("policy", "PodDisruptionBudget"),
    ("postgresql.cnpg.io", "Cluster"),
    ("serving.knative.dev", "Service"),
    ("source.toolkit.fluxcd.io", "GitRepository"),
    ("source.toolkit.fluxcd.io", "HelmRepository"),
    ("source.toolkit.fluxcd.io", "OCIRepository"),
];

/// One library entry.
#[derive(Debug)]
struct Entry {
    group: &'static str,
    kind: &'static str,
    source: &'static str,
    script: Option<RhaiScript>,
}

/// The built-in Rhai script library: compiled once, looked up by group and kind.
#[derive(Debug)]
pub struct Library {
    entries: Vec<Entry>,
    /// Exact `(group, kind)` → index into `entries`.
    exact: HashMap<(&'static str, &'static str), usize>,
    /// Wildcard entries as (`group/kind` pattern, index), sorted by pattern.
    wildcards: Vec<(String, usize)>,
    errors: Vec<ScriptError>,
}

impl Library {
    /// The shipped library, compiled on first use with [`Limits::default`] on one shared
    /// engine. A script that fails to compile (a bug caught by the crate's tests) is left out of
    /// lookups and its error is kept in [`Library::errors`].
    pub fn builtin() -> &'static Library {
        static LIBRARY: OnceLock<Library> = OnceLock::new();
        LIBRARY.get_or_init(|| Library::compile(&RhaiEngine::new(Limits::default())))
    }

    /// Compiles the shipped scripts on the given engine (for other limits than the default).
    pub fn compile(engine: &RhaiEngine) -> Library {
        let mut entries = Vec::with_capacity(SOURCES.len());
        let mut errors = Vec::new();
        for &(group, kind, source) in SOURCES {
            let script = match engine.compile(format!("{group}/{kind}.rhai"), source) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(e);
                    None
                }
            };
            entries.push(Entry {
                group,
                kind,
                source,
                script,
            });
        }
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.group.contains('_') || e.kind.contains('_') {
                wildcards.push((format!("{}/{}", e.group, e.kind).replace('_', "*"), i));
            } else {
                exact.insert((e.group, e.kind), i);
            }
        }
        wildcards.sort();
        Library {
            entries,
            exact,
            wildcards,
            errors,
        }
    }

    /// The script for a group and kind (`""` is the core group): the exact entry first, then
    /// the first matching wildcard pattern in lexicographic order. Scripts that failed to
    /// compile are skipped.
    pub fn lookup(&self, group: &str, kind: &str) -> Option<&RhaiScript> {
        if let Some(&i) = self.exact.get(&(group, kind))
            && let Some(s) = &self.entries[i].script
        {
            return Some(s);
        }
        let key = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{group}/{kind}")
        };
        self.wildcards
            .iter()
            .filter(|(pattern, _)| glob_match(pattern, &key))
            .find_map(|&(_, i)| self.entries[i].script.as_ref())
    }

    /// Every entry as `(group, kind, source)`, wildcards spelled `_`, sorted by group and kind.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> + '_ {
        self.entries.iter().map(|e| (e.group, e.kind, e.source))
    }

    /// The source of the entry with exactly this group and kind (wildcards spelled `_`).
    pub fn source(&self, group: &str, kind: &str) -> Option<&'static str> {
        self.entries
            .iter()
            .find(|e| e.group == group && e.kind == kind)
            .map(|e| e.source)
    }

    /// Compile errors of shipped scripts (empty unless the library has a bug).
    pub fn errors(&self) -> &[ScriptError] {
        &self.errors
    }
}

/// Matches `text` against `pattern`, where `*` matches any run of characters except `/`.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (mut ps, mut ts) = (pattern.split('/'), text.split('/'));
    loop {
        match (ps.next(), ts.next()) {
            (None, None) => return true,
            (Some(p), Some(t)) if segment_match(p.as_bytes(), t.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// Matches one `/`-free segment, `*` matching any run of bytes.
fn segment_match(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if p.get(pi) == Some(&b'*') {
            star = Some((pi, ti));
            pi += 1;
        } else if p.get(pi) == Some(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_do_not_cross_slashes() {
        assert!(glob_match("*.crossplane.io/*", "ec2.aws.crossplane.io/VPC"));
        assert!(glob_match("*.upbound.io/*", "azure.m.upbound.io/ResourceGroup"));
        assert!(!glob_match("*.crossplane.io/*", "crossplane.io/VPC"));
        assert!(!glob_match("*/*", "a/b/c"));
        assert!(!glob_match("*.io/*", "x/y.io/z"));
        assert!(glob_match("a*", "abc"));
        assert!(!glob_match("a*", "ab/c"));
    }
}
