//! Rhai health scripts: compiled once, evaluated many times in a sandbox.
//!
//! # Contract for script authors
//!
//! * The variable `obj` holds the live object as a Rhai object map: JSON integers are `INT`
//!   (integers past `INT` are `FLOAT`), other numbers `FLOAT`, `null` is `()`, arrays are arrays
//!   and objects are maps. `obj` is a constant; copy what you want to change.
//!   Only the parts of the object a script can reach are converted: the source is scanned for
//!   `obj` followed by constant steps (`obj.status?.phase`, `obj.metadata?.labels?["app"]`,
//!   `obj.condition(…)`); any other use of `obj` (passing it to a function, a computed index…)
//!   converts it whole. Scripts cannot tell the difference.
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
//! * Helpers registered on the engine (`get_path`, `conditions` and `condition` read their first
//!   argument in place when called method-style, `obj.condition("Ready")`; the function-call
//!   style `condition(obj, "Ready")` first copies the constant `obj`):
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

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};
use rhai::{AST, Array, Dynamic, Engine, EvalAltResult, FuncRegistration, INT, ImmutableString, Map, Scope};

use super::{HealthScript, Limits, ScriptError, ScriptHealth, ScriptLanguage};

/// Deepest expression nesting accepted at compile time (top level, inside functions).
const MAX_EXPR_DEPTH: (usize, usize) = (128, 64);
/// The deadline is checked every this many operations (a power of two).
const DEADLINE_CHECK_EVERY: u64 = 256;

/// Deepest JSON nesting converted into `obj`; deeper objects are refused (the conversion and
/// Rhai's own value handling recurse).
const MAX_OBJECT_DEPTH: usize = 512;

thread_local! {
    /// The deadline of the evaluation running on this thread, read by the progress callback.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// A scope reused by evaluations on this thread (keeps its allocation between runs). It is
    /// always empty between evaluations.
    static SCOPE: RefCell<Scope<'static>> = RefCell::new(Scope::new());
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
                if !ops.is_multiple_of(DEADLINE_CHECK_EVERY) {
                    return None;
                }
                let deadline = DEADLINE.with(Cell::get)?;
                (Instant::now() >= deadline).then(|| Dynamic::from("timeout"))
            });
        // The object helpers take their first argument by reference and are registered as pure
        // (they do not change it): called method-style on the constant `obj`
        // (`obj.condition("Ready")`) they read it in place instead of copying it.
        FuncRegistration::new("get_path")
            .with_purity(true)
            .register_into_engine(&mut engine, |value: &mut Dynamic, path: &str| {
                get_path(value, path)
            });
        FuncRegistration::new("conditions")
            .with_purity(true)
            .register_into_engine(&mut engine, |obj: &mut Dynamic| conditions(obj));
        FuncRegistration::new("condition")
            .with_purity(true)
            .register_into_engine(&mut engine, |obj: &mut Dynamic, kind: &str| condition(obj, kind));
        engine.register_fn("as_int", as_int);
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
    /// What of `obj` the script can read; only that is converted.
    need: Arc<Need>,
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
                need: Arc::new(Need::of_source(source)),
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
        let Some(obj) = to_dynamic_part(value, &self.need, MAX_OBJECT_DEPTH) else {
            return Err(ScriptError::Runtime {
                language: ScriptLanguage::Rhai,
                message: format!(
                    "rhai script {}: cannot convert the object: nested deeper than {MAX_OBJECT_DEPTH} levels",
                    self.name
                ),
            });
        };
        SCOPE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scope) => {
                let out = self.run(&mut scope, obj);
                // Drops `obj` and the script's top-level variables now, keeps the allocation.
                scope.clear();
                out
            }
            // Only reachable if an evaluation were nested inside another one on this thread.
            Err(_) => self.run(&mut Scope::new(), obj),
        })
    }

    /// Runs the script with `obj` as the only variable of an empty `scope`.
    fn run(&self, scope: &mut Scope<'static>, obj: Dynamic) -> Result<ScriptHealth, ScriptError> {
        scope.clear();
        scope.push_constant_dynamic("obj", obj);
        let _guard = DeadlineGuard::set(Instant::now() + self.engine.limits.timeout);
        match self
            .engine
            .engine
            .eval_ast_with_scope::<Dynamic>(scope, &self.ast)
        {
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
    if !value.is_map() {
        return Err(ScriptError::BadOutput(format!(
            "expect map output from Rhai script, not {}",
            type_name(&value)
        )));
    }
    let Some(map) = value.try_cast::<Map>() else {
        // `is_map` also holds for a shared map that is still referenced elsewhere.
        return Err(ScriptError::BadOutput(
            "expect map output from Rhai script, not map".to_owned(),
        ));
    };
    if map.is_empty() {
        return Ok(ScriptHealth::Empty);
    }
    let text = |key: &str| -> Result<Option<ImmutableString>, ()> {
        match map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v
                .read_lock::<ImmutableString>()
                .map(|s| Some(s.clone()))
                .ok_or(()),
        }
    };
    let (Ok(status), Ok(message)) = (text("status"), text("message")) else {
        return Ok(ScriptHealth::Empty);
    };
    let code = status.as_deref().and_then(HealthCode::parse);
    Ok(ScriptHealth::Health(match code {
        Some(code) => Health::new(code, message.as_deref().unwrap_or_default()),
        None => Health::new(HealthCode::Unknown, "Rhai returned an invalid health status"),
    }))
}

/// Converts the `need`ed part of JSON into the Rhai value `obj` holds: a JSON object keeps only
/// the keys `need` lists; anything else is converted whole (see [`to_dynamic`]).
fn to_dynamic_part(value: &serde_json::Value, need: &Need, depth: usize) -> Option<Dynamic> {
    match value {
        serde_json::Value::Object(fields) if !need.all => {
            let depth = depth.checked_sub(1)?;
            let mut entries = Vec::with_capacity(need.keys.len());
            // `need.keys` is sorted, so the map is built in bulk without sorting.
            for (k, sub) in &need.keys {
                if let Some(v) = fields.get(k) {
                    entries.push((k.as_str().into(), to_dynamic_part(v, sub, depth)?));
                }
            }
            Some(Dynamic::from_map(entries.into_iter().collect::<Map>()))
        }
        _ => to_dynamic(value, depth),
    }
}

/// Converts JSON into the Rhai value `obj` holds (see the module docs), or `None` past
/// `depth` levels of nesting.
fn to_dynamic(value: &serde_json::Value, depth: usize) -> Option<Dynamic> {
    use serde_json::Value;
    Some(match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            // Integers past `INT` and every other number, like `rhai::serde::to_dynamic`.
            #[allow(clippy::cast_precision_loss)]
            None => Dynamic::from_float(
                n.as_u64()
                    .map_or_else(|| n.as_f64().unwrap_or(f64::NAN), |u| u as f64),
            ),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => {
            let depth = depth.checked_sub(1)?;
            let mut arr = Array::with_capacity(items.len());
            for item in items {
                arr.push(to_dynamic(item, depth)?);
            }
            Dynamic::from_array(arr)
        }
        Value::Object(fields) => {
            let depth = depth.checked_sub(1)?;
            // Collecting sorts the entries once and builds the tree in bulk.
            let mut entries = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                entries.push((k.as_str().into(), to_dynamic(v, depth)?));
            }
            Dynamic::from_map(entries.into_iter().collect::<Map>())
        }
    })
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
    } else if d.as_nanos().is_multiple_of(1_000_000) {
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

/// Helper `get_path(value, "a.b.0.c")`: walks `value` in place and copies only what it finds.
fn get_path(value: &Dynamic, path: &str) -> Dynamic {
    let mut segs = path.split('.').filter(|s| !s.is_empty());
    lookup(value, &mut segs, MAX_OBJECT_DEPTH)
}

/// Follows `segs` from `cur` by reference for up to `budget` levels (recursion, as each step
/// holds a read lock of the previous one), then step by step on copies.
fn lookup(cur: &Dynamic, segs: &mut dyn Iterator<Item = &str>, budget: usize) -> Dynamic {
    let Some(seg) = segs.next() else {
        return cur.clone();
    };
    if budget == 0 {
        let mut owned = step(cur, seg);
        for seg in segs {
            owned = step(&owned, seg);
        }
        return owned;
    }
    if let Some(map) = cur.read_lock::<Map>() {
        return match map.get(seg) {
            Some(next) => lookup(next, segs, budget - 1),
            None => Dynamic::UNIT,
        };
    }
    if let Some(arr) = cur.read_lock::<Array>() {
        return match seg.parse::<usize>().ok().and_then(|i| arr.get(i)) {
            Some(next) => lookup(next, segs, budget - 1),
            None => Dynamic::UNIT,
        };
    }
    Dynamic::UNIT
}

/// One `get_path` step: a copy of the entry `seg` of a map or array, or `()`.
fn step(cur: &Dynamic, seg: &str) -> Dynamic {
    let next = if let Some(map) = cur.read_lock::<Map>() {
        map.get(seg).cloned()
    } else if let Some(arr) = cur.read_lock::<Array>() {
        seg.parse::<usize>().ok().and_then(|i| arr.get(i).cloned())
    } else {
        None
    };
    next.unwrap_or(Dynamic::UNIT)
}

/// Calls `f` with `obj.status.conditions` when that is an array (read in place).
fn with_conditions<R>(obj: &Dynamic, f: impl FnOnce(&Array) -> R) -> Option<R> {
    let map = obj.read_lock::<Map>()?;
    let status = map.get("status")?.read_lock::<Map>()?;
    let list = status.get("conditions")?.read_lock::<Array>()?;
    Some(f(&list))
}

/// Helper `conditions(obj)`.
fn conditions(obj: &Dynamic) -> Array {
    with_conditions(obj, |list| list.iter().filter(|c| c.is_map()).cloned().collect()).unwrap_or_default()
}

/// Helper `condition(obj, type)`.
fn condition(obj: &Dynamic, kind: &str) -> Dynamic {
    with_conditions(obj, |list| {
        list.iter()
            .find(|c| {
                c.read_lock::<Map>().is_some_and(|m| {
                    m.get("type")
                        .and_then(|t| t.read_lock::<ImmutableString>().map(|s| s.as_str() == kind))
                        .unwrap_or(false)
                })
            })
            .cloned()
    })
    .flatten()
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
    if let Some(s) = value.read_lock::<ImmutableString>()
        && let Ok(i) = s.trim().parse::<INT>()
    {
        return Dynamic::from_int(i);
    }
    Dynamic::UNIT
}

/// The part of `obj` a script can read, found by [`Need::of_source`]: a tree of map keys.
/// Evaluations convert only this part of the object; what a script can observe is unchanged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Need {
    /// The whole value is needed.
    all: bool,
    /// Otherwise (for a JSON object) only these keys, each with what is needed of it.
    keys: std::collections::BTreeMap<String, Need>,
}

impl Need {
    /// Everything.
    fn all() -> Need {
        Need {
            all: true,
            keys: std::collections::BTreeMap::new(),
        }
    }

    /// Adds the whole value at `path`.
    fn require(&mut self, path: &[&str]) {
        let mut node = self;
        for key in path {
            if node.all {
                return;
            }
            node = node.keys.entry((*key).to_owned()).or_default();
        }
        node.all = true;
        node.keys.clear();
    }

    /// What of `obj` a script can read. Every occurrence of the variable `obj` is followed
    /// through constant property and index steps (`obj.status?.phase`,
    /// `obj.metadata?.annotations?["a/b"]`); the value reached is needed whole. `obj.condition(…)`
    /// and `obj.conditions()` need `status.conditions`; any other use of `obj` (an argument, a
    /// method call, a computed index…) or a source the scanner does not fully understand needs
    /// everything.
    fn of_source(source: &str) -> Need {
        let Some(toks) = Lexer::tokens(source) else {
            return Need::all();
        };
        // A script may define its own `condition`/`conditions`, which could read anything.
        let helpers_are_ours = !toks
            .windows(2)
            .any(|w| w[0] == Tok::Ident("fn") && matches!(w[1], Tok::Ident("condition" | "conditions")));
        let mut need = Need::default();
        for (i, tok) in toks.iter().enumerate() {
            if *tok != Tok::Ident("obj") || (i > 0 && matches!(toks[i - 1], Tok::Dot | Tok::QDot)) {
                continue;
            }
            let mut path: Vec<&str> = Vec::new();
            let mut j = i + 1;
            loop {
                match (toks.get(j), toks.get(j + 1), toks.get(j + 2)) {
                    (Some(Tok::Dot | Tok::QDot), Some(Tok::Ident(name)), next) => {
                        if next == Some(&Tok::LParen) {
                            if path.is_empty()
                                && helpers_are_ours
                                && matches!(*name, "condition" | "conditions")
                            {
                                path = vec!["status", "conditions"];
                            }
                            break;
                        }
                        path.push(*name);
                        j += 2;
                    }
                    (
                        Some(Tok::LBracket | Tok::QLBracket),
                        Some(Tok::Str(Some(key))),
                        Some(Tok::RBracket),
                    ) => {
                        path.push(*key);
                        j += 3;
                    }
                    _ => break,
                }
            }
            need.require(&path);
            if need.all {
                break;
            }
        }
        need
    }
}

/// A token of [`Need::of_source`]'s scanner; everything it does not look at is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'s> {
    Ident(&'s str),
    /// A double-quoted string; `None` when it has escapes.
    Str(Option<&'s str>),
    Dot,
    QDot,
    LBracket,
    QLBracket,
    RBracket,
    LParen,
    Other,
}

/// A conservative scanner of Rhai source: it knows comments, strings, characters and
/// interpolated backtick strings, and gives up (`None`) on anything unterminated or on raw
/// strings.
struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    toks: Vec<Tok<'s>>,
}

impl<'s> Lexer<'s> {
    fn tokens(src: &'s str) -> Option<Vec<Tok<'s>>> {
        let mut lexer = Lexer {
            src,
            pos: 0,
            toks: Vec::new(),
        };
        lexer.code(false)?;
        Some(lexer.toks)
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    /// Scans code up to the end (or, inside `${…}`, up to the closing brace).
    fn code(&mut self, interpolation: bool) -> Option<()> {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                b'/' if self.peek(1) == Some(b'/') => {
                    let rest = self.src.get(self.pos..)?;
                    self.pos += rest.find('\n').unwrap_or(rest.len());
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    // Ends at the first `*/` even if Rhai nests comments: seeing too much code is safe.
                    let end = self.src.get(self.pos + 2..)?.find("*/")?;
                    self.pos += 2 + end + 2;
                }
                b'"' => {
                    self.pos += 1;
                    let start = self.pos;
                    let mut escaped = false;
                    loop {
                        match self.peek(0)? {
                            b'\\' => {
                                escaped = true;
                                self.pos += 2;
                            }
                            b'"' => break,
                            _ => self.pos += 1,
                        }
                    }
                    let text = self.src.get(start..self.pos)?;
                    self.pos += 1;
                    self.toks.push(Tok::Str((!escaped).then_some(text)));
                }
                b'\'' => {
                    self.pos += 1;
                    loop {
                        match self.peek(0)? {
                            b'\\' => self.pos += 2,
                            b'\'' => break,
                            _ => self.pos += 1,
                        }
                    }
                    self.pos += 1;
                    self.toks.push(Tok::Other);
                }
                b'`' => {
                    self.pos += 1;
                    self.toks.push(Tok::Other);
                    self.backtick()?;
                    self.toks.push(Tok::Other);
                }
                b'#' if self.src.get(self.pos..)?.trim_start_matches('#').starts_with('"') => return None,
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                    self.toks.push(Tok::Other);
                }
                b'}' => {
                    self.pos += 1;
                    if interpolation && depth == 0 {
                        return Some(());
                    }
                    depth = depth.saturating_sub(1);
                    self.toks.push(Tok::Other);
                }
                b'?' if self.peek(1) == Some(b'.') => {
                    self.pos += 2;
                    self.toks.push(Tok::QDot);
                }
                b'?' if self.peek(1) == Some(b'[') => {
                    self.pos += 2;
                    self.toks.push(Tok::QLBracket);
                }
                b'.' | b'[' | b']' | b'(' => {
                    self.pos += 1;
                    self.toks.push(match c {
                        b'.' => Tok::Dot,
                        b'[' => Tok::LBracket,
                        b']' => Tok::RBracket,
                        _ => Tok::LParen,
                    });
                }
                c if c.is_ascii_alphanumeric() || c == b'_' => {
                    let start = self.pos;
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                    {
                        self.pos += 1;
                    }
                    let word = self.src.get(start..self.pos)?;
                    self.toks.push(if c.is_ascii_digit() {
                        Tok::Other
                    } else {
                        Tok::Ident(word)
                    });
                }
                c if c.is_ascii_whitespace() => self.pos += 1,
                _ => {
                    self.pos += 1;
                    self.toks.push(Tok::Other);
                }
            }
        }
        // Past the end: fine at the top level, unterminated inside `${…}`.
        (!interpolation && self.pos == self.src.len()).then_some(())
    }

    /// Scans a backtick string after its opening quote, including its `${…}` code.
    fn backtick(&mut self) -> Option<()> {
        loop {
            match self.peek(0)? {
                b'`' => {
                    self.pos += 1;
                    return Some(());
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.pos += 2;
                    self.toks.push(Tok::Other);
                    self.code(true)?;
                    self.toks.push(Tok::Other);
                }
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Need;

    /// The needed paths of a source, `*` marking a value needed whole.
    fn paths(source: &str) -> Vec<String> {
        fn walk(need: &Need, prefix: &str, out: &mut Vec<String>) {
            if need.all {
                out.push(format!("{prefix}*"));
            }
            for (k, sub) in &need.keys {
                walk(sub, &format!("{prefix}{k}."), out);
            }
        }
        let mut out = Vec::new();
        walk(&Need::of_source(source), "", &mut out);
        out
    }

    #[test]
    fn needs_follow_constant_steps() {
        assert_eq!(
            paths(r#"let s = obj.status; obj.metadata?.annotations?["a/b"] ?? obj.spec.x.len()"#),
            ["metadata.annotations.a/b.*", "spec.x.*", "status.*"]
        );
        assert_eq!(
            paths(r#"obj.condition("Ready"); obj.conditions()"#),
            ["status.conditions.*"]
        );
        assert_eq!(paths(r#"#{ status: "Healthy" }"#), Vec::<String>::new());
        // Property names `obj`, strings and comments are not uses.
        assert_eq!(
            paths("x.obj; \"obj\"; 'o'; // obj\n/* obj */ obj.a.b[0]"),
            ["a.b.*"]
        );
        // Code inside interpolations is.
        assert_eq!(paths("`phase ${obj.status.phase} \"`"), ["status.phase.*"]);
    }

    #[test]
    fn other_uses_need_everything() {
        for source in [
            "type_of(obj)",
            "let o = obj; o.status",
            "obj[key]",
            r#"obj["a\"b"]"#,
            r#"obj.get_path("status.phase")"#,
            "fn f(obj) { obj.x } f(obj)",
            r#"fn condition(o, t) { o } obj.condition("x")"#,
            "`${obj}`",
            r##"#"raw"# + obj.a"##,
            "\"unterminated obj.a",
            "`${ obj.a ",
        ] {
            assert_eq!(paths(source), ["*"], "{source}");
        }
    }
}
