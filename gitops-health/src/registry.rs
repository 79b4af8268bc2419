//! The health registry: decides which check assesses an object (spec/health.md §2 and §6.2).
//!
//! [`HealthRegistry`] implements [`HealthCheck`] with this order; the first step that applies
//! decides:
//!
//! 1. **Pending deletion** ([`crate::pending_deletion`]), for every kind.
//! 2. **Configured scripts** ([`HealthConfig`], from `argocd-cm` or the native format): the entry
//!    whose key equals the object's key (`group/Kind`, or `Kind` for the core group), then the
//!    entries whose key is a glob matching it (Argo CD's gobwas globs without separators: `*`
//!    also matches `/`). Only entries with a non-empty script count. When several globs match,
//!    the **lexicographically smallest key wins** — Argo CD visits them in Go map order, so its
//!    choice is nondeterministic there; ours is deterministic.
//! 3. **The built-in Rhai library** ([`Library::builtin`]), unless
//!    [`HealthRegistry::without_library`] was called.
//! 4. **The built-in checks** ([`BuiltinHealth`]).
//! 5. Otherwise no result (`Ok(None)`).
//!
//! A script's empty result ([`ScriptHealth::Empty`]) is final: the object has no health and
//! later steps are not consulted. A script that fails (run-time error, a bound of [`Limits`], a
//! bad return value) gives `Unknown` with the error's message. Every configured script is
//! compiled once, when the registry is built; one that does not compile gives `Unknown` with the
//! compile error for its kind, and is listed by [`HealthRegistry::problems`].
//!
//! ```
//! use gitops_health::core::engine::{HealthCheck, HealthCode};
//! use gitops_health::core::Object;
//! use gitops_health::registry::HealthRegistry;
//!
//! let cm = Object::from_value(serde_json::json!({
//!     "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"},
//!     "data": {"resource.customizations.health.apps_Deployment": "return {status = 'Suspended'}"},
//! }))?;
//! let registry = HealthRegistry::from_argocd_cm(&cm)?;
//! let deployment = Object::new("apps/v1", "Deployment", Some("ns"), "web");
//! let health = registry.check(&deployment)?.expect("a result");
//! assert_eq!(health.status, HealthCode::Suspended);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;

use gitops_core::Object;
use gitops_core::engine::{EngineError, Health, HealthCheck, HealthCode};
use globset::{GlobBuilder, GlobMatcher};

use crate::config::{ConfigError, HealthConfig, ScriptEntry};
use crate::library::Library;
use crate::script::rhai_engine::RhaiScript;
use crate::script::{HealthScript, Limits, ScriptError, ScriptHealth, ScriptLanguage};
use crate::{BuiltinHealth, has_builtin_check, pending_deletion};

/// What handles a group/Kind (see [`HealthRegistry::lookup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Which {
    /// A configured script.
    Configured {
        /// The configuration key that matched (`group/Kind`, `Kind` or a glob).
        key: String,
        /// Whether the key is a glob (not an exact match).
        glob: bool,
        /// The script's language.
        language: ScriptLanguage,
        /// The script's name (its origin).
        name: String,
        /// Lua only: `useOpenLibs`.
        use_open_libs: bool,
        /// The compile error, when the script does not compile (the kind is then `Unknown`).
        error: Option<String>,
    },
    /// A script of the built-in Rhai library.
    Library {
        /// The script's name.
        name: String,
    },
    /// A built-in check (Argo CD's Go checks).
    Builtin,
    /// Nothing: objects of this kind have no health (unless being deleted).
    Nothing,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Which::Configured {
                key,
                glob,
                language,
                name,
                use_open_libs,
                error,
            } => {
                write!(f, "configured {language} script {name} (key {key}")?;
                if *glob {
                    f.write_str(", glob")?;
                }
                if *use_open_libs {
                    f.write_str(", useOpenLibs")?;
                }
                f.write_str(")")?;
                if let Some(e) = error {
                    write!(f, ", broken: {e}")?;
                }
                Ok(())
            }
            Which::Library { name } => write!(f, "built-in rhai script {name}"),
            Which::Builtin => f.write_str("built-in check"),
            Which::Nothing => f.write_str("no health check"),
        }
    }
}

/// A configured script, compiled (or the reason it is not).
struct Compiled {
    entry: ScriptEntry,
    script: Result<Arc<dyn HealthScript>, String>,
}

impl Compiled {
    fn new(entry: ScriptEntry, limits: Limits) -> Compiled {
        let script = compile(&entry, limits).map_err(|e| e.to_string());
        Compiled { entry, script }
    }

    fn evaluate(&self, obj: &Object) -> Option<Health> {
        match &self.script {
            Ok(script) => evaluate(script.as_ref(), obj),
            Err(message) => Some(Health::new(HealthCode::Unknown, message.clone())),
        }
    }

    fn which(&self, glob: bool) -> Which {
        Which::Configured {
            key: self.entry.key.clone(),
            glob,
            language: self.entry.language,
            name: self.entry.origin.clone(),
            use_open_libs: self.entry.use_open_libs,
            error: self.script.as_ref().err().cloned(),
        }
    }
}

fn compile(entry: &ScriptEntry, limits: Limits) -> Result<Arc<dyn HealthScript>, ScriptError> {
    match entry.language {
        ScriptLanguage::Rhai => Ok(Arc::new(RhaiScript::compile(
            entry.origin.as_str(),
            &entry.script,
            limits,
        )?)),
        ScriptLanguage::Lua => compile_lua(entry, limits),
    }
}

#[cfg(feature = "lua")]
fn compile_lua(entry: &ScriptEntry, limits: Limits) -> Result<Arc<dyn HealthScript>, ScriptError> {
    Ok(Arc::new(crate::script::lua_engine::LuaScript::compile(
        entry.origin.as_str(),
        &entry.script,
        entry.use_open_libs,
        limits,
    )?))
}

#[cfg(not(feature = "lua"))]
fn compile_lua(entry: &ScriptEntry, _limits: Limits) -> Result<Arc<dyn HealthScript>, ScriptError> {
    Err(ScriptError::Compile {
        language: ScriptLanguage::Lua,
        name: entry.origin.clone(),
        message: "lua scripts need the `lua` feature of gitops-health".into(),
    })
}

/// Runs a script: a health, `None` for an empty result, `Unknown` on error.
fn evaluate(script: &dyn HealthScript, obj: &Object) -> Option<Health> {
    match script.evaluate(obj) {
        Ok(ScriptHealth::Health(h)) => Some(h),
        Ok(ScriptHealth::Empty) => None,
        Err(e) => Some(Health::new(HealthCode::Unknown, e.to_string())),
    }
}

/// The object's override key: `group/Kind`, or `Kind` for the core group.
fn object_key(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{group}/{kind}")
    }
}

/// Health checks with configured scripts, the built-in Rhai library and the built-in checks, in
/// the order of the [module documentation](self).
pub struct HealthRegistry {
    exact: std::collections::HashMap<String, Compiled>,
    /// Glob entries, sorted by key.
    globs: Vec<(GlobMatcher, Compiled)>,
    library: Option<&'static Library>,
    limits: Limits,
    problems: Vec<String>,
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&str> = self.exact.keys().map(String::as_str).collect();
        keys.sort_unstable();
        f.debug_struct("HealthRegistry")
            .field("exact", &keys)
            .field(
                "globs",
                &self
                    .globs
                    .iter()
                    .map(|(_, c)| c.entry.key.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("library", &self.library.is_some())
            .field("limits", &self.limits)
            .field("problems", &self.problems)
            .finish()
    }
}

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthRegistry {
    /// The built-in Rhai library and the built-in checks, no configured scripts.
    pub fn new() -> Self {
        HealthRegistry {
            exact: std::collections::HashMap::new(),
            globs: Vec::new(),
            library: Some(Library::builtin()),
            limits: Limits::default(),
            problems: Vec::new(),
        }
    }

    /// Sets the bounds for configured scripts compiled by later [`with_config`] calls.
    ///
    /// [`with_config`]: HealthRegistry::with_config
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds the scripts of `config` (compiling each one now). An entry replaces an earlier one
    /// with the same key. Entries with an empty script are ignored.
    #[must_use]
    pub fn with_config(mut self, config: &HealthConfig) -> Self {
        for entry in config.entries() {
            if entry.script.trim().is_empty() {
                continue;
            }
            let key = entry.key.clone();
            let compiled = Compiled::new(entry.clone(), self.limits);
            if let Err(e) = &compiled.script {
                self.problems.push(format!("{key}: {e}"));
            }
            if is_glob(&key) {
                self.globs.retain(|(_, c)| c.entry.key != key);
                let glob = GlobBuilder::new(&key)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build();
                match glob {
                    Ok(glob) => self.globs.push((glob.compile_matcher(), compiled)),
                    // Argo CD: a key that is not a valid glob never matches.
                    Err(e) => self
                        .problems
                        .push(format!("{key}: invalid glob, never matches: {e}")),
                }
            } else {
                self.exact.insert(key, compiled);
            }
        }
        self.globs.sort_by(|a, b| a.1.entry.key.cmp(&b.1.entry.key));
        self
    }

    /// Leaves out the built-in Rhai library (step 3).
    #[must_use]
    pub fn without_library(mut self) -> Self {
        self.library = None;
        self
    }

    /// A registry with the health scripts of an `argocd-cm` ConfigMap, the built-in library and
    /// the built-in checks.
    ///
    /// # Errors
    /// As [`HealthConfig::from_argocd_cm`]. Scripts that do not compile are not errors; see
    /// [`HealthRegistry::problems`].
    pub fn from_argocd_cm(cm: &Object) -> Result<Self, ConfigError> {
        Ok(HealthRegistry::new().with_config(&HealthConfig::from_argocd_cm(cm)?))
    }

    /// Configuration problems found while building: scripts that do not compile (their kinds
    /// report `Unknown` with the error) and glob keys that are not valid globs.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    fn configured(&self, group: &str, kind: &str) -> Option<(&Compiled, bool)> {
        let key = object_key(group, kind);
        if let Some(c) = self.exact.get(&key) {
            return Some((c, false));
        }
        self.globs
            .iter()
            .find(|(m, _)| m.is_match(&key))
            .map(|(_, c)| (c, true))
    }

    /// Which check handles objects of this group and kind (leaving out the pending-deletion
    /// rule, which applies to every kind).
    pub fn lookup(&self, group: &str, kind: &str) -> Which {
        if let Some((c, glob)) = self.configured(group, kind) {
            return c.which(glob);
        }
        if let Some(script) = self.library.and_then(|l| l.lookup(group, kind)) {
            return Which::Library {
                name: script.name().to_owned(),
            };
        }
        if has_builtin_check(group, kind) {
            return Which::Builtin;
        }
        Which::Nothing
    }

    /// Assesses one object (the same as [`HealthCheck::check`], which never fails here).
    pub fn health(&self, obj: &Object) -> Option<Health> {
        if let Some(h) = pending_deletion(obj) {
            return Some(h);
        }
        let (group, kind) = (obj.group(), obj.kind());
        if let Some((c, _)) = self.configured(group, kind) {
            return c.evaluate(obj);
        }
        if let Some(script) = self.library.and_then(|l| l.lookup(group, kind)) {
            return evaluate(script, obj);
        }
        BuiltinHealth.check(obj).ok().flatten()
    }
}

/// Whether a key has glob syntax (gobwas: `*`, `?`, `[`, `{`, `\`).
fn is_glob(key: &str) -> bool {
    key.contains(['*', '?', '[', '{', '\\'])
}

impl HealthCheck for HealthRegistry {
    fn check(&self, obj: &Object) -> Result<Option<Health>, EngineError> {
        Ok(self.health(obj))
    }
}
