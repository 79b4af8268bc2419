//! Runs every case of `../shared/health-corpus/gitops-engine/cases.tsv` (the upstream Go-check
//! tests) through [`BuiltinHealth`], comparing status and message.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gitops_health::BuiltinHealth;
use gitops_health::core::Object;
use gitops_health::core::engine::HealthCheck;
use serde_json::Value;

/// `../shared/health-corpus`, relative to the repository root.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/health-corpus")
}

/// Undoes the TSV escaping described in the corpus README.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
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
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Loads the first YAML document of `path` as an object. The inline Workflow files have no
/// `metadata` (the upstream test objects have none); a name derived from the file is added so
/// they pass [`Object::from_value`] validation.
fn load(path: &Path) -> Result<Object, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    let doc = serde_yaml::Deserializer::from_str(&text)
        .next()
        .ok_or_else(|| "no YAML document".to_owned())?;
    let mut value: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("parse: {e}"))?;
    if let Some(map) = value.as_object_mut()
        && !map.contains_key("metadata")
    {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("object");
        map.insert("metadata".into(), serde_json::json!({ "name": stem }));
    }
    Object::from_value(value).map_err(|e| format!("not an object: {e}"))
}

#[test]
fn gitops_engine_cases() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "health corpus not found at {} (expected ../shared/health-corpus next to the repo); \
                 it is required when CI is set",
                dir.display()
            );
        }
        println!("skipping: ../shared/health-corpus not found");
        return;
    }
    let base = dir.join("gitops-engine");
    let tsv = std::fs::read_to_string(base.join("cases.tsv")).expect("read cases.tsv");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("cases.tsv has no column {name}"))
    };
    let (c_path, c_status, c_message) = (col("path"), col("expected_status"), col("expected_message"));

    let mut passed = 0;
    let mut failures: Vec<(String, String, String)> = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        let rel = get(c_path);
        let expected = match get(c_status) {
            "<none>" => "<none>".to_owned(),
            status => format!("{status} {:?}", unescape(get(c_message))),
        };
        let actual = match load(&base.join(rel)) {
            Err(e) => format!("<load error: {e}>"),
            Ok(obj) => match BuiltinHealth.check(&obj) {
                Err(e) => format!("<error: {e}>"),
                Ok(None) => "<none>".to_owned(),
                Ok(Some(h)) => format!("{} {:?}", h.status, h.message),
            },
        };
        if actual == expected {
            passed += 1;
        } else {
            failures.push((rel.to_owned(), expected, actual));
        }
    }
    eprintln!("gitops-engine corpus: {passed} passed, {} failed", failures.len());
    if !failures.is_empty() {
        let mut table = String::from("| case | expected | actual |\n| --- | --- | --- |\n");
        for (case, expected, actual) in &failures {
            let _ = writeln!(table, "| {case} | {expected} | {actual} |");
        }
        panic!(
            "{} of {} corpus cases failed:\n{table}",
            failures.len(),
            passed + failures.len()
        );
    }
    assert!(passed > 0, "cases.tsv has no cases");
}
