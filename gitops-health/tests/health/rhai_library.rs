//! The built-in Rhai library against the upstream Lua test cases of
//! `../shared/health-corpus/resource_customizations`, plus the Rhai engine's result contract
//! and sandbox.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gitops_health::core::Object;
use gitops_health::core::engine::{Health, HealthCode};
use gitops_health::library::Library;
use gitops_health::script::rhai_engine::{RhaiEngine, RhaiScript};
use gitops_health::script::{HealthScript, Limits, ScriptError, ScriptHealth};
use serde_json::{Value, json};

/// `../shared/health-corpus`, relative to the repository root.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/health-corpus")
}

/// The corpus directory, or `None` (after printing why) when it is absent outside CI.
fn corpus_or_skip() -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "health corpus not found at {} (expected ../shared/health-corpus next to the repo); \
             it is required when CI is set",
            dir.display()
        );
    }
    println!("skipping: ../shared/health-corpus not found");
    None
}

/// Reads the first YAML document of a file as JSON.
fn first_document(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let doc = serde_yaml::Deserializer::from_str(&text)
        .next()
        .ok_or_else(|| format!("{}: no YAML document", path.display()))?;
    serde::Deserialize::deserialize(doc).map_err(|e| format!("parse {}: {e}", path.display()))
}

/// A map field looked up case-insensitively (upstream decodes YAML → JSON → Go struct).
fn field<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// One upstream case: the input path (relative to the test's directory) and the expectation.
struct Case {
    input: String,
    expected: Health,
}

/// Parses a `health_test.yaml`.
fn cases(path: &Path) -> Result<Vec<Case>, String> {
    let doc = first_document(path)?;
    let tests = field(&doc, "tests")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{}: no tests list", path.display()))?;
    tests
        .iter()
        .map(|t| {
            let input = field(t, "inputPath")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{}: a test without inputPath", path.display()))?;
            let hs = field(t, "healthStatus").ok_or_else(|| format!("{input}: no healthStatus"))?;
            let status = field(hs, "status").and_then(Value::as_str).unwrap_or_default();
            let status =
                HealthCode::parse(status).ok_or_else(|| format!("{input}: bad status {status:?}"))?;
            let message = field(hs, "message").and_then(Value::as_str).unwrap_or_default();
            Ok(Case {
                input: input.to_owned(),
                expected: Health::new(status, message),
            })
        })
        .collect()
}

/// Group of an object from its apiVersion (`""` for the core group).
fn group_of(obj: &Value) -> &str {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Runs one case: the script is resolved from the object's own group and kind.
fn run_case(lib: &Library, dir: &Path, case: &Case) -> Result<(), String> {
    let obj = first_document(&dir.join(&case.input))?;
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let group = group_of(&obj);
    let script = lib
        .lookup(group, kind)
        .ok_or_else(|| format!("no library script for {group}/{kind}"))?;
    let got = match script.evaluate_value(&obj) {
        Ok(ScriptHealth::Health(h)) => h,
        Ok(ScriptHealth::Empty) => return Err("empty result".to_owned()),
        Err(e) => return Err(format!("error: {e}")),
    };
    if got == case.expected {
        Ok(())
    } else {
        Err(format!(
            "expected {} {:?}, got {} {:?}",
            case.expected.status, case.expected.message, got.status, got.message
        ))
    }
}

#[test]
fn library_compiles() {
    let lib = Library::builtin();
    assert!(
        lib.errors().is_empty(),
        "library compile errors: {:#?}",
        lib.errors()
    );
    for (group, kind, source) in lib.entries() {
        assert!(!source.trim().is_empty());
        assert_eq!(lib.source(group, kind), Some(source));
    }
}

#[test]
fn library_lookup_order() {
    let lib = Library::builtin();
    let name = |g: &str, k: &str| lib.lookup(g, k).map(|s| s.name().to_owned());
    assert_eq!(
        name("argoproj.io", "Rollout").as_deref(),
        Some("argoproj.io/Rollout.rhai")
    );
    assert_eq!(name("batch", "CronJob").as_deref(), Some("batch/CronJob.rhai"));
    // The exact entry beats the wildcard.
    assert_eq!(
        name("pkg.crossplane.io", "Provider").as_deref(),
        Some("pkg.crossplane.io/Provider.rhai")
    );
    assert_eq!(
        name("pkg.crossplane.io", "ConfigurationRevision").as_deref(),
        Some("_.crossplane.io/_.rhai")
    );
    assert_eq!(
        name("azure.m.upbound.io", "ResourceGroup").as_deref(),
        Some("_.upbound.io/_.rhai")
    );
    // `*` needs at least the `.` before the suffix and never crosses `/`.
    assert_eq!(name("crossplane.io", "X"), None);
    assert_eq!(name("", "ConfigMap"), None);
    assert_eq!(name("apps", "Deployment"), None);
}

#[test]
fn library_passes_upstream_cases() {
    let Some(corpus) = corpus_or_skip() else { return };
    let base = corpus.join("resource_customizations");
    let lib = Library::builtin();
    let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = String::new();
    for (group, kind, _) in lib.entries() {
        let rel = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{group}/{kind}")
        };
        let dir = base.join(&rel);
        let test_file = dir.join("health_test.yaml");
        let row = table.entry(rel.clone()).or_default();
        if !test_file.is_file() {
            continue;
        }
        let list = match cases(&test_file) {
            Ok(list) => list,
            Err(e) => {
                let _ = writeln!(failures, "{rel}: {e}");
                continue;
            }
        };
        for case in &list {
            row.1 += 1;
            match run_case(lib, &dir, case) {
                Ok(()) => row.0 += 1,
                Err(e) => {
                    let _ = writeln!(failures, "{rel} {}: {e}", case.input);
                }
            }
        }
    }
    let (mut passed, mut total) = (0, 0);
    println!("{:<55} passed/total", "kind");
    for (rel, (p, t)) in &table {
        println!("{rel:<55} {p}/{t}");
        passed += p;
        total += t;
    }
    println!("{:<55} {passed}/{total}", "all");
    assert!(total > 0, "no upstream cases found");
    assert!(failures.is_empty(), "failing cases:\n{failures}");
}

/// Measures evaluations per second on a corpus input. Run with
/// `cargo test -p gitops-health --release --test health -- --ignored --nocapture rhai_eval_rate`.
#[test]
#[ignore = "measurement, not a check"]
fn rhai_eval_rate() {
    let Some(corpus) = corpus_or_skip() else { return };
    let path = corpus
        .join("resource_customizations/argoproj.io/Rollout/testdata/canary/healthy_executedAllSteps.yaml");
    let obj = Object::from_value(first_document(&path).expect("input")).expect("object");
    let script = Library::builtin()
        .lookup("argoproj.io", "Rollout")
        .expect("script");
    let n = 20_000u32;
    let start = Instant::now();
    for _ in 0..n {
        let out = script.evaluate(&obj).expect("evaluates");
        assert!(matches!(out, ScriptHealth::Health(_)));
    }
    let elapsed = start.elapsed();
    println!(
        "Rollout script: {n} evaluations in {elapsed:?} = {:.0} evaluations/s",
        f64::from(n) / elapsed.as_secs_f64()
    );
}

// ---- engine: result contract ----

fn widget() -> Object {
    Object::from_value(json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "generation": 3},
        "spec": {"ratio": 0.5, "nothing": null},
        "status": {"conditions": [{"type": "Ready", "status": "True", "message": "ok"}]},
    }))
    .expect("valid object")
}

fn eval(source: &str) -> Result<ScriptHealth, ScriptError> {
    RhaiScript::compile("test", source, Limits::default())
        .expect("compiles")
        .evaluate(&widget())
}

fn health(status: HealthCode, message: &str) -> Result<ScriptHealth, ScriptError> {
    Ok(ScriptHealth::Health(Health::new(status, message)))
}

#[test]
fn contract_status_and_message() {
    assert_eq!(
        eval(r#"#{ status: "Degraded", message: "broken" }"#),
        health(HealthCode::Degraded, "broken")
    );
    assert_eq!(
        eval(r#"return #{ status: "Missing" };"#),
        health(HealthCode::Missing, "")
    );
    assert_eq!(
        eval(r#"let c = condition(obj, "Ready"); #{ status: "Healthy", message: c.message }"#),
        health(HealthCode::Healthy, "ok")
    );
}

#[test]
fn contract_empty_results() {
    assert_eq!(eval("#{}"), Ok(ScriptHealth::Empty));
    assert_eq!(eval("()"), Ok(ScriptHealth::Empty));
    assert_eq!(eval("let x = 1;"), Ok(ScriptHealth::Empty));
    assert_eq!(
        eval(r#"#{ status: "Healthy", message: 42 }"#),
        Ok(ScriptHealth::Empty)
    );
    assert_eq!(eval(r#"#{ status: true }"#), Ok(ScriptHealth::Empty));
}

#[test]
fn contract_invalid_status() {
    let invalid = health(HealthCode::Unknown, "Rhai returned an invalid health status");
    assert_eq!(eval(r#"#{ status: "healthy" }"#), invalid);
    assert_eq!(eval(r#"#{ status: "" }"#), invalid);
    assert_eq!(eval(r#"#{ message: "no status" }"#), invalid);
}

#[test]
fn contract_non_map_output() {
    assert_eq!(
        eval("42"),
        Err(ScriptError::BadOutput(
            "expect map output from Rhai script, not int".into()
        ))
    );
    assert_eq!(
        eval(r#""Healthy""#),
        Err(ScriptError::BadOutput(
            "expect map output from Rhai script, not string".into()
        ))
    );
    assert_eq!(
        eval("[1]"),
        Err(ScriptError::BadOutput(
            "expect map output from Rhai script, not array".into()
        ))
    );
}

#[test]
fn object_conversion_and_helpers() {
    let src = r#"
        let ok = type_of(obj.metadata.generation) == "i64"
            && type_of(obj.spec.ratio) == "f64"
            && obj.spec.nothing == ()
            && obj.status?.missing?.deeper == ()
            && get_path(obj, "status.conditions.0.type") == "Ready"
            && get_path(obj, "status.nope.x") == ()
            && as_int("12") == 12 && as_int(3.0) == 3 && as_int("x") == ()
            && conditions(obj).len() == 1
            && condition(obj, "Nope") == ();
        #{ status: if ok { "Healthy" } else { "Degraded" } }
    "#;
    assert_eq!(eval(src), health(HealthCode::Healthy, ""));
}

#[test]
fn runtime_errors_are_reported() {
    let err = eval(r#"throw "boom""#).expect_err("throws");
    assert!(matches!(err, ScriptError::Runtime { .. }), "{err:?}");
    assert!(err.to_string().contains("boom"), "{err}");
    let err = eval("obj.status.nope.deeper").expect_err("property of unit");
    assert!(matches!(err, ScriptError::Runtime { .. }), "{err:?}");
}

// ---- engine: sandbox ----

fn short_limits() -> Limits {
    Limits::default()
        .timeout(Duration::from_millis(300))
        .max_operations(u64::MAX / 2)
}

/// Runs a hostile script and checks that it stops quickly with a limit error.
fn assert_stopped(source: &str, limits: Limits, expect: &str) {
    let script = RhaiScript::compile("hostile", source, limits).expect("compiles");
    let start = Instant::now();
    let out = script.evaluate(&widget());
    let elapsed = start.elapsed();
    let err = out.expect_err("must be stopped");
    println!("{source:?} → {err} after {elapsed:?}");
    assert!(
        matches!(err, ScriptError::Limit { .. }),
        "expected a limit error, got {err:?}"
    );
    assert!(err.to_string().contains(expect), "{err}");
    assert!(
        elapsed < limits.timeout * 2,
        "took {elapsed:?} with a timeout of {:?}",
        limits.timeout
    );
}

#[test]
fn infinite_loop_times_out() {
    assert_stopped("loop {}", short_limits(), "timeout of 300ms exceeded");
    assert_stopped(
        "let i = 0; while true { i += 1; }",
        short_limits(),
        "timeout of 300ms exceeded",
    );
}

#[test]
fn infinite_loop_hits_operation_limit() {
    assert_stopped(
        "loop {}",
        Limits::default().max_operations(10_000),
        "too many operations",
    );
}

#[test]
fn deep_recursion_is_stopped() {
    assert_stopped("fn f(n) { f(n + 1) } f(0)", short_limits(), "call stack too deep");
}

#[test]
fn huge_string_is_stopped() {
    assert_stopped(
        r#"let s = "x"; loop { s += s; }"#,
        short_limits(),
        "string too large",
    );
}

#[test]
fn huge_array_is_stopped() {
    assert_stopped("let a = [1]; loop { a += a; }", short_limits(), "array too large");
    // Growing one element at a time (the engine's checked `push`): a smaller bound so that
    // debug builds reach it well within the timeout.
    let mut limits = short_limits();
    limits.max_array_size = 2_000;
    assert_stopped(
        "let a = []; loop { a.push(1); }",
        limits,
        "array too large (more than 2000)",
    );
}

#[test]
fn huge_map_is_stopped() {
    // Rhai does not size-check map index assignment: the wall-clock bound stops it.
    assert_stopped(
        "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
        short_limits(),
        "timeout of 300ms exceeded",
    );
}

#[test]
fn eval_and_import_are_refused() {
    for src in [r#"eval("40 + 2")"#, r#"import "os" as os; ()"#] {
        let err = RhaiScript::compile("refused", src, Limits::default()).expect_err("refused");
        assert!(matches!(err, ScriptError::Compile { .. }), "{src}: {err:?}");
        println!("{src:?} → {err}");
    }
}

#[test]
fn undefined_variables_fail_at_compile_time() {
    let err = RhaiScript::compile("typo", "#{ status: stauts }", Limits::default()).expect_err("strict");
    assert!(matches!(err, ScriptError::Compile { .. }), "{err:?}");
}

#[test]
fn shared_engine_compiles_many_scripts() {
    let engine = RhaiEngine::new(Limits::default());
    let a = engine
        .compile("a", r#"#{ status: "Healthy" }"#)
        .expect("compiles");
    let b = engine
        .compile("b", r#"#{ status: "Degraded" }"#)
        .expect("compiles");
    assert_eq!(a.evaluate(&widget()), health(HealthCode::Healthy, ""));
    assert_eq!(b.evaluate(&widget()), health(HealthCode::Degraded, ""));
    // A timed-out evaluation leaves no deadline behind for the next one.
    let slow = RhaiScript::compile("slow", "loop {}", short_limits()).expect("compiles");
    assert!(slow.evaluate(&widget()).is_err());
    assert_eq!(a.evaluate(&widget()), health(HealthCode::Healthy, ""));
}
