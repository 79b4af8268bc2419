//! Health scripts: the contract shared by the Rhai engine ([`rhai_engine`]) and the Lua engine
//! ([`lua_engine`], feature `lua`).
//!
//! A script receives the live object as `obj` and returns a map/table with `status` and
//! `message`. The result follows Argo CD's contract (spec/health.md §6.4): one of the six status
//! codes is used as is; any other status string (including none) is `Unknown` "… returned an
//! invalid health status"; returning nothing (or an empty table, or mistyped fields) is an
//! [`ScriptHealth::Empty`] result, which is final — it does not fall back to a built-in check.
//! Every evaluation runs under [`Limits`]: a script that loops forever, recurses too deep or
//! allocates without end stops with an error, which callers report as `Unknown`.

use std::fmt;
use std::time::Duration;

use gitops_core::Object;
use gitops_core::engine::Health;

#[cfg(feature = "lua")]
pub mod lua_engine;
pub mod rhai_engine;

/// Bounds on one script evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Wall-clock bound per evaluation (Argo CD uses 1 s).
    pub timeout: Duration,
    /// Most operations (Rhai) or VM instructions (Lua, counted in hooks) per evaluation.
    pub max_operations: u64,
    /// Deepest call nesting.
    pub max_call_depth: usize,
    /// Longest string, in bytes.
    pub max_string_size: usize,
    /// Most elements of one array/table.
    pub max_array_size: usize,
    /// Most memory a Lua state may allocate, in bytes.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(1),
            max_operations: 5_000_000,
            max_call_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_memory: 64 << 20,
        }
    }
}

impl Limits {
    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Sets the operation bound.
    #[must_use]
    pub fn max_operations(mut self, n: u64) -> Self {
        self.max_operations = n;
        self
    }
}

/// The script languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptLanguage {
    /// Rhai.
    Rhai,
    /// Lua 5.1 (Argo CD's argocd-cm scripts).
    Lua,
}

impl fmt::Display for ScriptLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScriptLanguage::Rhai => "rhai",
            ScriptLanguage::Lua => "lua",
        })
    }
}

/// What a script returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptHealth {
    /// A health status (possibly `Unknown` "… returned an invalid health status").
    Health(Health),
    /// Nothing usable (nil, an empty table, mistyped fields): Argo CD's *empty result*. Final:
    /// no built-in check is consulted; it ranks as Healthy in aggregation and as success for hooks.
    Empty,
}

/// Why a script could not produce a result. Callers report it as `Unknown` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The script does not compile.
    #[error("{language} script {name} does not compile: {message}")]
    Compile {
        /// Language.
        language: ScriptLanguage,
        /// Script name (e.g. the argocd-cm key).
        name: String,
        /// The compiler's message.
        message: String,
    },
    /// The script failed while running (including a refused library call).
    #[error("{message}")]
    Runtime {
        /// Language.
        language: ScriptLanguage,
        /// The error message, stack trace stripped.
        message: String,
    },
    /// The script went over a bound of [`Limits`].
    #[error("{language} script stopped: {message}")]
    Limit {
        /// Language.
        language: ScriptLanguage,
        /// Which bound (`timeout of 1s exceeded`, `too many operations`, …).
        message: String,
    },
    /// The script returned something that is not a map/table (e.g. a number).
    #[error("{0}")]
    BadOutput(String),
}

/// A compiled health script.
///
/// # Behavior
/// - `evaluate` never panics and never blocks longer than the engine's [`Limits::timeout`].
/// - Implementations are cheap to call repeatedly: compile once, evaluate many times.
pub trait HealthScript: Send + Sync + 'static {
    /// The language.
    fn language(&self) -> ScriptLanguage;
    /// A name for messages (file name or argocd-cm key).
    fn name(&self) -> &str;
    /// Evaluates the script against a live object.
    fn evaluate(&self, obj: &Object) -> Result<ScriptHealth, ScriptError>;
}

/// Converts an evaluation into the `HealthCheck` answer: a health, `None` for an empty result,
/// or `Unknown` with the error's message.
pub fn to_health(result: Result<ScriptHealth, ScriptError>) -> Option<Health> {
    match result {
        Ok(ScriptHealth::Health(h)) => Some(h),
        Ok(ScriptHealth::Empty) => None,
        Err(e) => Some(Health::new(
            gitops_core::engine::HealthCode::Unknown,
            e.to_string(),
        )),
    }
}
