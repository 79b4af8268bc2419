//! Rhai health scripts: compiled once, evaluated many times in a sandbox.
//!
//! # Contract for script authors
//!
//! * The variable `obj` holds the live object as a Rhai object map (converted with
//!   `rhai::serde::to_dynamic`): JSON integers are `INT`, other numbers `FLOAT`, `null` is `()`,
//!   arrays are arrays and objects are maps. `obj` is a constant; copy what you want to change.
//! * The script's final expression (or a top-level `return`) is the result: a map
//!   `#{status: "...", message: "..."}`.
//!   * `status` one of `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown` →
//!     that status, with `message` (`""` when absent).
//!   * `status` absent or any other string → `Unknown`, "Rhai returned an invalid health status".
//!   * `()` (no result), an empty map, or a `status`/`message` that is not a string → an
//!     [`ScriptHealth::Empty`] result (Argo CD's *empty result*, final).
//!   * anything else (a number, a string, an array…) → [`ScriptError::BadOutput`]
//!     `expect map output from Rhai script, not <type>`.
//! * Script functions (`fn`) cannot see `obj`; pass it as a parameter.
//! * Reading a missing map property gives `()`; use `?.` and `??` to walk optional paths:
//!   `obj.status?.phase ?? ""`.
//! * Helpers registered on the engine:
//!   * `get_path(value, "status.loadBalancer.ingress")` — follows dot-separated keys (a numeric
//!     segment indexes an array); `()` as soon as a step is missing or of the wrong type.
//!   * `conditions(obj)` — `obj.status.conditions` as an array of maps (`[]` when absent or not
//!     an array; entries that are not maps are dropped).
//!   * `condition(obj, "Ready")` — the first of `conditions(obj)` whose `type` is the given
//!     string, or `()`.
//!   * `as_int(value)` — an `INT` from an integer, an integral float or a decimal string;
//!     `()` otherwise.
//! * Sandbox: there is no file, network or module access (`import` and `eval` are refused at
//!   compile time), `print`/`debug` output is discarded, and every evaluation runs under
//!   [`Limits`]: wall time, operation count, call depth, string, array and map sizes. Going over
//!   a bound stops the script with [`ScriptError::Limit`].
//!
//! ```
//! use gitops_health::core::Object;
//! use gitops_health::core::engine::HealthCode;
//! use gitops_health::script::{HealthScript, Limits, ScriptHealth};
//! use gitops_health::script::rhai_engine::RhaiScript;
//!
//! let script = RhaiScript::compile(
//!     "example.com/Widget",
//!     r#"
//!     let ready = condition(obj, "Ready");
//!     if ready == () {
//!         return #{ status: "Progressing", message: "Waiting for the Ready condition" };
//!     }
//!     if ready.status == "True" {
//!         #{ status: "Healthy", message: ready.message ?? "" }
//!     } else {
//!         #{ status: "Degraded", message: ready.message ?? "" }
//!     }
//!     "#,
//!     Limits::default(),
//! )?;
//! let widget = Object::from_value(serde_json::json!({
//!     "apiVersion": "example.com/v1",
//!     "kind": "Widget",
//!     "metadata": {"name": "w"},
//!     "status": {"conditions": [{"type": "Ready", "status": "False", "message": "broken"}]},
//! }))?;
//! match script.evaluate(&widget)? {
//!     ScriptHealth::Health(h) => {
//!         assert_eq!(h.status, HealthCode::Degraded);
//!         assert_eq!(h.message, "broken");
//!     }
//!     ScriptHealth::Empty => unreachable!(),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};
use rhai::{AST, Array, Dynamic, Engine, EvalAltResult, INT, Map, Scope};

use super::{HealthScript, Limits, ScriptError, ScriptHealth, ScriptLanguage};

/// Deepest expression nesting accepted at compile time (top level, inside functions).
const MAX_EXPR_DEPTH: (usize, usize) = (128, 64);
/// The deadline is checked every this many operations (a power of two).
const DEADLINE_CHECK_EVERY: u64 = 256;

thread_local! {
    /// The deadline of the evaluation running on this thread, read by the progress callback.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Restores the previous thread deadline when an evaluation ends (also on early return).
struct DeadlineGuard(Option<Instant>);

impl DeadlineGuard {
    fn set(deadline: Instant) -> Self {
        DeadlineGuard(DEADLINE.with(|d| d.replace(Some(deadline))))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        let previous = self.0;
        DEADLINE.with(|d| d.set(previous));
    }
}

/// A sandboxed Rhai engine configured from [`Limits`]; share one (it is cheap to clone, an
/// [`Arc`] inside) across many scripts.
#[derive(Clone)]
pub struct RhaiEngine {
    engine: Arc<Engine>,
    limits: Limits,
}

impl fmt::Debug for RhaiEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RhaiEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for RhaiEngine {
    fn default() -> Self {
        RhaiEngine::new(Limits::default())
    }
}

impl RhaiEngine {
    /// Builds a sandboxed engine with the given limits and the helper functions described in
    /// the [module docs](self).
    pub fn new(limits: Limits) -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_array_size)
            .set_max_expr_depths(MAX_EXPR_DEPTH.0, MAX_EXPR_DEPTH.1)
            .set_strict_variables(true)
            .disable_symbol("eval")
            .on_print(|_| {})
            .on_debug(|_, _, _| {})
            .on_progress(|ops| {
                if ops % DEADLINE_CHECK_EVERY != 0 {
                    return None;
                }
                let deadline = DEADLINE.with(Cell::get)?;
                (Instant::now() >= deadline).then(|| Dynamic::from("timeout"))
            });
        engine
            .register_fn("get_path", get_path)
            .register_fn("conditions", conditions)
            .register_fn("condition", condition)
            .register_fn("as_int", as_int);
        // Rhai does not size-check what native methods do to their `&mut` array argument; these
        // checked versions of the growing methods shadow the standard ones.
        let max_array = limits.max_array_size;
        engine
            .register_fn(
                "push",
                move |arr: &mut Array, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
                    grow_array(arr, 1, max_array)?;
                    arr.push(item);
                    Ok(())
                },
            )
            .register_fn(
                "append",
                move |arr: &mut Array, more: Array| -> Result<(), Box<EvalAltResult>> {
                    grow_array(arr, more.len(), max_array)?;
                    arr.extend(more);
                    Ok(())
                },
            )
            .register_fn(
                "insert",
                move |arr: &mut Array, index: INT, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
                    grow_array(arr, 1, max_array)?;
                    let len = INT::try_from(arr.len()).unwrap_or(INT::MAX);
                    let at = if index < 0 {
                        (len + index).max(0)
                    } else {
                        index.min(len)
                    };
                    arr.insert(usize::try_from(at).unwrap_or(0), item);
                    Ok(())
                },
            );
        RhaiEngine {
            engine: Arc::new(engine),
            limits,
        }
    }

    /// The limits every evaluation runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles a script on this engine (see [`RhaiScript::compile_with`]).
    pub fn compile(&self, name: impl Into<String>, source: &str) -> Result<RhaiScript, ScriptError> {
        RhaiScript::compile_with(self, name, source)
    }
}

/// A compiled Rhai health script.
#[derive(Clone)]
pub struct RhaiScript {
    name: String,
    engine: RhaiEngine,
    ast: Arc<AST>,
}

impl fmt::Debug for RhaiScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RhaiScript")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RhaiScript {
    /// Compiles `source` on a new engine built from `limits`. To compile many scripts, build one
    /// [`RhaiEngine`] and use [`RhaiScript::compile_with`] instead.
    pub fn compile(name: impl Into<String>, source: &str, limits: Limits) -> Result<RhaiScript, ScriptError> {
        RhaiScript::compile_with(&RhaiEngine::new(limits), name, source)
    }

    /// Compiles `source` on a shared engine.
    ///
    /// # Errors
    /// [`ScriptError::Compile`] for a syntax error, an unknown variable (only `obj` is
    /// predefined), or a refused symbol (`eval`, `import`).
    pub fn compile_with(
        engine: &RhaiEngine,
        name: impl Into<String>,
        source: &str,
    ) -> Result<RhaiScript, ScriptError> {
        let name = name.into();
        // `obj` is declared for strict-variables checking. It must not be a constant here: the
        // optimizer would fold its placeholder value into the script.
        let mut scope = Scope::new();
        scope.push_dynamic("obj", Dynamic::UNIT);
        match engine.engine.compile_with_scope(&scope, source) {
            Ok(ast) => Ok(RhaiScript {
                name,
                engine: engine.clone(),
                ast: Arc::new(ast),
            }),
            Err(e) => Err(ScriptError::Compile {
                language: ScriptLanguage::Rhai,
                name,
                message: e.to_string(),
            }),
        }
    }

    /// The engine this script runs on.
    pub fn engine(&self) -> &RhaiEngine {
        &self.engine
    }

    /// Evaluates the script against an object given as JSON (the object need not pass
    /// [`Object::from_value`] validation).
    ///
    /// # Errors
    /// See [`HealthScript::evaluate`].
    pub fn evaluate_value(&self, value: &serde_json::Value) -> Result<ScriptHealth, ScriptError> {
        let obj = rhai::serde::to_dynamic(value).map_err(|e| ScriptError::Runtime {
            language: ScriptLanguage::Rhai,
            message: format!("rhai script {}: cannot convert the object: {e}", self.name),
        })?;
        let mut scope = Scope::new();
        scope.push_constant_dynamic("obj", obj);
        let limits = self.engine.limits;
        let start = Instant::now();
        let _guard = DeadlineGuard::set(start + limits.timeout);
        let out = self
            .engine
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast);
        match out {
            Ok(v) => interpret(v),
            Err(e) => Err(self.error(&e)),
        }
    }

    fn error(&self, err: &EvalAltResult) -> ScriptError {
        let limits = self.engine.limits;
        let limit = |message: String| ScriptError::Limit {
            language: ScriptLanguage::Rhai,
            message,
        };
        match err.unwrap_inner() {
            EvalAltResult::ErrorTerminated(..) => {
                limit(format!("timeout of {} exceeded", fmt_duration(limits.timeout)))
            }
            EvalAltResult::ErrorTooManyOperations(..) => limit(format!(
                "too many operations (more than {})",
                limits.max_operations
            )),
            EvalAltResult::ErrorStackOverflow(..) => limit(format!(
                "call stack too deep (more than {} levels)",
                limits.max_call_depth
            )),
            EvalAltResult::ErrorDataTooLarge(what, ..) => {
                let what = what.to_lowercase();
                let (kind, max) = if what.contains("string") {
                    ("string", limits.max_string_size)
                } else if what.contains("array") {
                    ("array", limits.max_array_size)
                } else if what.contains("map") {
                    ("map", limits.max_array_size)
                } else {
                    ("data", limits.max_array_size)
                };
                limit(format!("{kind} too large (more than {max})"))
            }
            EvalAltResult::ErrorTooManyVariables(..) => limit("too many variables".to_owned()),
            EvalAltResult::ErrorRuntime(value, ..) => ScriptError::Runtime {
                language: ScriptLanguage::Rhai,
                message: format!("rhai script {} failed: {value}", self.name),
            },
            _ => ScriptError::Runtime {
                language: ScriptLanguage::Rhai,
                message: format!("rhai script {} failed: {err}", self.name),
            },
        }
    }
}

impl HealthScript for RhaiScript {
    fn language(&self) -> ScriptLanguage {
        ScriptLanguage::Rhai
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, obj: &Object) -> Result<ScriptHealth, ScriptError> {
        self.evaluate_value(obj.as_value())
    }
}

/// Maps a script's return value onto the result contract (see the module docs).
fn interpret(value: Dynamic) -> Result<ScriptHealth, ScriptError> {
    if value.is_unit() {
        return Ok(ScriptHealth::Empty);
    }
    let Some(map) = value.clone().try_cast::<Map>() else {
        return Err(ScriptError::BadOutput(format!(
            "expect map output from Rhai script, not {}",
            type_name(&value)
        )));
    };
    if map.is_empty() {
        return Ok(ScriptHealth::Empty);
    }
    let text = |key: &str| -> Result<String, ()> {
        match map.get(key) {
            None => Ok(String::new()),
            Some(v) if v.is_unit() => Ok(String::new()),
            Some(v) if v.is_string() => Ok(v.to_string()),
            Some(_) => Err(()),
        }
    };
    let (Ok(status), Ok(message)) = (text("status"), text("message")) else {
        return Ok(ScriptHealth::Empty);
    };
    Ok(ScriptHealth::Health(match HealthCode::parse(&status) {
        Some(code) => Health::new(code, message),
        None => Health::new(HealthCode::Unknown, "Rhai returned an invalid health status"),
    }))
}

/// A short type name for messages.
fn type_name(value: &Dynamic) -> &'static str {
    if value.is_int() {
        "int"
    } else if value.is_float() {
        "float"
    } else if value.is_string() {
        "string"
    } else if value.is_bool() {
        "bool"
    } else if value.is_char() {
        "char"
    } else if value.is_array() {
        "array"
    } else if value.is_fnptr() {
        "function pointer"
    } else {
        value.type_name()
    }
}

/// `1s`, `250ms`, or a debug rendering for anything finer.
fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
}

/// Fails with Rhai's "Size of array" error when `arr` would grow past `max` elements.
fn grow_array(arr: &Array, by: usize, max: usize) -> Result<(), Box<EvalAltResult>> {
    if max > 0 && arr.len().saturating_add(by) > max {
        return Err(Box::new(EvalAltResult::ErrorDataTooLarge(
            "Size of array".to_owned(),
            rhai::Position::NONE,
        )));
    }
    Ok(())
}

/// Helper `get_path(value, "a.b.0.c")`.
fn get_path(value: Dynamic, path: &str) -> Dynamic {
    let mut cur = value;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let next = if let Some(map) = cur.read_lock::<Map>() {
            map.get(seg).cloned()
        } else if let Some(arr) = cur.read_lock::<Array>() {
            seg.parse::<usize>().ok().and_then(|i| arr.get(i).cloned())
        } else {
            None
        };
        match next {
            Some(v) => cur = v,
            None => return Dynamic::UNIT,
        }
    }
    cur
}

/// Helper `conditions(obj)`.
fn conditions(obj: Dynamic) -> Array {
    let list = get_path(obj, "status.conditions");
    match list.try_cast::<Array>() {
        Some(arr) => arr.into_iter().filter(Dynamic::is_map).collect(),
        None => Array::new(),
    }
}

/// Helper `condition(obj, type)`.
fn condition(obj: Dynamic, kind: &str) -> Dynamic {
    conditions(obj)
        .into_iter()
        .find(|c| {
            c.read_lock::<Map>().is_some_and(|m| {
                m.get("type")
                    .and_then(|t| t.read_lock::<rhai::ImmutableString>().map(|s| s.as_str() == kind))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(Dynamic::UNIT)
}

/// Helper `as_int(value)`.
fn as_int(value: Dynamic) -> Dynamic {
    if let Ok(i) = value.as_int() {
        return Dynamic::from_int(i);
    }
    if let Ok(f) = value.as_float() {
        // The range check keeps the cast exact; `INT::MAX as f64` rounds up, hence `<`.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        if f.fract() == 0.0 && f >= INT::MIN as f64 && f < INT::MAX as f64 {
            return Dynamic::from_int(f as INT);
        }
        return Dynamic::UNIT;
    }
    if let Some(s) = value.read_lock::<rhai::ImmutableString>() {
        if let Ok(i) = s.trim().parse::<INT>() {
            return Dynamic::from_int(i);
        }
    }
    Dynamic::UNIT
}
