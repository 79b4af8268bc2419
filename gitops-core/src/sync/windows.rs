//! Sync windows: whether a sync may start now (AppProject `spec.syncWindows`, spec/sync.md §7.1
//! and spec/appset-project-rbac.md §4.6).
//!
//! The controller consults a [`SyncWindows`] before starting any operation. [`ProjectWindows`]
//! implements Argo CD's rules: with no matching window syncs are allowed; if an `allow` window
//! matches the app, syncs happen only while one is active; an active `deny` window blocks and
//! beats `allow`; `manualSync: true` lets manual syncs through. Schedules are five-field cron
//! expressions (`minute hour day-of-month month day-of-week`, with `*`, lists, ranges and
//! steps) evaluated in UTC; `timeZone` is not supported yet and is reported as an error.

use std::fmt;

use crate::model::{AppProject, Application, SyncWindow, parse_duration};

/// Decides whether a sync may start.
pub trait SyncWindows: Send + Sync {
    /// `Ok(())` when a sync of `app` may start at `now` (Unix seconds); otherwise the reason.
    /// `manual` is true for a user-requested sync, false for automated sync and self-heal.
    fn check(&self, app: &Application, manual: bool, now: i64) -> Result<(), String>;
}

/// Windows that are always open.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl SyncWindows for AlwaysOpen {
    fn check(&self, _: &Application, _: bool, _: i64) -> Result<(), String> {
        Ok(())
    }
}

/// The sync windows of a set of AppProjects, looked up by the app's project.
#[derive(Debug, Clone, Default)]
pub struct ProjectWindows {
    projects: Vec<AppProject>,
}

impl ProjectWindows {
    /// Windows from these projects.
    pub fn new(projects: Vec<AppProject>) -> Self {
        ProjectWindows { projects }
    }
}

/// One cron field: the allowed values.
#[derive(Clone, PartialEq, Eq)]
struct Field(Vec<bool>);

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<usize> = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(|(i, _)| i)
            .collect();
        write!(f, "{v:?}")
    }
}

fn parse_field(text: &str, min: usize, max: usize) -> Result<Field, String> {
    let mut allowed = vec![false; max + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>().map_err(|_| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in {part:?}"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = a.parse::<usize>().map_err(|_| format!("bad value in {part:?}"))?;
            let b = b.parse::<usize>().map_err(|_| format!("bad value in {part:?}"))?;
            (a, b)
        } else {
            let v = range
                .parse::<usize>()
                .map_err(|_| format!("bad value in {part:?}"))?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            allowed[v] = true;
            v += step;
        }
    }
    Ok(Field(allowed))
}

/// A parsed five-field cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
    dom_any: bool,
    dow_any: bool,
}

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week` (day-of-week 0–7, 0 and 7 = Sunday).
    pub fn parse(text: &str) -> Result<Cron, String> {
        let f: Vec<&str> = text.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "cron schedule {text:?} must have 5 fields, not {}",
                f.len()
            ));
        }
        let mut dow = parse_field(f[4], 0, 7)?;
        if dow.0[7] {
            dow.0[0] = true;
        }
        Ok(Cron {
            minute: parse_field(f[0], 0, 59)?,
            hour: parse_field(f[1], 0, 23)?,
            dom: parse_field(f[2], 1, 31)?,
            month: parse_field(f[3], 1, 12)?,
            dow,
            dom_any: f[2] == "*",
            dow_any: f[4] == "*",
        })
    }

    /// Whether the schedule fires in the minute containing `t` (Unix seconds, UTC).
    pub fn matches(&self, t: i64) -> bool {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (y, m, d) = civil(days);
        let _ = y;
        let dow = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
        let minute = ((secs / 60) % 60) as usize;
        let hour = (secs / 3600) as usize;
        let day_ok = match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (false, true) => self.dom.0[d],
            (true, false) => self.dow.0[dow],
            // Both restricted: cron fires when either matches.
            (false, false) => self.dom.0[d] || self.dow.0[dow],
        };
        self.minute.0[minute] && self.hour.0[hour] && self.month.0[m] && day_ok
    }
}

fn civil(days: i64) -> (i64, usize, usize) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as usize;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}

/// Whether a window applies to an app (selectors ORed, or ANDed with `andOperator`).
pub fn window_matches(w: &SyncWindow, app: &Application) -> bool {
    let ns = app.spec.destination.namespace();
    let cluster = app
        .spec
        .destination
        .server
        .as_deref()
        .or(app.spec.destination.name.as_deref())
        .unwrap_or("");
    let checks = [
        (!w.applications.is_empty()).then(|| w.applications.iter().any(|p| glob(p, &app.metadata.name))),
        (!w.namespaces.is_empty()).then(|| w.namespaces.iter().any(|p| glob(p, ns))),
        (!w.clusters.is_empty()).then(|| w.clusters.iter().any(|p| glob(p, cluster))),
    ];
    let present: Vec<bool> = checks.into_iter().flatten().collect();
    if present.is_empty() {
        return false;
    }
    if w.and_operator {
        present.iter().all(|b| *b)
    } else {
        present.iter().any(|b| *b)
    }
}

/// Whether a window is active at `now`: its schedule fired within the last `duration`.
pub fn window_active(w: &SyncWindow, now: i64) -> Result<bool, String> {
    if w.time_zone
        .as_deref()
        .is_some_and(|z| !z.is_empty() && z != "UTC" && z != "Etc/UTC")
    {
        return Err(format!(
            "sync window time zone {:?} is not supported yet (only UTC)",
            w.time_zone
        ));
    }
    let cron = Cron::parse(&w.schedule)?;
    let duration =
        parse_duration(&w.duration).map_err(|e| format!("sync window duration {:?}: {e}", w.duration))?;
    let minutes = (duration.as_secs() / 60) as i64;
    let start_of_minute = now - now.rem_euclid(60);
    Ok((0..minutes.min(60 * 24 * 366)).any(|m| cron.matches(start_of_minute - m * 60)))
}

impl SyncWindows for ProjectWindows {
    fn check(&self, app: &Application, manual: bool, now: i64) -> Result<(), String> {
        let Some(project) = self.projects.iter().find(|p| p.metadata.name == app.project()) else {
            return Ok(());
        };
        let matching: Vec<&SyncWindow> = project
            .spec
            .sync_windows
            .iter()
            .filter(|w| window_matches(w, app))
            .collect();
        if matching.is_empty() {
            return Ok(());
        }
        let mut allow_exists = false;
        let mut allow_active = false;
        let mut allow_manual = false;
        for w in &matching {
            let active = window_active(w, now)?;
            match w.kind.as_str() {
                "deny" if active && !(manual && w.manual_sync) => {
                    return Err(format!(
                        "a deny sync window is active ({} for {})",
                        w.schedule, w.duration
                    ));
                }
                "allow" => {
                    allow_exists = true;
                    allow_active |= active;
                    allow_manual |= w.manual_sync;
                }
                _ => {}
            }
        }
        if allow_exists && !allow_active && !(manual && allow_manual) {
            return Err("no allow sync window is active".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Application {
        serde_yaml::from_str(
            "metadata: {name: web}\nspec: {project: p, destination: {server: \"https://kubernetes.default.svc\", namespace: prod}}\n",
        )
        .unwrap()
    }

    fn window(kind: &str, schedule: &str, duration: &str, manual: bool) -> SyncWindow {
        SyncWindow {
            kind: kind.into(),
            schedule: schedule.into(),
            duration: duration.into(),
            applications: vec!["*".into()],
            manual_sync: manual,
            ..Default::default()
        }
    }

    fn project(windows: Vec<SyncWindow>) -> ProjectWindows {
        let mut p = AppProject::default_project("argocd");
        p.metadata.name = "p".into();
        p.spec.sync_windows = windows;
        ProjectWindows::new(vec![p])
    }

    // 2026-01-05 is a Monday.
    const MON_10_30: i64 = 1_767_609_000;

    #[test]
    fn cron_matching() {
        let c = Cron::parse("30 10 * * 1-5").unwrap();
        assert!(c.matches(MON_10_30));
        assert!(!c.matches(MON_10_30 + 60));
        assert!(!c.matches(MON_10_30 + 5 * 86_400), "saturday");
        assert!(Cron::parse("*/15 * * * *").unwrap().matches(MON_10_30));
        assert!(Cron::parse("61 * * * *").is_err());
        assert!(Cron::parse("* * *").is_err());
    }

    #[test]
    fn argo_cd_window_rules() {
        let a = app();
        assert!(project(vec![]).check(&a, false, MON_10_30).is_ok());
        // A deny window active now blocks automated syncs; manualSync lets manual ones through.
        let deny = project(vec![window("deny", "0 10 * * *", "1h", true)]);
        assert!(deny.check(&a, false, MON_10_30).is_err());
        assert!(deny.check(&a, true, MON_10_30).is_ok());
        assert!(
            deny.check(&a, false, MON_10_30 + 3600).is_ok(),
            "the window closed"
        );
        // With an allow window, syncs happen only while it is active.
        let allow = project(vec![window("allow", "0 22 * * *", "2h", false)]);
        assert!(allow.check(&a, false, MON_10_30).is_err());
        assert!(allow.check(&a, false, MON_10_30 + 12 * 3600).is_ok());
        // Deny beats allow.
        let both = project(vec![
            window("allow", "0 10 * * *", "1h", false),
            window("deny", "0 10 * * *", "1h", false),
        ]);
        assert!(both.check(&a, true, MON_10_30).is_err());
    }
}
