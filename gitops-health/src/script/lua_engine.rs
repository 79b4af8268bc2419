//! Lua health scripts: Argo CD's argocd-cm scripts, run unchanged (spec/health.md §6.3–§6.4).
//!
//! [`LuaScript`] runs a script with Lua 5.1 semantics (mlua with a vendored Lua 5.1, the same
//! language level as gopher-lua). Every number is a Lua number (a double), so integral values
//! print without `.0` (`"x " .. 3` is `"x 3"`), exactly as upstream.
//!
//! # Execution model
//!
//! The source is syntax-checked once by [`LuaScript::compile`] and kept as Lua bytecode produced
//! by our own compiler. Argo CD creates a new Lua state per evaluation; building a sandboxed
//! state costs tens of microseconds, far more than a typical script run, so this engine keeps
//! **prepared states** instead and gives every evaluation a **fresh global environment**, which
//! is what a new state means to a script:
//!
//! * Each thread keeps, per script, at most one prepared state (a `thread_local!` pool of at
//!   most [`MAX_POOLED_STATES`] states, least recently used evicted; `mlua::Lua` is not `Send`,
//!   so [`LuaScript`] itself holds only the bytecode and stays `Send + Sync`). The state holds
//!   the sandboxed libraries, the script's loaded main function and a small Lua kit.
//! * The libraries live in a private snapshot table that no script can reach; the state's real
//!   global table is emptied. Before each run the kit makes a new environment table `E`
//!   (`{obj, actionParams, _G = E}`) and sets it as the main function's environment
//!   (`setfenv`). `E` fills itself on first use of a global: a base function is copied in, a
//!   library table (`string`, `table`, `math`, `os`, `io`, `debug`, `coroutine`, `package`
//!   with empty `loaders`/`preload` and a `loaded` pointing at this run's copies) is copied
//!   into a **fresh table** for this run. Assigning a global the script has not read yet
//!   marks it as the script's own (so `tostring = nil` stays nil), and anything that could
//!   tell the difference (`pairs`, `next`, `rawget`, `rawset`, `getmetatable`, `setmetatable`
//!   or `table.foreach` on `_G`) first completes `E` and drops its metatable. So
//!   `string.format = nil`, `table.insert = nil`, `tostring = f` or `x = 1` work as in Argo
//!   CD, but only for that evaluation; the next run starts from new copies.
//! * What the copies share with the snapshot are the functions themselves (C functions and the
//!   kit's Lua wrappers), which a script cannot change: `setfenv` refuses functions whose
//!   environment is not the script's (library functions), `getfenv` of such a function (or
//!   `getfenv(0)`) answers the run's `E`, `debug.setupvalue`/`debug.setmetatable` are
//!   refused, and `loadstring`/`load` give chunks the environment `E`.
//! * The string metatable is protected with `__metatable`, and `getmetatable("")` returns a
//!   new table `{__index = string}` (this run's `string` copy) each run, so changing it cannot
//!   reach the real metatable (nor change string methods, a difference from Argo CD).
//! * After a run the kit checks that the real global table is still empty and that
//!   `collectgarbage` was not called; a run that failed in any way (an error, a tripped bound,
//!   a memory error) or left the state dirty discards the state, and the next evaluation
//!   prepares a new one. Garbage a run leaves behind is collected when it exceeds
//!   [`GARBAGE_SLACK`] bytes.
//!
//! # Libraries (spec §6.3)
//!
//! * Always: base (`pairs`, `ipairs`, `next`, `type`, `tostring`, `tonumber`, `pcall`, `error`,
//!   `select`, `unpack`, metatables…), `package`, `table` (including `table.getn`), and a safe
//!   `os` with only `os.time()` / `os.time{…}` (hour defaults to 12, min and sec to 0, local
//!   time) and `os.date`. `require("os")` returns that safe `os`.
//! * With `useOpenLibs` only: `string` (and string methods such as `s:find()`), `math`,
//!   `coroutine`, and the remaining `os`, `io` and `debug` functions — see below. Without it,
//!   `string.match(…)` or `s:gsub(…)` fail at run time, as in Argo CD.
//! * Globals `obj` (the live object as nested tables: arrays 1-based, JSON `null` absent) and
//!   `actionParams` (an empty table).
//!
//! # Deliberate differences from Argo CD (a sandbox, even with open libraries)
//!
//! Health scripts only read `obj`, so calls that reach outside the process are refused with a
//! run-time error "`<name>` is not available in health scripts" (the result is `Unknown`):
//! `os.execute`, `os.exit`, `os.remove`, `os.rename`, `os.tmpname`, `os.getenv`, `os.setlocale`,
//! every `io` function except `io.write`, `loadfile`, `dofile`, `module`, `package.loadlib`,
//! and `require` of anything but `os`, `string`, `table` and `math` (`string`/`math` only with
//! open libraries). `setfenv` of a library function is refused too. `io.write` and `print`
//! write to standard error (never standard output, which belongs to the command's own output).
//! `debug` only has `debug.traceback` (returns its message); its other functions are refused.
//! `loadstring`/`load` accept source text only (no bytecode), `newproxy` is absent and
//! `string.rep` refuses results longer than [`Limits::max_string_size`].
//!
//! # Bounds
//!
//! Each evaluation runs under [`Limits`]: a wall-clock deadline ([`Limits::timeout`], checked
//! every 1,000 VM instructions), an instruction budget ([`Limits::max_operations`]) and a memory
//! ceiling ([`Limits::max_memory`], enforced by the allocator: the state's own libraries count,
//! as in a new state, and garbage left by earlier runs — at most [`GARBAGE_SLACK`] bytes — is
//! not charged to the run). The deadline and the instruction count restart with every
//! evaluation. Once a bound trips, the script is stopped even if it wraps the offending code in
//! `pcall`, `xpcall` or `coroutine.resume`, and its state is discarded. Recursion is bounded by
//! Lua's own stack limit (a "stack overflow" error is reported as a stopped script);
//! [`Limits::max_call_depth`] is not used by this engine. Known limit: a single long-running
//! library call written in C (a pathological pattern in `string.find` over a long string)
//! cannot be interrupted until it returns.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::io::Write as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};
use mlua::chunk::ChunkMode;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use serde_json::Value as Json;

use super::{HealthScript, Limits, ScriptError, ScriptHealth, ScriptLanguage};

/// The message for a status that is not one of the six codes (Argo CD's wording).
pub const INVALID_HEALTH_STATUS: &str = "Lua returned an invalid health status";

/// Most prepared Lua states one thread keeps (one per script; least recently used evicted).
pub const MAX_POOLED_STATES: usize = 64;

/// Garbage (bytes above the prepared state's own size) a finished run may leave in a pooled
/// state; above it the state is collected, and discarded if that does not bring it back under.
pub const GARBAGE_SLACK: usize = 1 << 20;

/// How often (in VM instructions) the hook checks the deadline and the instruction budget.
const HOOK_EVERY: u32 = 1_000;

/// Deepest JSON nesting converted into tables (deeper values become `nil`).
const MAX_OBJ_DEPTH: usize = 256;

/// Source of the scripts' ids (keys of the per-thread state pools).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A compiled Lua health script.
///
/// ```
/// # #[cfg(feature = "lua")] {
/// use gitops_health::core::Object;
/// use gitops_health::core::engine::HealthCode;
/// use gitops_health::script::lua_engine::LuaScript;
/// use gitops_health::script::{HealthScript, Limits, ScriptHealth};
///
/// let script = LuaScript::compile(
///     "example",
///     r#"return {status = "Degraded", message = "replicas: " .. obj.spec.replicas}"#,
///     false,
///     Limits::default(),
/// )?;
/// let obj = Object::from_value(serde_json::json!({
///     "apiVersion": "example.com/v1", "kind": "Widget",
///     "metadata": {"name": "w"}, "spec": {"replicas": 3},
/// }))?;
/// let ScriptHealth::Health(h) = script.evaluate(&obj)? else { panic!("a health") };
/// assert_eq!((h.status, h.message.as_str()), (HealthCode::Degraded, "replicas: 3"));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LuaScript {
    id: u64,
    name: String,
    bytecode: Vec<u8>,
    use_open_libs: bool,
    limits: Limits,
}

impl fmt::Debug for LuaScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LuaScript")
            .field("name", &self.name)
            .field("use_open_libs", &self.use_open_libs)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Drop for LuaScript {
    fn drop(&mut self) {
        // States of this script on other threads are evicted by their pools' bound.
        drop(pool_take(self.id));
    }
}

/// Which bound stopped a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Instructions,
}

/// The per-evaluation bounds the hook reads (reset before each run).
#[derive(Debug, Default)]
struct Bounds {
    stop: Cell<Option<Stop>>,
    deadline: Cell<Option<Instant>>,
    counter: Cell<u64>,
}

impl LuaScript {
    /// Syntax-checks `source` and keeps its bytecode. `name` appears in messages (use the
    /// argocd-cm key or the file name); `use_open_libs` is Argo CD's `useOpenLibs`.
    ///
    /// # Errors
    /// [`ScriptError::Compile`] with Lua's message when the source does not parse.
    pub fn compile(
        name: impl Into<String>,
        source: &str,
        use_open_libs: bool,
        limits: Limits,
    ) -> Result<LuaScript, ScriptError> {
        let name = name.into();
        let compile_error = |message: String| ScriptError::Compile {
            language: ScriptLanguage::Lua,
            name: name.clone(),
            message,
        };
        let lua =
            Lua::new_with(StdLib::NONE, LuaOptions::new()).map_err(|e| compile_error(clean_message(&e)))?;
        let function = lua
            .load(source)
            .set_name(format!("={name}"))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| compile_error(clean_message(&e)))?;
        let bytecode = function.dump(false);
        Ok(LuaScript {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name,
            bytecode,
            use_open_libs,
            limits,
        })
    }

    /// Whether the script runs with the open libraries (`useOpenLibs`).
    pub fn use_open_libs(&self) -> bool {
        self.use_open_libs
    }

    /// The bounds each evaluation runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn run(&self, obj: &Object) -> Result<ScriptHealth, ScriptError> {
        let prepared = match pool_take(self.id) {
            Some(p) => p,
            None => Prepared::new(self)?,
        };
        let (result, reusable) = prepared.evaluate(obj, self.limits);
        if reusable {
            pool_put(self.id, prepared);
        }
        result
    }
}

impl HealthScript for LuaScript {
    fn language(&self) -> ScriptLanguage {
        ScriptLanguage::Lua
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, obj: &Object) -> Result<ScriptHealth, ScriptError> {
        self.run(obj)
    }
}

/// A sandboxed state ready to run one script (see the module documentation).
struct Prepared {
    /// The script's main function (its environment is set per run).
    main: mlua::Function,
    /// The kit's `begin(obj)`: builds a fresh environment and gives it to `main`.
    begin: mlua::Function,
    /// The kit's `finish()`: drops the environment; `true` when the state is still clean.
    finish: mlua::Function,
    bounds: Rc<Bounds>,
    /// Bytes in use once prepared (after a full collection).
    baseline: usize,
    /// Bytes a run may allocate: [`Limits::max_memory`] less the prepared state's own size.
    budget: usize,
    /// When the kit's `os.time` memo was last dropped.
    memo_since: Cell<Instant>,
    lua: Lua,
}

impl Prepared {
    fn new(script: &LuaScript) -> Result<Prepared, ScriptError> {
        let limits = script.limits;
        let bounds = Rc::new(Bounds::default());
        let lua = new_state(script.use_open_libs, limits).map_err(|e| classify(&e, None, limits))?;
        let setup = || -> mlua::Result<Prepared> {
            let main = lua
                .load(&script.bytecode[..])
                .set_name(format!("={}", script.name))
                .set_mode(ChunkMode::Binary)
                .into_function()?;
            let (begin, finish) = install_kit(&lua, &main, &bounds, script.use_open_libs)?;
            install_hook(&lua, &bounds, limits.max_operations)?;
            lua.gc_collect()?;
            lua.gc_collect()?;
            let baseline = lua.used_memory();
            Ok(Prepared {
                main,
                begin,
                finish,
                bounds: Rc::clone(&bounds),
                baseline,
                budget: limits.max_memory.saturating_sub(baseline),
                memo_since: Cell::new(Instant::now()),
                lua: lua.clone(),
            })
        };
        setup().map_err(|e| classify(&e, None, limits))
    }

    /// Runs the script once; the flag tells whether the state may be used again.
    fn evaluate(&self, obj: &Object, limits: Limits) -> (Result<ScriptHealth, ScriptError>, bool) {
        let lua = &self.lua;
        self.bounds.stop.set(None);
        self.bounds.counter.set(0);
        let start_limit = lua.used_memory().saturating_add(self.budget);
        if let Err(e) = lua.set_memory_limit(start_limit) {
            return (Err(runtime(&e)), false);
        }
        self.bounds
            .deadline
            .set(Instant::now().checked_add(limits.timeout));
        let new_second = self.memo_since.get().elapsed() >= Duration::from_secs(1);
        if new_second {
            self.memo_since.set(Instant::now());
        }
        let run = || -> mlua::Result<MultiValue> {
            // Without a memory limit mlua sets table fields without a protected call (several
            // times faster); the object is ours, and its size is checked right after.
            lua.set_memory_limit(0)?;
            let obj = json_to_lua(lua, obj.as_value(), 0);
            lua.set_memory_limit(start_limit)?;
            let obj = obj?;
            if lua.used_memory() > start_limit {
                return Err(mlua::Error::MemoryError("not enough memory".to_owned()));
            }
            self.begin.call::<()>((obj, new_second))?;
            self.main.call::<MultiValue>(())
        };
        let values = match run() {
            Ok(values) => values,
            Err(e) => return (Err(classify(&e, self.bounds.stop.get(), limits)), false),
        };
        // Argo CD takes the top of the stack: the last value returned (nil when none).
        let last = values.into_iter().last().unwrap_or(Value::Nil);
        let result = to_script_health(last);
        let clean = matches!(self.finish.call::<bool>(()), Ok(true)) && self.bounds.stop.get().is_none();
        (result, clean && self.tidy())
    }

    /// Collects the garbage of finished runs once it passes [`GARBAGE_SLACK`]; `false` when the
    /// state stays too big to keep.
    fn tidy(&self) -> bool {
        let bound = self.baseline.saturating_add(GARBAGE_SLACK);
        if self.lua.used_memory() <= bound {
            return true;
        }
        self.lua.gc_collect().is_ok() && self.lua.used_memory() <= bound
    }
}

/// The calling thread's prepared states, keyed by script id.
#[derive(Default)]
struct Pool {
    clock: u64,
    states: HashMap<u64, (u64, Prepared)>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Takes the calling thread's prepared state for a script out of the pool.
fn pool_take(id: u64) -> Option<Prepared> {
    POOL.try_with(|pool| {
        pool.try_borrow_mut()
            .ok()
            .and_then(|mut pool| pool.states.remove(&id))
            .map(|(_, prepared)| prepared)
    })
    .ok()
    .flatten()
}

/// Returns a prepared state to the calling thread's pool (evicting the least recently used one
/// when the pool is full).
fn pool_put(id: u64, prepared: Prepared) {
    let mut dropped: Vec<(u64, Prepared)> = Vec::new();
    let _ = POOL.try_with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            dropped.push((0, prepared));
            return;
        };
        pool.clock += 1;
        let now = pool.clock;
        if pool.states.len() >= MAX_POOLED_STATES && !pool.states.contains_key(&id) {
            let oldest = pool
                .states
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(key, _)| *key);
            dropped.extend(oldest.and_then(|key| pool.states.remove(&key)));
        }
        dropped.extend(pool.states.insert(id, (now, prepared)));
    });
    // States are dropped outside the pool's borrow.
    drop(dropped);
}

/// Installs the hook that enforces the deadline and the instruction budget of the current run.
fn install_hook(lua: &Lua, bounds: &Rc<Bounds>, max_ops: u64) -> mlua::Result<()> {
    let bounds = Rc::clone(bounds);
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            if let Some(s) = bounds.stop.get() {
                return Err(mlua::Error::RuntimeError(stop_message(s)));
            }
            let n = bounds.counter.get().saturating_add(u64::from(HOOK_EVERY));
            bounds.counter.set(n);
            let tripped = if n > max_ops {
                Some(Stop::Instructions)
            } else if bounds.deadline.get().is_some_and(|d| Instant::now() >= d) {
                Some(Stop::Timeout)
            } else {
                None
            };
            match tripped {
                Some(s) => {
                    bounds.stop.set(Some(s));
                    Err(mlua::Error::RuntimeError(stop_message(s)))
                }
                None => Ok(VmState::Continue),
            }
        },
    )
}

fn stop_message(stop: Stop) -> String {
    match stop {
        Stop::Timeout => "timeout exceeded".to_owned(),
        Stop::Instructions => "too many instructions".to_owned(),
    }
}

fn runtime(e: &mlua::Error) -> ScriptError {
    ScriptError::Runtime {
        language: ScriptLanguage::Lua,
        message: clean_message(e),
    }
}

fn limit(message: String) -> ScriptError {
    ScriptError::Limit {
        language: ScriptLanguage::Lua,
        message,
    }
}

/// Turns an mlua error into a [`ScriptError`], naming the bound when one tripped.
fn classify(e: &mlua::Error, stop: Option<Stop>, limits: Limits) -> ScriptError {
    match stop {
        Some(Stop::Timeout) => return limit(format!("timeout of {:?} exceeded", limits.timeout)),
        Some(Stop::Instructions) => {
            return limit(format!(
                "more than {} instructions executed",
                limits.max_operations
            ));
        }
        None => {}
    }
    let root = root_cause(e);
    if matches!(root, mlua::Error::MemoryError(_)) {
        return limit(format!("memory limit of {} bytes exceeded", limits.max_memory));
    }
    let message = clean_message(e);
    if message.contains("stack overflow") {
        return limit(format!("stack overflow (recursion too deep): {message}"));
    }
    if message.contains("not enough memory") {
        return limit(format!("memory limit of {} bytes exceeded", limits.max_memory));
    }
    ScriptError::Runtime {
        language: ScriptLanguage::Lua,
        message,
    }
}

fn root_cause(e: &mlua::Error) -> &mlua::Error {
    match e {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            root_cause(cause)
        }
        other => other,
    }
}

/// The error's message without mlua's wrapping and without a stack traceback.
fn clean_message(e: &mlua::Error) -> String {
    let text = match root_cause(e) {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        other => other.to_string(),
    };
    let text = match text.find("\nstack traceback:") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let text = text.strip_prefix("runtime error: ").unwrap_or(text);
    let text = text.strip_prefix("syntax error: ").unwrap_or(text);
    text.trim_end().to_owned()
}

/// Converts the script's (last) return value per spec §6.4.
fn to_script_health(value: Value) -> Result<ScriptHealth, ScriptError> {
    match value {
        Value::Nil => Ok(ScriptHealth::Empty),
        Value::Table(t) => table_to_health(&t),
        other => Err(ScriptError::BadOutput(format!(
            "expect table output from Lua script, not {}",
            lua_type_name(&other)
        ))),
    }
}

fn lua_type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Error(_) => "userdata",
        other => other.type_name(),
    }
}

/// A field of the returned table as Go's JSON decoder sees it.
enum Field {
    Absent,
    Str(String),
    Mismatch,
}

/// Decodes a returned table as Argo CD does: the table is encoded to JSON (a sequence becomes
/// an array, anything with a non-sequence key an object), then decoded into
/// `{status, message}` with Go's case-insensitive field matching (the last matching key in
/// sorted order wins). An array or a mistyped field gives [`ScriptHealth::Empty`].
fn table_to_health(t: &Table) -> Result<ScriptHealth, ScriptError> {
    let mut keys: Vec<(String, Value)> = Vec::new();
    let mut next_index = 1.0_f64;
    let mut is_array = true;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| runtime(&e))?;
        let key = match &k {
            Value::String(s) => {
                is_array = false;
                s.to_string_lossy()
            }
            Value::Integer(i) => {
                #[allow(clippy::cast_precision_loss)]
                let f = *i as f64;
                if is_array && f == next_index {
                    next_index += 1.0;
                } else {
                    is_array = false;
                }
                i.to_string()
            }
            Value::Number(n) => {
                if is_array && *n == next_index {
                    next_index += 1.0;
                } else {
                    is_array = false;
                }
                format_number(*n)
            }
            other => {
                return Err(ScriptError::Runtime {
                    language: ScriptLanguage::Lua,
                    message: format!("cannot encode a table with {} keys to JSON", lua_type_name(other)),
                });
            }
        };
        keys.push((key, v));
    }
    if keys.is_empty() || is_array {
        return Ok(ScriptHealth::Empty);
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let mut status = Field::Absent;
    let mut message = Field::Absent;
    for (k, v) in &keys {
        let slot = if k.eq_ignore_ascii_case("status") {
            &mut status
        } else if k.eq_ignore_ascii_case("message") {
            &mut message
        } else {
            continue;
        };
        *slot = match v {
            Value::String(s) => Field::Str(s.to_string_lossy()),
            Value::Nil => Field::Absent,
            _ => Field::Mismatch,
        };
    }
    let (status, message) = match (status, message) {
        (Field::Mismatch, _) | (_, Field::Mismatch) => return Ok(ScriptHealth::Empty),
        (s, m) => (field_text(s), field_text(m)),
    };
    Ok(ScriptHealth::Health(match HealthCode::parse(&status) {
        Some(code) => Health::new(code, message),
        None => Health::new(HealthCode::Unknown, INVALID_HEALTH_STATUS),
    }))
}

fn field_text(f: Field) -> String {
    match f {
        Field::Str(s) => s,
        Field::Absent | Field::Mismatch => String::new(),
    }
}

/// Formats a number as Lua 5.1 does (`%.14g`): integral values have no `.0`.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// Converts JSON into Lua values: objects and arrays become tables (arrays 1-based), `null`
/// becomes nil, every number a Lua number.
fn json_to_lua(lua: &Lua, v: &Json, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_OBJ_DEPTH {
        return Ok(Value::Nil);
    }
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, json_to_lua(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), json_to_lua(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}

/// The kit's fixed part: runs once per state with the snapshot `S` of the sandbox's globals,
/// the (emptied) real global table `G`, the script's main function, the function that tells
/// whether a bound tripped and whether the open libraries are on. It replaces functions in `S`
/// (the copies made for each run take them from there):
///
/// * `pcall`, `xpcall` and `coroutine.resume` re-raise a stop, so a stopped script cannot
///   swallow it; `xpcall` runs its handler after unwinding (Lua runs a message handler with
///   hooks disabled when the error comes from a hook, so a looping handler could never be
///   stopped);
/// * `getfenv`/`setfenv` never expose nor change a shared table: the environment of a library
///   function (and of level 0) is the run's environment, and `setfenv` refuses library
///   functions; `setfenv(0, t)` changes the run's environment;
/// * `loadstring`/`load` give the chunk the run's environment, `require` answers the run's
///   libraries, `package.seeall` the run's environment;
/// * `collectgarbage` marks the state as touched (it is then discarded after the run);
/// * `os.time{…}` remembers its answers for plain tables with in-range integer fields (glibc's
///   `mktime` checks `/etc/localtime` on every call, which costs more than a whole small
///   script); the memo is dropped every second, so a time-zone change is seen as before.
///
/// The generated part (see [`kit_source`]) then defines `makers`, and [`KIT_TAIL`] the lazy
/// environment, `begin(obj, new_second)` and `finish()`.
const KIT_HEAD: &str = r#"
local S, G, main, stopped, open = ...
local type, tostring, tonumber, next, rawget, rawset = S.type, S.tostring, S.tonumber, S.next, S.rawget, S.rawset
local error, native_pcall = S.error, S.pcall
local native_getfenv, native_setfenv = S.getfenv, S.setfenv
local native_getmetatable, native_setmetatable = S.getmetatable, S.setmetatable
local current, touched = nil, false
local string_mt = native_getmetatable("")
if type(string_mt) ~= "table" then string_mt = nil end
if string_mt then string_mt.__metatable = false end

-- Tables no script may get hold of.
local hidden = {[G] = true, [S] = true}
local function hide(t)
  for _, v in next, t do
    if type(v) == "table" and not hidden[v] then
      hidden[v] = true
      hide(v)
    end
  end
end
hide(S)

local function check(ok, ...)
  if not ok and stopped() then error((...), 0) end
  return ok, ...
end
S.pcall = function(f, ...) return check(native_pcall(f, ...)) end
local function xfinish(h, ok, ...)
  if ok then return ok, ... end
  local err = ...
  if stopped() then error(err, 0) end
  local _, result = native_pcall(h, err)
  if stopped() then error(result, 0) end
  return false, result
end
S.xpcall = function(f, h) return xfinish(h, native_pcall(f)) end
if type(S.coroutine) == "table" then
  local resume = S.coroutine.resume
  S.coroutine.resume = function(co, ...) return check(resume(co, ...)) end
end

local function level_of(f, name)
  if type(f) == "function" then return nil end
  local n = tonumber(f)
  if n and n < 0 then
    error("bad argument #1 to '" .. name .. "' (level must be non-negative)", 3)
  end
  return n
end
S.getfenv = function(f)
  if f == nil then f = 1 end
  local n = level_of(f, "getfenv")
  local env
  if n == 0 then
    return current
  elseif n then
    env = native_getfenv(n + 1)
  else
    env = native_getfenv(f)
  end
  if hidden[env] then return current end
  return env
end
S.setfenv = function(f, t)
  if type(t) ~= "table" then
    error("bad argument #2 to 'setfenv' (table expected, got " .. (t == nil and "no value" or type(t)) .. ")", 2)
  end
  local n = level_of(f, "setfenv")
  local env
  if n == 0 then
    current = t
    return
  elseif n then
    env = native_getfenv(n + 1)
  else
    env = native_getfenv(f)
  end
  if hidden[env] then
    error("setfenv of a library function is not available in health scripts", 2)
  end
  local r
  if n then r = native_setfenv(n + 1, t) else r = native_setfenv(f, t) end
  return r
end

local native_loadstring, native_load = S.loadstring, S.load
S.loadstring = function(text, name)
  local f, e = native_loadstring(text, name)
  if f then native_setfenv(f, current) end
  return f, e
end
S.load = function(reader, name)
  local f, e = native_load(reader, name)
  if f then native_setfenv(f, current) end
  return f, e
end
S.require = function(name)
  if name == "os" or name == "table" or (open and (name == "string" or name == "math")) then
    return current[name]
  end
  error('require "' .. tostring(name) .. '" is not available in health scripts', 0)
end
if type(S.package) == "table" then
  S.package.seeall = function(m)
    local mt = native_getmetatable(m)
    if mt == nil then
      mt = {}
      native_setmetatable(m, mt)
    end
    mt.__index = current
  end
end
local native_collectgarbage = S.collectgarbage
S.collectgarbage = function(...)
  touched = true
  return native_collectgarbage(...)
end

local time_memo, time_memo_n = {}, 0
if type(S.os) == "table" and S.os.time then
  local native_time = S.os.time
  local function int(x, lo, hi)
    return type(x) == "number" and x % 1 == 0 and x >= lo and x <= hi
  end
  S.os.time = function(t)
    if type(t) == "table" and native_getmetatable(t) == nil then
      local y, mo, d, h, mi, s, dst = t.year, t.month, t.day, t.hour, t.min, t.sec, t.isdst
      if h == nil then h = 12 end
      if mi == nil then mi = 0 end
      if s == nil then s = 0 end
      if int(y, 0, 99999) and int(mo, 1, 12) and int(d, 1, 31) and int(h, 0, 23)
          and int(mi, 0, 59) and int(s, 0, 61) then
        if dst == nil then dst = 2 elseif dst then dst = 1 else dst = 0 end
        local key = (((((y * 13 + mo) * 32 + d) * 24 + h) * 60 + mi) * 62 + s) * 3 + dst
        local r = time_memo[key]
        if r == nil then
          r = native_time(t)
          if r ~= nil then
            if time_memo_n >= 1024 then time_memo, time_memo_n = {}, 0 end
            time_memo[key] = r
            time_memo_n = time_memo_n + 1
          end
        end
        return r
      end
    end
    return native_time(t)
  end
end

local makers = {}
local lazy_env, lazy, copies, done, string_view = nil, false, nil, nil, nil

local function copy_of(name)
  local c = copies[name]
  if c == nil then
    c = makers[name]()
    copies[name] = c
  end
  return c
end
"#;

/// The kit's fixed tail. A run's environment `E` starts as `{obj, actionParams, _G}` with a
/// (per-run) metatable that copies a global from the snapshot the first time it is read: a
/// base function as is, a library table as a fresh copy (`makers`). An assignment to a
/// global not yet copied marks it as the script's own, so `tostring = nil` stays nil. Anything
/// that could see the difference (`pairs`, `next`, `rawget`, `rawset`, `getmetatable`,
/// `setmetatable` or `table.foreach` on `E`) first copies every remaining global and drops the
/// metatable, so scripts observe a complete, ordinary global table. `finish()` forgets the
/// run and tells whether the state is still clean (nothing written to the real global table,
/// `collectgarbage` not called).
const KIT_TAIL: &str = r#"

local function index(E, k)
  if not lazy or E ~= lazy_env or (done and done[k]) then return nil end
  local v
  if makers[k] then
    v = copy_of(k)
  else
    v = S[k]
    if type(v) == "table" then v = nil end
  end
  if v ~= nil then rawset(E, k, v) end
  return v
end

local function newindex(E, k, v)
  if lazy and E == lazy_env then
    if done == nil then done = {} end
    done[k] = true
  end
  rawset(E, k, v)
end

local function materialize(t)
  if not lazy or t ~= lazy_env then return end
  local E = lazy_env
  for k in next, makers do
    if rawget(E, k) == nil and not (done and done[k]) then rawset(E, k, copy_of(k)) end
  end
  for k, v in next, S do
    if type(v) ~= "table" and rawget(E, k) == nil and not (done and done[k]) then rawset(E, k, v) end
  end
  lazy = false
  native_setmetatable(E, nil)
end

local native_pairs, native_rawget = S.pairs, S.rawget
S.pairs = function(t)
  materialize(t)
  return native_pairs(t)
end
S.next = function(t, k)
  materialize(t)
  return next(t, k)
end
S.rawget = function(t, k)
  materialize(t)
  return native_rawget(t, k)
end
S.rawset = function(t, k, v)
  materialize(t)
  return rawset(t, k, v)
end
S.getmetatable = function(v)
  if string_mt and type(v) == "string" then
    if string_view == nil then string_view = {__index = copies and copy_of("string")} end
    return string_view
  end
  materialize(v)
  return native_getmetatable(v)
end
S.setmetatable = function(t, mt)
  materialize(t)
  return native_setmetatable(t, mt)
end
if type(S.table) == "table" and S.table.foreach then
  local foreach = S.table.foreach
  S.table.foreach = function(t, f)
    materialize(t)
    return foreach(t, f)
  end
end

local function begin(obj, new_second)
  if new_second then time_memo, time_memo_n = {}, 0 end
  local E = {obj = obj, actionParams = {}}
  E._G = E
  lazy_env, lazy, copies, done, string_view = E, true, {}, nil, nil
  native_setmetatable(E, {__index = index, __newindex = newindex})
  current = E
  native_setfenv(main, E)
end

local function finish()
  current, lazy_env, lazy, copies, done, string_view = nil, nil, false, nil, nil, nil
  native_setfenv(main, G)
  return next(G) == nil and not touched
end
return begin, finish
"#;

/// Quotes a string as a Lua literal.
fn lua_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            other => {
                let _ = write!(out, "\\{other:03}");
            }
        }
    }
    out.push('"');
    out
}

/// Writes a table constructor copying the entries `keys` of the Lua local `from`, followed by
/// `extra` entries (key, Lua expression).
fn write_copy(out: &mut String, from: &str, keys: &[String], extra: &[(String, String)]) {
    out.push('{');
    for key in keys {
        let q = lua_quote(key);
        let _ = write!(out, "[{q}] = {from}[{q}], ");
    }
    for (key, value) in extra {
        let _ = write!(out, "[{}] = {value}, ", lua_quote(key));
    }
    out.push('}');
}

/// A table's string keys with a non-table value, and those with a table value (with it).
type SplitKeys = (Vec<String>, Vec<(String, Table)>);

/// The string keys of a table with a non-table value, sorted, and those with a table value.
fn split_keys(t: &Table) -> mlua::Result<SplitKeys> {
    let mut plain = Vec::new();
    let mut tables = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else { continue };
        let k = k.to_str()?.to_owned();
        match v {
            Value::Table(t) => tables.push((k, t)),
            Value::Nil => {}
            _ => plain.push(k),
        }
    }
    plain.sort();
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((plain, tables))
}

/// Generates the kit for the sandbox globals `g`: [`KIT_HEAD`], then one maker per library
/// table, which copies it with a table constructor (much faster than a copy loop; `package`
/// gets empty `loaders`/`preload` and a `loaded` that points at this run's copies), then
/// [`KIT_TAIL`].
fn kit_source(g: &Table) -> mlua::Result<String> {
    let (_, libs) = split_keys(g)?;
    let libs: Vec<(String, Table)> = libs.into_iter().filter(|(_, t)| t != g).collect();
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(KIT_HEAD);
    for (name, lib) in &libs {
        let (keys, tables) = split_keys(lib)?;
        let q = lua_quote(name);
        let _ = write!(out, "makers[{q}] = function()\n  local l = S[{q}]\n  local c = ");
        let mut loaded = None;
        let mut extra = Vec::new();
        if name == "package" {
            for (key, t) in tables {
                if key == "loaded" {
                    loaded = Some(t);
                } else {
                    // loaders, preload: empty in the sandbox.
                    extra.push((key, "{}".to_owned()));
                }
            }
        }
        write_copy(&mut out, "l", &keys, &extra);
        out.push('\n');
        if let Some(loaded) = loaded {
            let mut entries = Vec::new();
            for pair in loaded.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let (Value::String(k), Value::Table(t)) = (k, v) else {
                    continue;
                };
                let k = k.to_str()?.to_owned();
                if &t == g {
                    entries.push((k, "lazy_env".to_owned()));
                } else if let Some((lib_name, _)) = libs.iter().find(|(_, lib)| lib == &t) {
                    entries.push((k, format!("copy_of({})", lua_quote(lib_name))));
                }
            }
            entries.sort();
            let _ = writeln!(out, "  copies[{q}] = c");
            out.push_str("  c[\"loaded\"] = ");
            write_copy(&mut out, "l", &[], &entries);
            out.push('\n');
        }
        out.push_str("  return c\nend\n");
    }
    out.push_str(KIT_TAIL);
    Ok(out)
}

/// Moves the sandbox's globals into a private snapshot, empties the real global table and
/// runs the kit; returns its `begin` and `finish`.
fn install_kit(
    lua: &Lua,
    main: &mlua::Function,
    bounds: &Rc<Bounds>,
    open_libs: bool,
) -> mlua::Result<(mlua::Function, mlua::Function)> {
    let g = lua.globals();
    let source = kit_source(&g)?;
    let snapshot = lua.create_table()?;
    let mut keys = Vec::new();
    for pair in g.pairs::<Value, Value>() {
        let (k, v) = pair?;
        snapshot.raw_set(k.clone(), v)?;
        keys.push(k);
    }
    for k in keys {
        g.raw_set(k, Value::Nil)?;
    }
    let flag = Rc::clone(bounds);
    let stopped = lua.create_function(move |_, ()| Ok(flag.stop.get().is_some()))?;
    let kit = lua
        .load(source)
        .set_name("=sandbox")
        .set_mode(ChunkMode::Text)
        .into_function()?;
    kit.call::<(mlua::Function, mlua::Function)>((snapshot, g, main.clone(), stopped, open_libs))
}

/// A function that refuses to run: `<name> is not available in health scripts`.
fn refuse(lua: &Lua, name: &str) -> mlua::Result<mlua::Function> {
    let message = format!("{name} is not available in health scripts");
    lua.create_function(move |_, _: MultiValue| -> mlua::Result<()> {
        Err(mlua::Error::RuntimeError(message.clone()))
    })
}

fn write_stderr(text: &[u8]) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text);
}

/// Appends the `tostring` of each value (Lua's formatting for strings and numbers).
fn push_display(out: &mut Vec<u8>, v: &Value) -> mlua::Result<()> {
    match v {
        Value::String(s) => out.extend_from_slice(&s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => out.extend_from_slice(format_number(*n).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        other => {
            out.extend_from_slice(format!("{}: {:p}", lua_type_name(other), other.to_pointer()).as_bytes())
        }
    }
    Ok(())
}

/// Creates a sandboxed Lua 5.1 state per spec §6.3 (see the module documentation); its
/// globals are then moved into the kit's snapshot by [`install_kit`].
fn new_state(open_libs: bool, limits: Limits) -> mlua::Result<Lua> {
    let mut libs = StdLib::TABLE | StdLib::OS | StdLib::PACKAGE;
    if open_libs {
        libs |= StdLib::STRING | StdLib::MATH;
    }
    let lua = Lua::new_with(libs, LuaOptions::new())?;
    lua.set_memory_limit(limits.max_memory)?;
    let g = lua.globals();

    // os: the safe subset always; with open libraries also clock/difftime, the rest refused.
    let native_os: Table = g.get("os")?;
    let os = lua.create_table()?;
    os.raw_set("time", native_os.get::<Value>("time")?)?;
    os.raw_set("date", native_os.get::<Value>("date")?)?;
    if open_libs {
        os.raw_set("clock", native_os.get::<Value>("clock")?)?;
        os.raw_set("difftime", native_os.get::<Value>("difftime")?)?;
        for f in [
            "execute",
            "exit",
            "remove",
            "rename",
            "tmpname",
            "getenv",
            "setlocale",
        ] {
            os.raw_set(f, refuse(&lua, &format!("os.{f}"))?)?;
        }
    }
    g.raw_set("os", os.clone())?;

    // Base functions that reach the file system, or load bytecode.
    g.raw_set("dofile", refuse(&lua, "dofile")?)?;
    g.raw_set("loadfile", refuse(&lua, "loadfile")?)?;
    g.raw_set("newproxy", Value::Nil)?;
    g.raw_set(
        "loadstring",
        lua.create_function(|lua, (text, name): (mlua::LuaString, Option<String>)| {
            load_text(lua, &text.as_bytes(), name)
        })?,
    )?;
    g.raw_set(
        "load",
        lua.create_function(|lua, (reader, name): (mlua::Function, Option<String>)| {
            let mut text = Vec::new();
            loop {
                match reader.call::<Value>(())? {
                    Value::String(s) if !s.as_bytes().is_empty() => text.extend_from_slice(&s.as_bytes()),
                    _ => break,
                }
            }
            load_text(lua, &text, name)
        })?,
    )?;
    g.raw_set(
        "print",
        lua.create_function(|_, args: MultiValue| {
            let mut out = Vec::new();
            for (i, v) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                push_display(&mut out, v)?;
            }
            out.push(b'\n');
            write_stderr(&out);
            Ok(())
        })?,
    )?;

    // package and require.
    let package: Table = g.get("package")?;
    package.raw_set("loadlib", refuse(&lua, "package.loadlib")?)?;
    package.raw_set("path", "")?;
    package.raw_set("cpath", "")?;
    package.raw_set("loaders", lua.create_table()?)?;
    package.raw_set("preload", lua.create_table()?)?;
    let loaded: Table = package.get("loaded")?;
    loaded.raw_set("os", os)?;
    for lib in ["io", "debug", "coroutine"] {
        loaded.raw_set(lib, Value::Nil)?;
    }
    g.raw_set("module", refuse(&lua, "module")?)?;

    if open_libs {
        // io: only io.write (to standard error).
        let io = lua.create_table()?;
        for f in [
            "open", "popen", "lines", "input", "output", "read", "close", "tmpfile", "type", "flush",
        ] {
            io.raw_set(f, refuse(&lua, &format!("io.{f}"))?)?;
        }
        io.raw_set(
            "write",
            lua.create_function(|_, args: MultiValue| {
                let mut out = Vec::new();
                for v in &args {
                    push_display(&mut out, v)?;
                }
                write_stderr(&out);
                Ok(())
            })?,
        )?;
        g.raw_set("io", io.clone())?;
        loaded.raw_set("io", io)?;
        // debug: traceback only.
        let debug = lua.create_table()?;
        for f in [
            "debug",
            "getfenv",
            "gethook",
            "getinfo",
            "getlocal",
            "getmetatable",
            "getregistry",
            "getupvalue",
            "setfenv",
            "sethook",
            "setlocal",
            "setmetatable",
            "setupvalue",
        ] {
            debug.raw_set(f, refuse(&lua, &format!("debug.{f}"))?)?;
        }
        debug.raw_set("traceback", lua.create_function(|_, msg: Value| Ok(msg))?)?;
        g.raw_set("debug", debug.clone())?;
        loaded.raw_set("debug", debug)?;
        loaded.raw_set("coroutine", g.get::<Value>("coroutine")?)?;
        // string.rep bounded by max_string_size.
        let string: Table = g.get("string")?;
        let max = limits.max_string_size;
        string.raw_set(
            "rep",
            lua.create_function(move |lua, (s, n): (mlua::LuaString, f64)| {
                let bytes = s.as_bytes();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let n = if n.is_finite() && n > 0.0 { n as usize } else { 0 };
                let total = bytes.len().saturating_mul(n);
                if total > max {
                    return Err(mlua::Error::RuntimeError(format!(
                        "string.rep result of {total} bytes is longer than the limit of {max} bytes"
                    )));
                }
                lua.create_string(bytes.repeat(n))
            })?,
        )?;
    } else {
        g.raw_set("coroutine", Value::Nil)?;
        g.raw_set("string", Value::Nil)?;
        loaded.raw_set("string", Value::Nil)?;
        g.raw_set("math", Value::Nil)?;
        loaded.raw_set("math", Value::Nil)?;
    }

    Ok(lua)
}

/// `loadstring`/`load` in the sandbox: source text only.
fn load_text(lua: &Lua, text: &[u8], name: Option<String>) -> mlua::Result<(Value, Option<String>)> {
    if text.first() == Some(&0x1b) {
        return Ok((
            Value::Nil,
            Some("binary chunks are not available in health scripts".to_owned()),
        ));
    }
    let name = name.unwrap_or_else(|| String::from_utf8_lossy(text).chars().take(60).collect());
    match lua
        .load(text)
        .set_name(format!("=[string \"{name}\"]"))
        .set_mode(ChunkMode::Text)
        .into_function()
    {
        Ok(f) => Ok((Value::Function(f), None)),
        Err(e) => Ok((Value::Nil, Some(clean_message(&e)))),
    }
}
