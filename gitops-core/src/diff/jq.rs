//! `jqPathExpressions` of `ignoreDifferences`, evaluated with [jaq](https://github.com/01mf02/jaq).
//!
//! Argo CD wraps each expression as `del(<expr>)` and runs it with gojq under a timeout
//! (default 1 s). jq defines `del(f)` as `delpaths([path(f)])`, so here the worker evaluates
//! `path(<expr>)`, and the paths are deleted in Rust, last first, exactly like `delpaths`.
//!
//! ## Time bound
//!
//! jaq has no built-in timeout or cancellation, so evaluation is bounded twice:
//! - the paths are pulled one at a time, and after each one the deadline and a cap of
//!   [`MAX_PATHS`] paths are checked: an expression with endless or huge output stops cleanly;
//! - the evaluation runs on a helper thread (one per calling thread, started on first use and
//!   reused, with the compiled filters cached per expression). The caller waits with
//!   `recv_timeout`; an expression that computes forever without yielding a path is reported as
//!   a timeout and its helper thread is abandoned (it exits as soon as the computation ends; a
//!   new helper is started for the next expression). This is the one case that costs a thread
//!   until the computation finishes.
//!
//! Runtime errors of an expression (e.g. iterating over `null` on an object without the field)
//! make the expression delete nothing, as in Argo CD, which only logs them. Compile errors and
//! timeouts are reported as [`DiffError`]s. `halt` is treated as a runtime error (jaq's
//! `unwrap_valr`, which would exit the process, is never used). The full jaq standard library
//! is available (`jaq_std::funs()` only exists with all of jaq-std's features); expressions can
//! only choose what to delete, so `env` or `now` leak nothing.
//!
//! Very deep recursion in an expression (e.g. `def f: 1 + f; f`) can still overflow the helper
//! thread's 32 MiB stack, which aborts the process, as it would abort the `jaq` CLI.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::Val;
use serde_json::Value;

use super::DiffError;

/// More paths than this from one expression is an error.
pub(crate) const MAX_PATHS: usize = 100_000;

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// One segment of a path produced by jq.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(isize),
}

enum Failure {
    Compile(String),
    Timeout,
    TooMany,
    Runtime,
}

struct Job {
    expr: String,
    input: Value,
    deadline: Instant,
}

struct Worker {
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<Result<Vec<Vec<Seg>>, Failure>>,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

fn start_worker() -> Option<Worker> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let (res_tx, res_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("gitops-jq".to_owned())
        .stack_size(32 * 1024 * 1024)
        .spawn(move || {
            let mut cache: HashMap<String, Result<Filter, String>> = HashMap::new();
            while let Ok(job) = jobs_rx.recv() {
                let filter = cache
                    .entry(job.expr.clone())
                    .or_insert_with(|| compile(&job.expr));
                let result = match filter {
                    Ok(f) => run(f, &job.input, job.deadline),
                    Err(e) => Err(Failure::Compile(e.clone())),
                };
                if res_tx.send(result).is_err() {
                    break;
                }
            }
        })
        .ok()?;
    Some(Worker {
        jobs: jobs_tx,
        results: res_rx,
    })
}

/// Deletes from `value` everything `expr` points at, within `timeout`.
pub(crate) fn delete(value: &mut Value, expr: &str, timeout: Duration) -> Result<(), DiffError> {
    let deadline = Instant::now() + timeout;
    let job = Job {
        expr: expr.to_owned(),
        input: value.clone(),
        deadline,
    };
    let outcome = WORKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = start_worker();
        }
        let Some(worker) = slot.as_ref() else {
            return Err(DiffError::Jq {
                expression: expr.to_owned(),
                message: "cannot start the jq evaluation thread".to_owned(),
            });
        };
        if worker.jobs.send(job).is_err() {
            *slot = None;
            return Err(DiffError::Jq {
                expression: expr.to_owned(),
                message: "the jq evaluation thread stopped".to_owned(),
            });
        }
        // A little grace so that a worker that noticed the deadline itself can say so.
        match worker.results.recv_timeout(timeout + Duration::from_millis(20)) {
            Ok(r) => Ok(r),
            Err(_) => {
                // Abandon the busy worker; it exits when its computation ends.
                *slot = None;
                Ok(Err(Failure::Timeout))
            }
        }
    })?;
    match outcome {
        Ok(paths) => {
            delete_paths(value, paths);
            Ok(())
        }
        Err(Failure::Runtime) => Ok(()),
        Err(Failure::Compile(message)) => Err(DiffError::Jq {
            expression: expr.to_owned(),
            message,
        }),
        Err(Failure::Timeout) => Err(DiffError::JqTimeout {
            expression: expr.to_owned(),
            timeout,
        }),
        Err(Failure::TooMany) => Err(DiffError::Jq {
            expression: expr.to_owned(),
            message: format!("produced more than {MAX_PATHS} paths"),
        }),
    }
}

/// Compiles `path(<expr>)`.
fn compile(expr: &str) -> Result<Filter, String> {
    let code = format!("path({expr})");
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
    let arena = Arena::default();
    let loader = Loader::new(defs);
    let modules = loader
        .load(
            &arena,
            File {
                code: code.as_str(),
                path: (),
            },
        )
        .map_err(|errs| {
            let mut msgs = Vec::new();
            for (_, e) in errs {
                match e {
                    jaq_core::load::Error::Io(v) => msgs.extend(v.into_iter().map(|(_, m)| m)),
                    jaq_core::load::Error::Lex(v) => msgs.extend(
                        v.into_iter()
                            .map(|(exp, at)| format!("expected {} at `{}`", exp.as_str(), snippet(at))),
                    ),
                    jaq_core::load::Error::Parse(v) => msgs.extend(
                        v.into_iter()
                            .map(|(exp, at)| format!("expected {} at `{}`", exp.as_str(), snippet(at))),
                    ),
                }
            }
            msgs.join("; ")
        })?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let msgs: Vec<String> = errs
                .into_iter()
                .flat_map(|(_, es)| {
                    es.into_iter()
                        .map(|(name, undef)| format!("undefined {undef:?} `{name}`").to_lowercase())
                })
                .collect();
            msgs.join("; ")
        })
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(20).collect();
    if s.is_empty() {
        "end of input".to_owned()
    } else {
        s
    }
}

fn run(filter: &Filter, input: &Value, deadline: Instant) -> Result<Vec<Vec<Seg>>, Failure> {
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut out = Vec::new();
    for item in filter.id.run((ctx, to_val(input))) {
        if Instant::now() > deadline {
            return Err(Failure::Timeout);
        }
        if out.len() >= MAX_PATHS {
            return Err(Failure::TooMany);
        }
        let Ok(Val::Arr(path)) = item else {
            return Err(Failure::Runtime);
        };
        let mut segs = Vec::with_capacity(path.len());
        for p in path.iter() {
            segs.push(match p {
                Val::TStr(b) | Val::BStr(b) => Seg::Key(String::from_utf8_lossy(b).into_owned()),
                Val::Num(n) => Seg::Index(n.as_isize().ok_or(Failure::Runtime)?),
                _ => return Err(Failure::Runtime),
            });
        }
        out.push(segs);
    }
    Ok(out)
}

fn to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::from(*b),
        Value::Number(n) => match n.as_i64().and_then(|i| isize::try_from(i).ok()) {
            Some(i) => Val::from(i),
            None => Val::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Val::from(s.clone()),
        Value::Array(a) => a.iter().map(to_val).collect(),
        Value::Object(m) => Val::obj(m.iter().map(|(k, v)| (Val::from(k.clone()), to_val(v))).collect()),
    }
}

/// `delpaths`: resolves negative indices, sorts, and deletes the last path first.
fn delete_paths(value: &mut Value, paths: Vec<Vec<Seg>>) {
    let mut resolved: Vec<Vec<Seg>> = paths.into_iter().filter_map(|p| resolve(value, p)).collect();
    resolved.sort_by(|a, b| cmp_path(b, a));
    resolved.dedup();
    for p in resolved {
        remove(value, &p);
    }
}

fn resolve(value: &Value, path: Vec<Seg>) -> Option<Vec<Seg>> {
    let mut cur = Some(value);
    let mut out = Vec::with_capacity(path.len());
    for seg in path {
        let seg = match (seg, cur) {
            (Seg::Index(i), Some(Value::Array(a))) if i < 0 => {
                let len = isize::try_from(a.len()).ok()?;
                Seg::Index(i + len)
            }
            (s, _) => s,
        };
        cur = match (&seg, cur) {
            (Seg::Key(k), Some(Value::Object(m))) => m.get(k),
            (Seg::Index(i), Some(Value::Array(a))) => usize::try_from(*i).ok().and_then(|i| a.get(i)),
            _ => None,
        };
        out.push(seg);
    }
    Some(out)
}

fn cmp_path(a: &[Seg], b: &[Seg]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Seg::Index(p), Seg::Index(q)) => p.cmp(q),
            (Seg::Key(p), Seg::Key(q)) => p.cmp(q),
            (Seg::Index(_), Seg::Key(_)) => Ordering::Less,
            (Seg::Key(_), Seg::Index(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn remove(value: &mut Value, path: &[Seg]) {
    let Some((last, parent)) = path.split_last() else {
        *value = Value::Null;
        return;
    };
    let mut cur = value;
    for seg in parent {
        let next = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k),
            (Seg::Index(i), Value::Array(a)) => usize::try_from(*i).ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (Seg::Key(k), Value::Object(m)) => {
            m.shift_remove(k);
        }
        (Seg::Index(i), Value::Array(a)) => {
            if let Some(i) = usize::try_from(*i).ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_selected_paths() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "x", "image": "2"}, {"name": "x", "image": "3"}]}});
        delete(
            &mut v,
            r#".spec.containers[] | select(.name == "x") | .image"#,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "x"}, {"name": "x"}]}})
        );
        delete(
            &mut v,
            r#".spec.containers[] | select(.name == "x")"#,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(v, json!({"spec": {"containers": [{"name": "a", "image": "1"}]}}));
        delete(&mut v, ".spec.containers[-1]", Duration::from_secs(1)).unwrap();
        assert_eq!(v, json!({"spec": {"containers": []}}));
    }

    #[test]
    fn runtime_errors_delete_nothing_and_compile_errors_are_reported() {
        let mut v = json!({"a": 1});
        delete(&mut v, ".spec.containers[]", Duration::from_secs(1)).unwrap();
        assert_eq!(v, json!({"a": 1}));
        let e = delete(&mut v, ".a | (", Duration::from_secs(1)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot evaluate jq expression `.a | (`: expected"),
            "{e}"
        );
        let e = delete(&mut v, "nosuchfn(1)", Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("nosuchfn"), "{e}");
    }

    #[test]
    fn endless_output_times_out() {
        let mut v = json!({"a": {"a": 1}});
        let e = delete(&mut v, "repeat(.a)", Duration::from_millis(100)).unwrap_err();
        assert!(
            matches!(e, DiffError::JqTimeout { .. } | DiffError::Jq { .. }),
            "{e}"
        );
    }
}
