//! The Lua engine, the health configuration and the registry: argocd-cm scripts run unchanged
//! (the seed's cert-manager script), our own Lua fixtures against the upstream corpus, the
//! return contract, hostile scripts, config errors and lookup order.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gitops_health::config::{ConfigError, HealthConfig};
use gitops_health::core::Object;
use gitops_health::core::engine::{Health, HealthCheck, HealthCode};
use gitops_health::registry::{HealthRegistry, Which};
use gitops_health::script::lua_engine::LuaScript;
use gitops_health::script::{HealthScript, Limits, ScriptError, ScriptHealth};
use serde_json::{Value, json};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn object(v: Value) -> Object {
    Object::from_value(v).expect("valid object")
}

fn cm(data: Value) -> Object {
    object(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": data,
    }))
}

fn widget(status: Value) -> Object {
    object(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"replicas": 3, "ratio": 0.5},
        "status": status,
    }))
}

fn lua(source: &str, open: bool) -> LuaScript {
    LuaScript::compile("test", source, open, Limits::default()).expect("compiles")
}

fn eval(source: &str, open: bool) -> Result<ScriptHealth, ScriptError> {
    lua(source, open).evaluate(&widget(json!({"phase": "Running"})))
}

fn health(status: HealthCode, message: &str) -> ScriptHealth {
    ScriptHealth::Health(Health::new(status, message))
}

// ---------------------------------------------------------------- (a) the seed's argocd-cm

fn seed_registry() -> HealthRegistry {
    let path = manifest_dir().join("../gitops-core/tests/fixtures/seed/05-argocd-cm-health.yaml");
    let loaded = gitops_health::core::load::load_file(&path).expect("seed loads");
    let registry = HealthRegistry::from_argocd_cm(&loaded[0].object).expect("seed config");
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    registry
}

fn certificate(api_version: &str, status: Option<Value>) -> Object {
    let mut v = json!({
        "apiVersion": api_version, "kind": "Certificate",
        "metadata": {"name": "tls", "namespace": "web"},
        "spec": {"secretName": "tls"},
    });
    if let Some(s) = status {
        v["status"] = s;
    }
    object(v)
}

#[test]
fn seed_cert_manager_script_runs_unchanged() {
    let registry = seed_registry();
    let ready = |status: &str, message: &str| json!({"conditions": [{"type": "Ready", "status": status, "message": message, "reason": "X"}]});
    let ok = certificate(
        "certmanager.k8s.io/v1alpha1",
        Some(ready("True", "Certificate is up to date")),
    );
    assert_eq!(
        registry.check(&ok).unwrap(),
        Some(Health::new(HealthCode::Healthy, "Certificate is up to date"))
    );
    let bad = certificate(
        "certmanager.k8s.io/v1alpha1",
        Some(ready("False", "Issuer not found")),
    );
    assert_eq!(
        registry.check(&bad).unwrap(),
        Some(Health::new(HealthCode::Degraded, "Issuer not found"))
    );
    let pending = certificate("certmanager.k8s.io/v1alpha1", None);
    assert_eq!(
        registry.check(&pending).unwrap(),
        Some(Health::new(
            HealthCode::Progressing,
            "Waiting for certificate to be ready"
        ))
    );
    assert!(matches!(
        registry.lookup("certmanager.k8s.io", "Certificate"),
        Which::Configured { glob: false, .. }
    ));
}

#[test]
fn seed_key_does_not_match_cert_manager_io() {
    let registry = seed_registry();
    // The key is certmanager.k8s.io/Certificate; cert-manager.io is another group.
    let which = registry.lookup("cert-manager.io", "Certificate");
    assert!(!matches!(which, Which::Configured { .. }), "{which:?}");
    let pending = certificate("cert-manager.io/v1", None);
    let got = registry.check(&pending).unwrap();
    assert_ne!(
        got,
        Some(Health::new(
            HealthCode::Progressing,
            "Waiting for certificate to be ready"
        ))
    );
    if matches!(which, Which::Library { .. }) {
        assert!(
            got.is_some(),
            "the built-in library assesses cert-manager.io Certificates"
        );
    }
    // Without the library, nothing handles it (no built-in check for Certificate).
    let bare = {
        let path = manifest_dir().join("../gitops-core/tests/fixtures/seed/05-argocd-cm-health.yaml");
        let loaded = gitops_health::core::load::load_file(&path).unwrap();
        HealthRegistry::new()
            .without_library()
            .with_config(&HealthConfig::from_argocd_cm(&loaded[0].object).unwrap())
    };
    assert_eq!(bare.check(&pending).unwrap(), None);
    assert_eq!(bare.lookup("cert-manager.io", "Certificate"), Which::Nothing);
}

// ---------------------------------------------------------------- (b) fixtures vs the corpus

fn corpus_dir() -> Option<PathBuf> {
    let dir = manifest_dir().join("../../shared/health-corpus");
    if dir.join("lua-cases.tsv").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the health corpus is missing at {}",
        dir.display()
    );
    eprintln!("skipped: the health corpus is missing at {}", dir.display());
    None
}

fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn first_document(path: &Path) -> Object {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = serde_yaml::Deserializer::from_str(&text)
        .next()
        .expect("a document");
    let value: Value = serde::Deserialize::deserialize(doc).expect("yaml");
    object(value)
}

/// (group, Kind, useOpenLibs) of our fixtures.
const FIXTURES: &[(&str, &str, bool)] = &[
    ("batch", "CronJob", true),
    ("policy", "PodDisruptionBudget", false),
    ("beat.k8s.elastic.co", "Beat", false),
];

fn fixture_config(open_override: Option<bool>) -> HealthConfig {
    let mut data = serde_json::Map::new();
    for (group, kind, open) in FIXTURES {
        let file = manifest_dir().join(format!("tests/fixtures/lua/{group}_{kind}.lua"));
        let text = std::fs::read_to_string(&file).unwrap();
        data.insert(
            format!("resource.customizations.health.{group}_{kind}"),
            json!(text),
        );
        data.insert(
            format!("resource.customizations.useOpenLibs.{group}_{kind}"),
            json!(open_override.unwrap_or(*open).to_string()),
        );
    }
    HealthConfig::from_argocd_cm(&cm(Value::Object(data))).unwrap()
}

#[test]
fn fixtures_pass_corpus_cases() {
    let Some(corpus) = corpus_dir() else { return };
    let registry = HealthRegistry::new()
        .without_library()
        .with_config(&fixture_config(None));
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    let tsv = std::fs::read_to_string(corpus.join("lua-cases.tsv")).unwrap();
    let mut ran = 0;
    let mut failures = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [dir, input, object_key, script_dir, status, message] = cols[..] else {
            panic!("bad row {line:?}")
        };
        if !FIXTURES.iter().any(|(g, k, _)| format!("{g}/{k}") == script_dir) {
            continue;
        }
        assert_eq!(object_key, script_dir);
        let obj = first_document(&corpus.join("resource_customizations").join(dir).join(input));
        let got = registry.check(&obj).unwrap();
        let want = Health::new(HealthCode::parse(status).unwrap(), unescape(message));
        if got.as_ref() != Some(&want) {
            failures.push(format!("{dir} {input}: got {got:?}, want {want:?}"));
        }
        ran += 1;
    }
    assert_eq!(ran, 16, "cases for the fixture kinds");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn string_library_needs_open_libs() {
    let Some(corpus) = corpus_dir() else { return };
    let registry = HealthRegistry::new()
        .without_library()
        .with_config(&fixture_config(Some(false)));
    let obj = first_document(&corpus.join("resource_customizations/batch/CronJob/testdata/healthy.yaml"));
    let got = registry.check(&obj).unwrap().unwrap();
    assert_eq!(got.status, HealthCode::Unknown);
    assert!(got.message.contains("string"), "{}", got.message);
    // Beat and PDB need no open libraries: same answers with them off (already the case) and on.
    let open = HealthRegistry::new()
        .without_library()
        .with_config(&fixture_config(Some(true)));
    let beat = first_document(
        &corpus.join("resource_customizations/beat.k8s.elastic.co/Beat/testdata/ready_yellow.yaml"),
    );
    assert_eq!(
        open.check(&beat).unwrap().unwrap().message,
        "Elastic Beat status is deploying, there is 1 instance(s) on 2 expected"
    );
}

// ---------------------------------------------------------------- the return contract

#[test]
fn return_contract() {
    assert_eq!(eval("return nil", false).unwrap(), ScriptHealth::Empty);
    assert_eq!(eval("local x = 1", false).unwrap(), ScriptHealth::Empty);
    assert_eq!(eval("return {}", false).unwrap(), ScriptHealth::Empty);
    assert_eq!(eval("return {'Healthy'}", false).unwrap(), ScriptHealth::Empty);
    assert_eq!(
        eval("return {status = 'Healthy', message = 3}", false).unwrap(),
        ScriptHealth::Empty
    );
    assert_eq!(
        eval("return {status = true}", false).unwrap(),
        ScriptHealth::Empty
    );
    assert_eq!(
        eval("return {status = 'Healthy'}", false).unwrap(),
        health(HealthCode::Healthy, "")
    );
    for code in [
        "Healthy",
        "Progressing",
        "Degraded",
        "Suspended",
        "Missing",
        "Unknown",
    ] {
        let got = eval(&format!("return {{status = '{code}', message = 'm'}}"), false).unwrap();
        assert_eq!(got, health(HealthCode::parse(code).unwrap(), "m"));
    }
    for bad in [
        "return {status = 'healthy'}",
        "return {status = ''}",
        "return {message = 'x'}",
    ] {
        assert_eq!(
            eval(bad, false).unwrap(),
            health(HealthCode::Unknown, "Lua returned an invalid health status"),
            "{bad}"
        );
    }
    // Go's JSON decoding matches field names case-insensitively.
    assert_eq!(
        eval("return {Status = 'Degraded', MESSAGE = 'x'}", false).unwrap(),
        health(HealthCode::Degraded, "x")
    );
    // The last returned value is the one used (top of the stack).
    assert_eq!(
        eval("return 1, {status = 'Healthy'}", false).unwrap(),
        health(HealthCode::Healthy, "")
    );
    for (src, ty) in [
        ("return 3", "number"),
        ("return 'Healthy'", "string"),
        ("return true", "boolean"),
        ("return print", "function"),
    ] {
        assert_eq!(
            eval(src, false).unwrap_err(),
            ScriptError::BadOutput(format!("expect table output from Lua script, not {ty}"))
        );
    }
}

#[test]
fn obj_conversion_and_number_formatting() {
    let obj = widget(json!({"list": ["a", "b"], "missing": null}));
    let script = lua(
        r#"return {status = "Healthy", message = obj.spec.replicas .. " " .. tostring(obj.spec.replicas)
            .. " " .. obj.spec.ratio .. " " .. obj.metadata.name .. " " .. type(obj.status.missing)
            .. " " .. obj.status.list[1] .. " " .. table.getn(obj.status.list) .. " " .. #actionParams}"#,
        false,
    );
    assert_eq!(
        script.evaluate(&obj).unwrap(),
        health(HealthCode::Healthy, "3 3 0.5 w nil a 2 0")
    );
}

#[test]
fn safe_os_and_require() {
    let src = r#"
        local t1 = os.time({year = 2024, month = 3, day = 1})
        local t2 = os.time({year = 2024, month = 3, day = 1, hour = 12, min = 0, sec = 0})
        local t3 = require("os").time({year = 2024, month = 3, day = 2, hour = 12})
        local now = os.time()
        return {status = "Healthy", message = tostring(t1 == t2) .. " " .. (t3 - t1) .. " "
            .. tostring(now > t1) .. " " .. type(os.date("*t").year) .. " " .. tostring(os.execute)}
    "#;
    assert_eq!(
        eval(src, false).unwrap(),
        health(HealthCode::Healthy, "true 86400 true number nil")
    );
    // Without open libraries: no string, math, io, coroutine.
    for (src, needle) in [
        ("return {status = string.lower('X')}", "string"),
        ("local s = 'abc'; return {status = s:upper()}", "string"),
        ("return {status = tostring(math.huge)}", "math"),
        ("local f = io.open('/etc/passwd')", "io"),
        ("require('string')", "not available"),
    ] {
        let e = eval(src, false).unwrap_err().to_string();
        assert!(e.contains(needle), "{src}: {e}");
    }
    // With them: string methods, math, format of numbers from obj.
    assert_eq!(
        eval(
            "return {status = 'Healthy', message = string.format('%d/%s', obj.spec.replicas, ('Ab'):lower()) \
             .. ' ' .. tostring(math.huge) .. ' ' .. require('string').len('abc')}",
            true
        )
        .unwrap(),
        health(HealthCode::Healthy, "3/ab inf 3")
    );
}

#[test]
fn runtime_and_compile_errors_are_clean() {
    let e = eval("local x = nil\nreturn {status = x.y}", false).unwrap_err();
    let ScriptError::Runtime { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(message.starts_with("test:2:"), "{message}");
    assert!(!message.contains("traceback"), "{message}");
    let e = eval("error('boom')", false).unwrap_err().to_string();
    assert_eq!(e, "test:1: boom");
    let e = LuaScript::compile("bad", "return {", false, Limits::default()).unwrap_err();
    assert!(matches!(e, ScriptError::Compile { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("lua script bad does not compile: bad:1:"),
        "{e}"
    );
}

// ---------------------------------------------------------------- (c) hostile scripts

fn hostile(src: &str, open: bool, limits: Limits) -> (String, Duration) {
    let script = LuaScript::compile("hostile", src, open, limits).expect("compiles");
    let start = Instant::now();
    let result = script.evaluate(&widget(json!({})));
    let elapsed = start.elapsed();
    let e = result.expect_err("hostile script must fail");
    (e.to_string(), elapsed)
}

#[test]
fn hostile_scripts_are_stopped() {
    let bound = Limits::default().timeout;
    let unbounded_ops = Limits::default().max_operations(u64::MAX);
    let cases: &[(&str, &str, bool, Limits, &str)] = &[
        (
            "infinite loop",
            "while true do end",
            false,
            Limits::default(),
            "instructions",
        ),
        (
            "infinite loop, timeout",
            "while true do end",
            false,
            unbounded_ops,
            "timeout",
        ),
        (
            "loop in pcall",
            "while true do pcall(function() while true do end end) end",
            false,
            unbounded_ops,
            "timeout",
        ),
        (
            "loop in xpcall handler",
            "while true do xpcall(function() error('x') end, function() while true do end end) end",
            false,
            unbounded_ops,
            "timeout",
        ),
        (
            "loop in coroutine",
            "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
            true,
            unbounded_ops,
            "timeout",
        ),
        (
            "deep recursion",
            "local function f(n) return f(n + 1) + 1 end return f(1)",
            false,
            Limits::default(),
            "stack overflow",
        ),
        (
            "huge string.rep",
            "local s = string.rep('x', 1e10)",
            true,
            Limits::default(),
            "string.rep",
        ),
        (
            "doubling string",
            "local s = 'xxxxxxxx' for i = 1, 40 do s = s .. s end",
            false,
            Limits::default(),
            "memory",
        ),
        (
            "huge table",
            "local t = {} for i = 1, 1e9 do t[i] = i end",
            false,
            unbounded_ops,
            "memory",
        ),
        (
            "os.execute",
            "os.execute('touch /tmp/pwned')",
            true,
            Limits::default(),
            "os.execute is not available",
        ),
        (
            "os.execute without open libs",
            "os.execute('id')",
            false,
            Limits::default(),
            "execute",
        ),
        (
            "os.remove",
            "os.remove('/tmp/x')",
            true,
            Limits::default(),
            "os.remove is not available",
        ),
        (
            "os.exit",
            "os.exit(1)",
            true,
            Limits::default(),
            "os.exit is not available",
        ),
        (
            "io.open",
            "io.open('/etc/passwd')",
            true,
            Limits::default(),
            "io.open is not available",
        ),
        (
            "io.popen",
            "io.popen('id')",
            true,
            Limits::default(),
            "io.popen is not available",
        ),
        (
            "io via package.loaded",
            "package.loaded.io.open('/etc/passwd')",
            true,
            Limits::default(),
            "io.open is not available",
        ),
        (
            "os via package.loaded",
            "package.loaded.os.execute('id')",
            true,
            Limits::default(),
            "os.execute is not available",
        ),
        (
            "require socket",
            "local s = require 'socket'",
            true,
            Limits::default(),
            "require \"socket\" is not available",
        ),
        (
            "require io",
            "local s = require 'io'",
            true,
            Limits::default(),
            "require \"io\" is not available",
        ),
        (
            "dofile",
            "dofile('/etc/passwd')",
            true,
            Limits::default(),
            "dofile is not available",
        ),
        (
            "loadfile",
            "loadfile('/etc/passwd')",
            false,
            Limits::default(),
            "loadfile is not available",
        ),
        (
            "package.loadlib",
            "package.loadlib('libc.so.6', 'system')",
            true,
            Limits::default(),
            "package.loadlib is not available",
        ),
        (
            "bytecode",
            "local f, e = loadstring(string.dump(function() end)) if not f then error(e) end",
            true,
            Limits::default(),
            "binary chunks are not available",
        ),
        (
            "debug.sethook",
            "debug.sethook()",
            true,
            Limits::default(),
            "debug.sethook is not available",
        ),
    ];
    let mut report = Vec::new();
    for (what, src, open, limits, needle) in cases {
        let (message, elapsed) = hostile(src, *open, *limits);
        report.push(format!("{what}: {elapsed:?}: {message}"));
        assert!(message.contains(needle), "{what}: {message}");
        assert!(elapsed < bound * 2, "{what}: took {elapsed:?}");
    }
    println!("{}", report.join("\n"));
    // A script that loads text is fine.
    assert_eq!(
        eval("return loadstring('return {status = \"Healthy\"}')()", false).unwrap(),
        health(HealthCode::Healthy, "")
    );
}

#[test]
fn no_state_leaks_between_evaluations() {
    let script = lua(
        "if leaked ~= nil then return {status = 'Degraded', message = 'leaked'} end \
         leaked = true; table.insert = nil; os.time = nil \
         return {status = 'Healthy'}",
        true,
    );
    for _ in 0..3 {
        assert_eq!(
            script.evaluate(&widget(json!({}))).unwrap(),
            health(HealthCode::Healthy, "")
        );
    }
}

/// Runs `script` on the widget and returns the message of its health (panics on anything else).
fn message_of(script: &LuaScript) -> String {
    match script.evaluate(&widget(json!({}))) {
        Ok(ScriptHealth::Health(h)) => h.message,
        other => panic!("expected a health, got {other:?}"),
    }
}

/// Reports the library shape a script sees, to compare evaluations.
const PROBE: &str = r#"
local parts = {}
local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end
for _, name in ipairs({"string", "table", "math", "os", "io", "debug", "coroutine", "package"}) do
  local lib = _G[name]
  parts[#parts + 1] = name .. "=" .. (type(lib) == "table" and count(lib) or type(lib))
end
parts[#parts + 1] = "G=" .. count(_G)
parts[#parts + 1] = "leak=" .. tostring(leak)
parts[#parts + 1] = "tostring=" .. type(tostring)
parts[#parts + 1] = "insert=" .. type(table.insert)
parts[#parts + 1] = "time=" .. type(os.time)
parts[#parts + 1] = "loaded=" .. tostring(package.loaded.table == table and package.loaded._G == _G)
if string then
  parts[#parts + 1] = "format=" .. string.format("%d", 3) .. ("ab"):upper()
  parts[#parts + 1] = "mt=" .. tostring(getmetatable("").__index == string)
end
return {status = "Healthy", message = table.concat(parts, " ")}
"#;

/// Scripts that try to leave something behind for later evaluations.
const TAMPER: &[(&str, &str)] = &[
    ("global", "leak = 'yes'; x = 1"),
    ("rawset _G", "rawset(_G, 'leak', 'yes')"),
    (
        "library tables",
        "table.insert = nil; os.time = nil; package.loaded.table.insert = nil; \
         if string then string.format = nil; string.upper = nil; math.huge = 0 end",
    ),
    ("tostring", "tostring = function() return 'x' end; type = nil"),
    (
        "require",
        "require('table').insert = nil; require('os').time = nil",
    ),
    (
        "string metatable",
        "if string then local mt = getmetatable(''); mt.__index = {}; \
         mt.__index.upper = nil; pcall(setmetatable, mt, {}) end",
    ),
    (
        "setmetatable on _G",
        "setmetatable(_G, {__index = function() return 'leak' end})",
    ),
    (
        "getfenv",
        "getfenv(0).leak = 'yes'; getfenv(print).leak = 'yes'; getfenv(1).leak = 'yes'; \
         getfenv(pcall).leak = 'yes'",
    ),
    (
        "setfenv",
        "pcall(setfenv, print, {}); pcall(setfenv, pcall, {}); setfenv(0, {leak = 'yes'}); \
         setfenv(1, {})",
    ),
    ("loadstring", "loadstring('leak = \"yes\"; table.insert = nil')()"),
    (
        "seeall",
        "local m = {}; package.seeall(m); getmetatable(m).__index.leak = 'yes'",
    ),
    ("collectgarbage", "collectgarbage('stop'); leak = 'yes'"),
    ("error", "leak = 'yes'; table.insert = nil; error('boom')"),
];

#[test]
fn isolation_across_evaluations() {
    for open in [false, true] {
        let probe = lua(PROBE, open);
        let fresh = message_of(&probe);
        assert!(
            fresh.contains("leak=nil") && fresh.contains("insert=function"),
            "{fresh}"
        );
        if open {
            assert!(fresh.contains("format=3AB mt=true"), "{fresh}");
        }
        for (what, tamper) in TAMPER {
            let script = lua(
                &format!(
                    "local before = tostring(leak) .. ' ' .. tostring(table.insert ~= nil)\n\
                     do {tamper} end\n\
                     return {{status = 'Healthy', message = before}}"
                ),
                open,
            );
            for round in 0..3 {
                // The same script again: nothing from the previous round is visible.
                match script.evaluate(&widget(json!({}))) {
                    Ok(got) => {
                        assert_eq!(
                            got,
                            health(HealthCode::Healthy, "nil true"),
                            "{what} open={open} round {round}"
                        );
                    }
                    Err(e) => assert!(*what == "error", "{what} open={open}: {e}"),
                }
                // Another script (and the probe) sees exactly the fresh shape.
                assert_eq!(message_of(&probe), fresh, "{what} open={open} round {round}");
            }
        }
    }
}

#[test]
fn sandbox_shape_is_the_same_every_evaluation() {
    for open in [false, true] {
        let probe = lua(PROBE, open);
        let first = message_of(&probe);
        for _ in 0..5 {
            assert_eq!(message_of(&probe), first);
        }
        // _G is the evaluation's environment, and globals a script sets live only there.
        let script = lua(
            "local a = (_G == getfenv(1)) and (_G == getfenv(0)) and (_G._G == _G) \
             y = 2 \
             local b = rawget(_G, 'y') == 2 and loadstring('return y')() == 2 \
             return {status = 'Healthy', message = tostring(a) .. ' ' .. tostring(b) .. ' ' .. tostring(z)}",
            open,
        );
        for _ in 0..3 {
            assert_eq!(
                script.evaluate(&widget(json!({}))).unwrap(),
                health(HealthCode::Healthy, "true true nil")
            );
        }
    }
    // Library functions keep their environment; script functions can change theirs.
    let e = eval("setfenv(print, {})", false).unwrap_err().to_string();
    assert!(
        e.contains("setfenv of a library function is not available"),
        "{e}"
    );
    let e = eval("module('m')", false).unwrap_err().to_string();
    assert!(e.contains("module is not available"), "{e}");
    assert_eq!(
        eval(
            "local function f() return marker end \
             setfenv(f, {marker = 'Healthy'}) return {status = f()}",
            false
        )
        .unwrap(),
        health(HealthCode::Healthy, "")
    );
}

#[test]
fn objects_do_not_leak_between_evaluations() {
    let script = lua(
        "local seen = obj.status.phase; obj.status.phase = 'Changed'; obj.spec = nil \
         return {status = 'Healthy', message = tostring(seen)}",
        false,
    );
    for phase in ["A", "B", "A"] {
        assert_eq!(
            script.evaluate(&widget(json!({"phase": phase}))).unwrap(),
            health(HealthCode::Healthy, phase)
        );
    }
}

#[test]
fn stopped_scripts_do_not_poison_the_next_evaluation() {
    let small = Limits::default().timeout(Duration::from_millis(100));
    let cases: &[(&str, Limits, &str)] = &[
        ("while true do end", Limits::default(), "instructions"),
        ("while true do end", small.max_operations(u64::MAX), "timeout"),
        (
            "local s = 'xxxxxxxx' for i = 1, 40 do s = s .. s end",
            Limits::default(),
            "memory",
        ),
        (
            "local function f(n) return f(n + 1) + 1 end return f(1)",
            Limits::default(),
            "stack overflow",
        ),
    ];
    for (src, limits, needle) in cases {
        // One script that misbehaves only when obj says so, evaluated alternately.
        let script = LuaScript::compile(
            "flaky",
            &format!(
                "if obj.status.bad then {src} end \
                 local t = {{}} for i = 1, 1000 do t[i] = i end \
                 return {{status = 'Healthy', message = tostring(#t)}}"
            ),
            false,
            *limits,
        )
        .unwrap();
        for _ in 0..2 {
            let e = script
                .evaluate(&widget(json!({"bad": true})))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{src}: {e}");
            let start = Instant::now();
            assert_eq!(
                script.evaluate(&widget(json!({}))).unwrap(),
                health(HealthCode::Healthy, "1000"),
                "{src}"
            );
            assert!(start.elapsed() < Duration::from_millis(50), "{src}");
        }
    }
    // Garbage of earlier runs is not charged to later ones: each run may allocate up to
    // about the memory limit.
    let limits = Limits::default().max_operations(u64::MAX);
    let script = LuaScript::compile(
        "big",
        "local t = {} for i = 1, 300000 do t[i] = {} end \
         return {status = 'Healthy', message = tostring(#t)}",
        false,
        limits,
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            script.evaluate(&widget(json!({}))).unwrap(),
            health(HealthCode::Healthy, "300000")
        );
    }
}

#[test]
fn scripts_run_on_many_threads() {
    let script = std::sync::Arc::new(lua(
        "x = (x or 0) + 1 return {status = 'Healthy', message = obj.metadata.name .. x}",
        true,
    ));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let script = std::sync::Arc::clone(&script);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(
                        script.evaluate(&widget(json!({}))).unwrap(),
                        health(HealthCode::Healthy, "w1")
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Many scripts on one thread: more than the pool keeps.
    let scripts: Vec<LuaScript> = (0..80)
        .map(|i| lua(&format!("return {{status = 'Healthy', message = '{i}'}}"), false))
        .collect();
    for _ in 0..2 {
        for (i, s) in scripts.iter().enumerate() {
            assert_eq!(message_of(s), i.to_string());
        }
    }
}

// ---------------------------------------------------------------- (d) config and lookup order

fn config_error(data: Value) -> ConfigError {
    HealthConfig::from_argocd_cm(&cm(data)).unwrap_err()
}

#[test]
fn argocd_cm_key_errors() {
    let e = config_error(json!({"resource.customizations.health.a_b_C": "return {}"}));
    let s = e.to_string();
    assert!(
        s.contains("resource.customizations.health.a_b_C") && s.contains("a_b_C"),
        "{s}"
    );
    let e = config_error(json!({"resource.customizations.useOpenLibs.apps_Deployment": "yes"}));
    let s = e.to_string();
    assert!(
        s.contains("resource.customizations.useOpenLibs.apps_Deployment") && s.contains("yes"),
        "{s}"
    );
    let e = config_error(json!({"resource.customizations.healthz.apps_Deployment": "x"}));
    assert!(
        e.to_string()
            .contains("resource customization type healthz not supported"),
        "{e}"
    );
    let e = config_error(json!({"resource.customizations": "apps/Deployment: [1, 2"}));
    assert!(e.to_string().contains("resource.customizations"), "{e}");
    let e = config_error(
        json!({"resource.customizations": "apps/Deployment:\n  health.lua.useOpenLibs: maybe\n"}),
    );
    assert!(e.to_string().contains("useOpenLibs"), "{e}");
    // Strict Go bools; ignored types; keys with fewer parts are skipped.
    let ok = HealthConfig::from_argocd_cm(&cm(json!({
        "resource.customizations.useOpenLibs.apps_Deployment": "T",
        "resource.customizations.actions.apps_Deployment": "anything",
        "resource.customizations.ignoreDifferences.all": "jsonPointers: []",
        "resource.customizations.health": "skipped",
        "resource.customizations.health.PersistentVolumeClaim": "return nil",
    })))
    .unwrap();
    assert!(ok.get("apps/Deployment").unwrap().use_open_libs);
    assert!(ok.get("PersistentVolumeClaim").is_some());
    assert!(ok.get("*/*").is_none());
}

#[test]
fn legacy_block_merged_then_split_keys_override() {
    let config = HealthConfig::from_argocd_cm(&cm(json!({
        "resource.customizations": "\
apps/Deployment:\n  health.lua: |\n    return {status = 'Degraded', message = 'legacy'}\n  health.lua.useOpenLibs: true\n\
\"*.example.com/*\":\n  health.lua: return {status = 'Suspended', message = 'glob'}\n",
        "resource.customizations.health.apps_Deployment": "return {status = 'Healthy', message = 'split'}",
        "resource.customizations.health.all": "return {status = 'Missing', message = 'all'}",
    })))
    .unwrap();
    let d = config.get("apps/Deployment").unwrap();
    assert!(d.script.contains("split") && d.use_open_libs);
    let registry = HealthRegistry::new().with_config(&config);
    let check = |o: &Object| registry.check(o).unwrap().unwrap();
    assert_eq!(
        check(&Object::new("apps/v1", "Deployment", Some("n"), "d")).message,
        "split"
    );
    // "*.example.com/*" < "*/*": the lexicographically smallest matching glob wins.
    assert_eq!(
        check(&Object::new("a.example.com/v1", "W", Some("n"), "w")).message,
        "glob"
    );
    assert_eq!(
        check(&Object::new("other.io/v1", "W", Some("n"), "w")).message,
        "all"
    );
    // `*/*` needs a `/`: core kinds do not match `all`.
    assert_eq!(registry.lookup("", "Service"), Which::Builtin);
}

#[test]
fn lookup_order() {
    let config = HealthConfig::from_argocd_cm(&cm(json!({
        "resource.customizations": "\
    \"apps/*\":\n  health.lua: return {status = 'Degraded', message = 'apps glob'}\n\
    \"*/Certificate\":\n  health.lua: return {status = 'Suspended', message = 'glob'}\n\
    \"*/Empty\":\n  health.lua: \"\"\n",
        "resource.customizations.health.apps_Deployment": "return {status = 'Healthy', message = 'user'}",
        "resource.customizations.health.apps_StatefulSet": "return {}",
        "resource.customizations.health.example.com_Empty": "return nil",
    })))
    .unwrap();
    let registry = HealthRegistry::new().with_config(&config);
    let deployment = Object::new("apps/v1", "Deployment", Some("n"), "d");
    // Exact beats glob, and a user script overrides a built-in check.
    assert_eq!(
        registry.check(&deployment).unwrap(),
        Some(Health::new(HealthCode::Healthy, "user"))
    );
    // Glob beats the built-in check.
    assert_eq!(
        registry
            .check(&Object::new("apps/v1", "DaemonSet", Some("n"), "d"))
            .unwrap(),
        Some(Health::new(HealthCode::Degraded, "apps glob"))
    );
    // Glob beats the library.
    assert!(matches!(
        registry.lookup("cert-manager.io", "Certificate"),
        Which::Configured { glob: true, .. }
    ));
    // An empty result is final: no built-in StatefulSet check.
    assert_eq!(
        registry
            .check(&Object::new("apps/v1", "StatefulSet", Some("n"), "s"))
            .unwrap(),
        None
    );
    assert_eq!(
        registry
            .check(&Object::new("example.com/v1", "Empty", Some("n"), "e"))
            .unwrap(),
        None
    );
    // Pending deletion comes first.
    let mut deleting = Object::new("apps/v1", "Deployment", Some("n"), "d");
    deleting
        .as_map_mut()
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .unwrap()
        .insert("deletionTimestamp".into(), json!("2024-01-01T00:00:00Z"));
    assert_eq!(
        registry.check(&deleting).unwrap(),
        Some(Health::progressing("Pending deletion"))
    );
    // Library beats built-in; built-in; nothing.
    let plain = HealthRegistry::new();
    assert!(matches!(plain.lookup("batch", "CronJob"), Which::Library { .. }));
    assert_eq!(plain.lookup("apps", "Deployment"), Which::Builtin);
    assert_eq!(plain.lookup("", "ConfigMap"), Which::Nothing);
    assert_eq!(plain.without_library().lookup("batch", "CronJob"), Which::Nothing);
}

#[test]
fn broken_scripts_report_unknown() {
    let registry = HealthRegistry::from_argocd_cm(&cm(json!({
        "resource.customizations.health.example.com_Widget": "return {status = ",
    })))
    .unwrap();
    assert_eq!(registry.problems().len(), 1);
    assert!(
        registry.problems()[0].starts_with("example.com/Widget: lua script"),
        "{:?}",
        registry.problems()
    );
    let got = registry.check(&widget(json!({}))).unwrap().unwrap();
    assert_eq!(got.status, HealthCode::Unknown);
    assert!(got.message.contains("does not compile"), "{}", got.message);
    // Run-time errors are Unknown too.
    let registry = HealthRegistry::from_argocd_cm(&cm(json!({
        "resource.customizations.health.example.com_Widget": "return 42",
    })))
    .unwrap();
    assert_eq!(
        registry.check(&widget(json!({}))).unwrap(),
        Some(Health::new(
            HealthCode::Unknown,
            "expect table output from Lua script, not number"
        ))
    );
}

#[test]
fn native_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::write(
        dir.path().join("scripts/widget.rhai"),
        r#"#{ status: "Healthy", message: "rhai " + obj.metadata.name }"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("health.yaml"),
        "apiVersion: gitops.rs/v1alpha1\nkind: HealthConfig\nspec:\n  scripts:\n\
         \x20   - group: example.com\n      kind: Widget\n      file: scripts/widget.rhai\n\
         \x20   - kind: PersistentVolumeClaim\n      language: lua\n      useOpenLibs: true\n\
         \x20     script: \"return {status = 'Missing', message = string.upper('x')}\"\n",
    )
    .unwrap();
    let config = HealthConfig::load_file(&dir.path().join("health.yaml")).unwrap();
    let registry = HealthRegistry::new().with_config(&config);
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());
    assert_eq!(
        registry.check(&widget(json!({}))).unwrap(),
        Some(Health::new(HealthCode::Healthy, "rhai w"))
    );
    assert_eq!(
        registry
            .check(&Object::new("v1", "PersistentVolumeClaim", Some("n"), "p"))
            .unwrap(),
        Some(Health::new(HealthCode::Missing, "X"))
    );
    let base = dir.path();
    let err = |yaml: &str| {
        HealthConfig::from_yaml(yaml, base, "h.yaml")
            .unwrap_err()
            .to_string()
    };
    let head = "apiVersion: gitops.rs/v1alpha1\nkind: HealthConfig\nspec:\n  scripts:\n";
    assert!(
        err(&format!("{head}  - kind: A\n    language: perl\n    script: x\n"))
            .contains("spec.scripts[0].language")
    );
    assert!(err(&format!("{head}  - kind: A\n    language: lua\n")).contains("spec.scripts[0]"));
    assert!(err(&format!("{head}  - kind: A\n    script: x\n")).contains("spec.scripts[0].language"));
    assert!(
        err(&format!("{head}  - kind: A\n    language: lua\n    scirpt: x\n"))
            .contains("spec.scripts[0].scirpt")
    );
    assert!(err(&format!("{head}  - language: lua\n    script: x\n")).contains("spec.scripts[0].kind"));
    assert!(err(&format!("{head}  - kind: A\n    file: nope.lua\n")).contains("spec.scripts[0].file"));
    assert!(
        err(&format!(
            "{head}  - kind: A\n    language: rhai\n    useOpenLibs: true\n    script: x\n"
        ))
        .contains("spec.scripts[0].useOpenLibs")
    );
    assert!(
        err(&format!(
            "{head}  - {{kind: A, language: lua, script: x}}\n  - {{kind: A, language: lua, script: y}}\n"
        ))
        .contains("duplicate")
    );
    assert!(
        err("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n")
            .contains("expected an argocd-cm ConfigMap")
    );
}

/// Rough throughput; run with `cargo test --release -p gitops-health --test health -- --ignored
/// lua::throughput --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let Some(corpus) = corpus_dir() else { return };
    let registry = HealthRegistry::new()
        .without_library()
        .with_config(&fixture_config(None));
    for input in [
        "batch/CronJob/testdata/degraded.yaml",
        "policy/PodDisruptionBudget/testdata/degraded.yaml",
        "beat.k8s.elastic.co/Beat/testdata/ready_yellow.yaml",
    ] {
        let obj = first_document(&corpus.join("resource_customizations").join(input));
        for (label, reps) in [("warm-up", 200), ("measured", 20_000)] {
            let start = Instant::now();
            for _ in 0..reps {
                assert!(registry.check(&obj).unwrap().is_some());
            }
            let per = start.elapsed() / reps;
            println!(
                "{input}: {label}: {per:?} per evaluation, {:.0} evaluations/s",
                1.0 / per.as_secs_f64()
            );
        }
    }
}
