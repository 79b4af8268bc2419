//! Lua health scripts: Argo CD's argocd-cm scripts, run unchanged (spec/health.md §6.3–§6.4).
//!
//! [`LuaScript`] runs a script with Lua 5.1 semantics (mlua with a vendored Lua 5.1, the same
//! language level as gopher-lua). Every number is a Lua number (a double), so integral values
//! print without `.0` (`"x " .. 3` is `"x 3"`), exactly as upstream.
//!
//! # Execution model
//!
//! The source is syntax-checked once by [`LuaScript::compile`] and kept as Lua bytecode produced
//! by our own compiler. Each [`HealthScript::evaluate`] creates a **fresh Lua state**, as Argo CD
//! does, so nothing a script does (globals, library tables, metatables) can leak into the next
//! evaluation. A state pool was considered and rejected: a new sandboxed state costs about
//! 25–50 µs (measured in release mode; a whole evaluation of a small script on a CronJob takes
//! about 130–170 µs, i.e. 6,000–8,000 evaluations per second per core), and reusing states could
//! not guarantee isolation without freezing every library table and metatable a script can
//! reach. Isolation is worth more than the factor of about 1.5 a pool could gain.
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
//! every `io` function except `io.write`, `loadfile`, `dofile`, `package.loadlib`, and
//! `require` of anything but `os`, `string`, `table` and `math` (`string`/`math` only with open
//! libraries). `io.write` and `print` write to standard error (never standard output, which
//! belongs to the command's own output). `debug` only has `debug.traceback` (returns its
//! message); its other functions are refused. `loadstring`/`load` accept source text only (no
//! bytecode), `newproxy` is absent and `string.rep` refuses results longer than
//! [`Limits::max_string_size`].
//!
//! # Bounds
//!
//! Each evaluation runs under [`Limits`]: a wall-clock deadline ([`Limits::timeout`], checked
//! every 1,000 VM instructions), an instruction budget ([`Limits::max_operations`]) and a memory
//! ceiling ([`Limits::max_memory`], enforced by the allocator). Once a bound trips, the script is
//! stopped even if it wraps the offending code in `pcall`, `xpcall` or `coroutine.resume`.
//! Recursion is bounded by Lua's own stack limit (a "stack overflow" error is reported as a
//! stopped script); [`Limits::max_call_depth`] is not used by this engine. Known limit: a single
//! long-running library call written in C (a pathological pattern in `string.find` over a long
//! string) cannot be interrupted until it returns.

use std::cell::Cell;
use std::fmt;
use std::io::Write as _;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use gitops_core::Object;
use gitops_core::engine::{Health, HealthCode};
use mlua::chunk::ChunkMode;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use serde_json::Value as Json;

use super::{HealthScript, Limits, ScriptError, ScriptHealth, ScriptLanguage};

/// The message for a status that is not one of the six codes (Argo CD's wording).
pub const INVALID_HEALTH_STATUS: &str = "Lua returned an invalid health status";

/// How often (in VM instructions) the hook checks the deadline and the instruction budget.
const HOOK_EVERY: u32 = 1_000;

/// Deepest JSON nesting converted into tables (deeper values become `nil`).
const MAX_OBJ_DEPTH: usize = 256;

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

/// Which bound stopped a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Instructions,
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
        let stop: Rc<Cell<Option<Stop>>> = Rc::new(Cell::new(None));
        let lua = new_state(self.use_open_libs, self.limits, &stop).map_err(|e| runtime(&e))?;
        let globals = lua.globals();
        let setup = || -> mlua::Result<mlua::Function> {
            globals.raw_set("obj", json_to_lua(&lua, obj.as_value(), 0)?)?;
            globals.raw_set("actionParams", lua.create_table()?)?;
            lua.load(&self.bytecode[..])
                .set_name(format!("={}", self.name))
                .set_mode(ChunkMode::Binary)
                .into_function()
        };
        let function = setup().map_err(|e| classify(&e, stop.get(), self.limits))?;

        let deadline = Instant::now() + self.limits.timeout;
        let max_ops = self.limits.max_operations;
        let hook_stop = Rc::clone(&stop);
        let counter = Cell::new(0u64);
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if let Some(s) = hook_stop.get() {
                    return Err(mlua::Error::RuntimeError(stop_message(s)));
                }
                let n = counter.get().saturating_add(u64::from(HOOK_EVERY));
                counter.set(n);
                let tripped = if n > max_ops {
                    Some(Stop::Instructions)
                } else if Instant::now() >= deadline {
                    Some(Stop::Timeout)
                } else {
                    None
                };
                match tripped {
                    Some(s) => {
                        hook_stop.set(Some(s));
                        Err(mlua::Error::RuntimeError(stop_message(s)))
                    }
                    None => Ok(VmState::Continue),
                }
            },
        )
        .map_err(|e| runtime(&e))?;

        let values: MultiValue = function
            .call(())
            .map_err(|e| classify(&e, stop.get(), self.limits))?;
        lua.remove_global_hook();
        // Argo CD takes the top of the stack: the last value returned (nil when none).
        let last = values.into_iter().last().unwrap_or(Value::Nil);
        to_script_health(last)
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

/// The sandbox prelude: runs once per state, before the script. It receives the function that
/// tells whether a bound tripped and wraps `pcall`, `xpcall` and `coroutine.resume` so that a
/// stopped script cannot swallow the stop. `xpcall` calls its message handler after unwinding
/// (Lua 5.1 would run it inside the failing hook, where hooks are off).
const PRELUDE: &str = r#"
local stopped, native_pcall, error = ...
local function check(ok, ...)
  if not ok and stopped() then error((...), 0) end
  return ok, ...
end
pcall = function(f, ...) return check(native_pcall(f, ...)) end
-- xpcall runs its handler after unwinding: Lua runs a message handler with hooks disabled
-- when the error comes from a hook, so a looping handler could never be stopped.
local function xfinish(h, ok, ...)
  if ok then return ok, ... end
  local err = ...
  if stopped() then error(err, 0) end
  local _, result = native_pcall(h, err)
  if stopped() then error(result, 0) end
  return false, result
end
xpcall = function(f, h) return xfinish(h, native_pcall(f)) end
if coroutine then
  local resume = coroutine.resume
  coroutine.resume = function(co, ...) return check(resume(co, ...)) end
end
"#;

/// The prelude's bytecode, compiled once per process.
fn prelude_bytecode() -> Result<&'static [u8], mlua::Error> {
    static BYTECODE: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let compiled = BYTECODE.get_or_init(|| {
        let lua = Lua::new_with(StdLib::NONE, LuaOptions::new()).map_err(|e| e.to_string())?;
        lua.load(PRELUDE)
            .set_name("=prelude")
            .into_function()
            .map(|f| f.dump(true))
            .map_err(|e| e.to_string())
    });
    compiled
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|e| mlua::Error::RuntimeError(format!("lua prelude does not compile: {e}")))
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

/// Creates a sandboxed Lua 5.1 state per spec §6.3 (see the module documentation).
fn new_state(open_libs: bool, limits: Limits, stop: &Rc<Cell<Option<Stop>>>) -> mlua::Result<Lua> {
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
    g.raw_set(
        "require",
        lua.create_function(move |lua, name: String| -> mlua::Result<Value> {
            let allowed = match name.as_str() {
                "os" | "table" => true,
                "string" | "math" => open_libs,
                _ => false,
            };
            if !allowed {
                return Err(mlua::Error::RuntimeError(format!(
                    "require \"{name}\" is not available in health scripts"
                )));
            }
            lua.globals().get::<Value>(name.as_str())
        })?,
    )?;

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

    let flag = Rc::clone(stop);
    let stopped = lua.create_function(move |_, ()| Ok(flag.get().is_some()))?;
    let prelude = lua
        .load(prelude_bytecode()?)
        .set_name("=prelude")
        .set_mode(ChunkMode::Binary)
        .into_function()?;
    prelude.call::<()>((stopped, g.get::<Value>("pcall")?, g.get::<Value>("error")?))?;
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
