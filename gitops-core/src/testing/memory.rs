//! [`MemoryCluster`]: the simulated cluster's store, deletion and garbage collection, watch and persistence.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::stream::{BoxStream, Stream};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::controllers::{self, SimState};
use crate::engine::{
    Applied, ApplyOptions, ApplyOutcome, Capabilities, ClusterBackend, DeleteOptions, DeleteOutcome,
    EngineError, ListQuery, Propagation, Scope, SharedClusterBackend, WatchEvent,
};
use crate::object::{GroupKind, Object, ObjectRef, ensure_map};
use crate::time::rfc3339;

/// The simulated clock's start: 2026-01-01T00:00:00Z.
const EPOCH: i64 = 1_767_225_600;
/// How many watch events are kept for slow watchers.
const EVENT_LOG_CAPACITY: usize = 16_384;
/// The finalizer the API server adds for foreground deletion.
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Characters Kubernetes uses for generated names and hashes (no vowels, no look-alikes).
pub(super) const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Metadata fields only the API server writes.
const SYSTEM_FIELDS: [&str; 8] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];
/// Metadata fields an apply replaces wholesale.
const APPLIED_META_FIELDS: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];
/// Version of the persisted state format.
const STATE_FORMAT: u32 = 1;

/// How many calls of each kind a [`MemoryCluster`] has served through [`ClusterBackend`]
/// (dry-runs and failed calls included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `scope` calls.
    pub scopes: u64,
    /// `try_get` calls.
    pub gets: u64,
    /// `list` calls.
    pub lists: u64,
    /// `apply` calls.
    pub applies: u64,
    /// `delete` calls.
    pub deletes: u64,
    /// `watch` calls.
    pub watches: u64,
}

/// Why a saved cluster state could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadStateError {
    /// The file could not be read.
    #[error("cannot read cluster state {path}: {source}")]
    Read {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a saved cluster state.
    #[error("cluster state {path} is not valid: {source}")]
    Parse {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by an incompatible version.
    #[error("cluster state {path} has format {found}, expected {expected}")]
    Format {
        /// The state file.
        path: PathBuf,
        /// The format found in the file.
        found: u32,
        /// The format this version reads.
        expected: u32,
    },
}

/// A simulated Kubernetes cluster, kept in memory.
///
/// `Clone` is a cheap handle: all clones share one state. See the [module docs](super) for what is
/// simulated. Compared to a real API server it is simplified in these ways:
/// - client-side apply replaces `labels`, `annotations`, `finalizers`, `ownerReferences` and every top-level
///   field other than `metadata` and `status` with the applied object's (no three-way merge, no
///   `last-applied-configuration`); server-side apply and `force` behave the same as apply; there are no
///   managed fields and no defaulting (e.g. no `spec.clusterIP` for Services);
/// - `status` sent by a client is ignored, except for `argoproj.io/Application`, which has no status
///   subresource;
/// - every kind gets a `generation`, bumped when anything outside `metadata` and `status` changes;
/// - garbage collection and namespace deletion happen synchronously inside the `delete` call (or the next
///   [`tick`](Self::tick) while finalizers block it); deleting a `CustomResourceDefinition` removes its
///   objects at once;
/// - watches only see changes made after the watch started; a watcher that falls more than
///   16 384 events behind sees its stream end (like a `410 Gone`) and must list again.
#[derive(Clone)]
pub struct MemoryCluster {
    shared: Arc<Mutex<State>>,
}

impl fmt::Debug for MemoryCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared);
        f.debug_struct("MemoryCluster")
            .field("objects", &st.objects.len())
            .field("now", &rfc3339(st.clock))
            .field("resource_version", &st.rv)
            .field("permissive", &st.permissive)
            .finish()
    }
}

impl Default for MemoryCluster {
    fn default() -> Self {
        Self::new()
    }
}

/// A handle that advances a [`MemoryCluster`]'s clock, for waiting loops in the sync engine.
#[derive(Clone, Debug)]
pub struct Ticker(MemoryCluster);

impl Ticker {
    /// Advances the cluster by one tick (see [`MemoryCluster::tick`]).
    pub fn tick(&self) {
        self.0.tick();
    }

    /// The cluster this ticker drives.
    pub fn cluster(&self) -> &MemoryCluster {
        &self.0
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryCluster {
    /// An empty cluster with the namespaces `default`, `kube-system` and `kube-public`, whose clock
    /// stands at 2026-01-01T00:00:00Z. Unknown kinds are rejected until a CRD defines them.
    pub fn new() -> Self {
        Self::with_state(State::new(false))
    }

    /// Like [`new`](Self::new), but objects of unknown kinds are accepted: an object with a namespace
    /// makes its kind namespaced, one without makes it cluster-scoped (decided by the first object of
    /// the kind); [`scope`](ClusterBackend::scope) answers `Namespaced` for kinds never seen.
    pub fn permissive() -> Self {
        Self::with_state(State::new(true))
    }

    fn with_state(state: State) -> Self {
        MemoryCluster {
            shared: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Wraps the cluster for the engine (`Arc::new(self)`); clones keep sharing the state.
    pub fn into_shared(self) -> SharedClusterBackend {
        Arc::new(self)
    }

    /// A [`Ticker`] driving this cluster.
    pub fn ticker(&self) -> Ticker {
        Ticker(self.clone())
    }

    /// Advances the simulated clock by one second and runs every simulated controller once, then
    /// completes deletions that are no longer blocked.
    pub fn tick(&self) {
        let mut st = self.lock();
        st.clock += 1;
        st.ticks += 1;
        controllers::run(&mut st);
        st.finish_pending();
    }

    /// Runs [`tick`](Self::tick) `n` times.
    pub fn tick_n(&self, n: u32) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// The simulated clock, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.lock().clock
    }

    /// How many ticks have run since the cluster was created.
    pub fn ticks(&self) -> u64 {
        self.lock().ticks
    }

    /// How many calls of each kind the cluster has served.
    pub fn calls(&self) -> CallCounts {
        self.lock().calls
    }

    /// One stored object, synchronously.
    pub fn object(&self, obj: &ObjectRef) -> Option<Object> {
        let st = self.lock();
        let key = st.normalize(obj);
        st.objects.get(&key).cloned()
    }

    /// Every stored object, in list order.
    pub fn objects(&self) -> Vec<Object> {
        self.lock().objects.values().cloned().collect()
    }

    /// How many objects are stored (namespaces included).
    pub fn len(&self) -> usize {
        self.lock().objects.len()
    }

    /// Whether no object is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().objects.is_empty()
    }

    /// Replaces an object's `status`, as a controller would; bumps `resourceVersion` when it changes.
    /// Returns the stored object.
    pub fn set_status(&self, obj: &ObjectRef, status: Value) -> Result<Object, EngineError> {
        let mut st = self.lock();
        let key = st.normalize(obj);
        if !st.objects.contains_key(&key) {
            return Err(not_found(&key));
        }
        st.write_status(&key, status);
        st.objects.get(&key).cloned().ok_or_else(|| not_found(&key))
    }

    /// Stores an object exactly as given (no validation, no counters), replacing any object with the
    /// same reference. Meant for tests that need a particular live state.
    pub fn insert_raw(&self, obj: Object) {
        let mut st = self.lock();
        if is_crd(&obj.object_ref())
            && let Ok((gk, scope)) = parse_crd(&obj)
        {
            st.learned.insert(gk, scope);
        }
        st.put(obj);
    }

    /// Removes one finalizer from an object; when it was the last one and the object is being deleted,
    /// the deletion completes (dependents are garbage-collected).
    pub fn remove_finalizer(&self, obj: &ObjectRef, finalizer: &str) -> Result<(), EngineError> {
        let mut st = self.lock();
        let key = st.normalize(obj);
        let Some(live) = st.objects.get(&key) else {
            return Err(not_found(&key));
        };
        if !live.finalizers().contains(&finalizer) {
            return Ok(());
        }
        let mut updated = live.clone();
        let remaining: Vec<Value> = live
            .finalizers()
            .into_iter()
            .filter(|f| *f != finalizer)
            .map(|f| Value::String(f.to_owned()))
            .collect();
        let meta = meta_mut(&mut updated);
        if remaining.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), Value::Array(remaining));
        }
        st.store_change(updated);
        st.finish_pending();
        Ok(())
    }

    /// Writes the whole state (objects, clock, counters, learned kinds, controller state) as JSON to
    /// `path`, atomically: a temporary file in the same directory is renamed over it.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let saved = self.lock().to_saved();
        let bytes = serde_json::to_vec_pretty(&saved).map_err(io::Error::other)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cluster-state".to_owned());
        let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Reads a state written by [`save`](Self::save). A missing file is an error
    /// (see [`load_or_new`](Self::load_or_new)).
    pub fn load(path: &Path) -> Result<MemoryCluster, LoadStateError> {
        let bytes = std::fs::read(path).map_err(|source| LoadStateError::Read {
            path: path.to_owned(),
            source,
        })?;
        let saved: SavedState = serde_json::from_slice(&bytes).map_err(|source| LoadStateError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if saved.format != STATE_FORMAT {
            return Err(LoadStateError::Format {
                path: path.to_owned(),
                found: saved.format,
                expected: STATE_FORMAT,
            });
        }
        Ok(Self::with_state(State::from_saved(saved)))
    }

    /// Like [`load`](Self::load), but a file that does not exist gives a [`new`](Self::new) cluster.
    pub fn load_or_new(path: &Path) -> Result<MemoryCluster, LoadStateError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::new()),
            _ => Self::load(path),
        }
    }
}

impl ClusterBackend for MemoryCluster {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn scope(&self, kind: &GroupKind) -> Result<Option<Scope>, EngineError> {
        let mut st = self.lock();
        st.calls.scopes += 1;
        Ok(st.scope_of(kind))
    }

    async fn try_get(&self, obj: &ObjectRef) -> Result<Option<Object>, EngineError> {
        let mut st = self.lock();
        st.calls.gets += 1;
        let key = st.normalize(obj);
        Ok(st.objects.get(&key).cloned())
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Object>, EngineError> {
        let mut st = self.lock();
        st.calls.lists += 1;
        Ok(st.matching(query))
    }

    async fn apply(&self, obj: &Object, opts: &ApplyOptions) -> Result<Applied, EngineError> {
        let mut st = self.lock();
        st.calls.applies += 1;
        st.apply(obj, opts)
    }

    async fn delete(&self, obj: &ObjectRef, opts: &DeleteOptions) -> Result<DeleteOutcome, EngineError> {
        let mut st = self.lock();
        st.calls.deletes += 1;
        let key = st.normalize(obj);
        if !st.objects.contains_key(&key) {
            return Err(not_found(&key));
        }
        if opts.dry_run {
            return Ok(st.would_delete(&key, opts.propagation));
        }
        st.delete_with(&key, opts.propagation);
        st.finish_pending();
        Ok(if st.objects.contains_key(&key) {
            DeleteOutcome::Pending
        } else {
            DeleteOutcome::Deleted
        })
    }

    async fn watch(&self, query: &ListQuery) -> Result<BoxStream<'static, WatchEvent>, EngineError> {
        let mut st = self.lock();
        st.calls.watches += 1;
        st.watchers += 1;
        let cursor = st.event_seq;
        drop(st);
        Ok(Box::pin(WatchStream {
            shared: Arc::clone(&self.shared),
            cursor,
            query: query.clone(),
            done: false,
        }))
    }
}

/// The application instances an object is tracked by: the app named in its tracking-id
/// annotation and the one in its instance label (the two may differ).
fn tracking_instances(obj: &Object) -> impl Iterator<Item = &str> {
    let by_annotation = crate::engine::tracked_app(obj, crate::engine::TrackingMethod::Annotation);
    let by_label = crate::engine::tracked_app(obj, crate::engine::TrackingMethod::Label);
    by_annotation
        .into_iter()
        .chain(by_label.filter(|l| Some(*l) != by_annotation))
}

/// The shared state behind a [`MemoryCluster`].
pub(super) struct State {
    /// Every object, in list order.
    pub(super) objects: BTreeMap<ObjectRef, Object>,
    /// `metadata.uid` → object, for garbage collection.
    pub(super) uids: HashMap<String, ObjectRef>,
    /// Application instance (from the tracking annotation or the instance label) → objects it
    /// tracks, so that listing an application's objects does not scan the whole store.
    tracked: HashMap<String, BTreeSet<ObjectRef>>,
    /// Simulated time, Unix seconds.
    pub(super) clock: i64,
    /// Ticks run so far.
    ticks: u64,
    /// The last resourceVersion handed out.
    rv: u64,
    /// The last uid counter handed out.
    uid_counter: u64,
    /// The last generated-name counter used.
    name_counter: u64,
    /// Kinds learned from CRDs (or, when permissive, from the first object).
    learned: BTreeMap<GroupKind, Scope>,
    /// Accept unknown kinds.
    permissive: bool,
    /// Controller bookkeeping, by uid.
    pub(super) sim: BTreeMap<String, SimState>,
    /// Recent changes, for watchers (only kept while someone watches).
    events: VecDeque<(u64, WatchEvent)>,
    /// Sequence number of the last change.
    event_seq: u64,
    /// Live watch streams.
    watchers: usize,
    /// Watch streams waiting for a change.
    wakers: Vec<Waker>,
    /// Calls served.
    calls: CallCounts,
}

impl State {
    fn new(permissive: bool) -> State {
        let mut st = State {
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            tracked: HashMap::new(),
            clock: EPOCH,
            ticks: 0,
            rv: 0,
            uid_counter: 0,
            name_counter: 0,
            learned: BTreeMap::new(),
            permissive,
            sim: BTreeMap::new(),
            events: VecDeque::new(),
            event_seq: 0,
            watchers: 0,
            wakers: Vec::new(),
            calls: CallCounts::default(),
        };
        for ns in ["default", "kube-system", "kube-public"] {
            let _ = st.apply(
                &Object::new("v1", "Namespace", None, ns),
                &ApplyOptions::default(),
            );
        }
        st
    }

    /// Scope as known from the built-in table and learned kinds.
    fn known_scope(&self, gk: &GroupKind) -> Option<Scope> {
        builtin_scope(&gk.group, &gk.kind).or_else(|| self.learned.get(gk).copied())
    }

    /// Scope as `ClusterBackend::scope` answers it.
    fn scope_of(&self, gk: &GroupKind) -> Option<Scope> {
        self.known_scope(gk).or(if self.permissive {
            Some(Scope::Namespaced)
        } else {
            None
        })
    }

    /// Drops the namespace of a reference to a cluster-scoped kind.
    pub(super) fn normalize(&self, r: &ObjectRef) -> ObjectRef {
        if r.namespace.is_some() && self.known_scope(&r.group_kind()) == Some(Scope::Cluster) {
            r.clone().with_namespace(None)
        } else {
            r.clone()
        }
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Stores an object and tells watchers.
    pub(super) fn put(&mut self, obj: Object) {
        let key = obj.object_ref();
        if let Some(uid) = obj.uid() {
            self.uids.insert(uid.to_owned(), key.clone());
        }
        self.emit(WatchEvent::Applied(obj.clone()));
        self.insert_object(key, obj);
    }

    /// Inserts or replaces an object, keeping the tracking index up to date.
    fn insert_object(&mut self, key: ObjectRef, obj: Object) {
        for app in tracking_instances(&obj) {
            self.tracked
                .entry(app.to_owned())
                .or_default()
                .insert(key.clone());
        }
        if let Some(old) = self.objects.insert(key.clone(), obj) {
            let now: Vec<String> = self
                .objects
                .get(&key)
                .map(|o| tracking_instances(o).map(str::to_owned).collect())
                .unwrap_or_default();
            for app in tracking_instances(&old) {
                if !now.iter().any(|n| n == app) {
                    self.untrack(app, &key);
                }
            }
        }
    }

    /// Removes an object, keeping the tracking index up to date.
    fn remove_object(&mut self, key: &ObjectRef) -> Option<Object> {
        let obj = self.objects.remove(key)?;
        for app in tracking_instances(&obj) {
            self.untrack(app, key);
        }
        Some(obj)
    }

    fn untrack(&mut self, app: &str, key: &ObjectRef) {
        if let Some(set) = self.tracked.get_mut(app) {
            set.remove(key);
            if set.is_empty() {
                self.tracked.remove(app);
            }
        }
    }

    /// Objects matching `query`, in list order; uses the tracking index when the query names an app.
    fn matching(&self, query: &ListQuery) -> Vec<Object> {
        match &query.tracked_by {
            Some((app, _)) => self
                .tracked
                .get(app)
                .into_iter()
                .flatten()
                .filter_map(|k| self.objects.get(k))
                .filter(|o| query.matches(o))
                .cloned()
                .collect(),
            None => self
                .objects
                .values()
                .filter(|o| query.matches(o))
                .cloned()
                .collect(),
        }
    }

    /// Stores a changed object under a new resourceVersion.
    fn store_change(&mut self, mut obj: Object) {
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv));
        self.put(obj);
    }

    fn emit(&mut self, event: WatchEvent) {
        self.event_seq += 1;
        if self.watchers == 0 {
            return;
        }
        self.events.push_back((self.event_seq, event));
        while self.events.len() > EVENT_LOG_CAPACITY {
            self.events.pop_front();
        }
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    /// Replaces an object's status if it differs; returns whether it changed.
    pub(super) fn write_status(&mut self, key: &ObjectRef, status: Value) -> bool {
        let Some(live) = self.objects.get(key) else {
            return false;
        };
        if live.status() == Some(&status) {
            return false;
        }
        let mut obj = live.clone();
        obj.set_status(status);
        self.store_change(obj);
        true
    }

    /// Client-side apply (create or update).
    pub(super) fn apply(&mut self, desired: &Object, opts: &ApplyOptions) -> Result<Applied, EngineError> {
        let gk = desired.group_kind();
        let (scope, learn) = match self.known_scope(&gk) {
            Some(s) => (s, false),
            None if self.permissive => {
                let s = if desired.namespace().is_some() {
                    Scope::Namespaced
                } else {
                    Scope::Cluster
                };
                (s, true)
            }
            None => {
                return Err(EngineError::not_found(format!(
                    "no matches for kind {:?} in version {:?}",
                    desired.kind(),
                    desired.api_version()
                ))
                .with_object(desired.object_ref()));
            }
        };
        let mut obj = desired.clone();
        match scope {
            Scope::Cluster => obj.set_namespace(None),
            Scope::Namespaced => {
                if obj.namespace().is_none() {
                    return Err(EngineError::invalid("namespace is required for namespaced kind")
                        .with_object(obj.object_ref()));
                }
            }
        }
        let crd = if is_crd(&obj.object_ref()) {
            Some(parse_crd(&obj)?)
        } else {
            None
        };
        let mut generated_counter = None;
        if obj.name().is_empty() {
            let Some(prefix) = obj.generate_name().map(str::to_owned) else {
                return Err(
                    EngineError::invalid("name or generateName is required").with_object(obj.object_ref())
                );
            };
            let mut counter = self.name_counter;
            loop {
                counter += 1;
                let name = format!("{prefix}{}", name_suffix(counter));
                let candidate = obj.object_ref();
                let candidate = ObjectRef { name, ..candidate };
                if !self.objects.contains_key(&candidate) {
                    obj.set_name(&candidate.name);
                    break;
                }
            }
            generated_counter = Some(counter);
        }
        validate_name(&obj)?;
        let key = obj.object_ref();
        let (result, outcome) = match self.objects.get(&key) {
            None => (self.build_create(obj, &key, scope)?, ApplyOutcome::Created),
            Some(live) => match build_update(live, obj, opts)? {
                Some(updated) => (updated, ApplyOutcome::Configured),
                None => (live.clone(), ApplyOutcome::Unchanged),
            },
        };
        let mut result = result;
        if outcome != ApplyOutcome::Unchanged {
            let rv = (self.rv + 1).to_string();
            meta_mut(&mut result).insert("resourceVersion".into(), Value::String(rv));
        }
        if opts.dry_run || outcome == ApplyOutcome::Unchanged {
            return Ok(Applied {
                object: result,
                outcome,
            });
        }
        self.rv += 1;
        if outcome == ApplyOutcome::Created {
            self.uid_counter += 1;
        }
        if let Some(c) = generated_counter {
            self.name_counter = c;
        }
        if learn {
            self.learned.insert(gk, scope);
        }
        if let Some((crd_gk, crd_scope)) = crd {
            self.learned.insert(crd_gk, crd_scope);
        }
        let terminating = result.deletion_timestamp().is_some();
        self.put(result.clone());
        if terminating {
            self.finish_pending();
        }
        Ok(Applied {
            object: result,
            outcome,
        })
    }

    /// The object a create stores (without its resourceVersion).
    fn build_create(&self, mut obj: Object, key: &ObjectRef, scope: Scope) -> Result<Object, EngineError> {
        if scope == Scope::Namespaced {
            let ns = key.namespace.clone().unwrap_or_default();
            match self
                .objects
                .get(&ObjectRef::new("", "Namespace", None, ns.as_str()))
            {
                None => {
                    return Err(EngineError::not_found(format!("namespaces {ns:?} not found"))
                        .with_object(key.clone()));
                }
                Some(n) if n.deletion_timestamp().is_some() => {
                    return Err(EngineError::forbidden(format!(
                        "unable to create new content in namespace {ns} because it is being terminated"
                    ))
                    .with_object(key.clone()));
                }
                Some(_) => {}
            }
        }
        let uid = format!("00000000-0000-0000-0000-{:012}", self.uid_counter + 1);
        let now = rfc3339(self.clock);
        let meta = meta_mut(&mut obj);
        for f in SYSTEM_FIELDS {
            meta.remove(f);
        }
        normalize_meta(meta);
        meta.insert("uid".into(), Value::String(uid));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), Value::String(now));
        let keep_status = is_application(key) && obj.status().is_some();
        if !keep_status {
            obj.as_map_mut().remove("status");
        }
        if let Some(status) = initial_status(&obj) {
            obj.set_status(status);
        }
        Ok(obj)
    }

    /// What a delete would do, without doing it.
    fn would_delete(&self, key: &ObjectRef, propagation: Propagation) -> DeleteOutcome {
        let Some(obj) = self.objects.get(key) else {
            return DeleteOutcome::Deleted;
        };
        let has_dependents = propagation == Propagation::Foreground
            && obj.uid().is_some_and(|u| !self.dependents_of(u).is_empty());
        let has_content = is_namespace(key) && !self.namespace_content(&key.name).is_empty();
        if obj.deletion_timestamp().is_some() || !obj.finalizers().is_empty() || has_dependents || has_content
        {
            DeleteOutcome::Pending
        } else {
            DeleteOutcome::Deleted
        }
    }

    /// Deletes (or marks for deletion) one object with the given propagation.
    fn delete_with(&mut self, key: &ObjectRef, propagation: Propagation) {
        let Some(obj) = self.objects.get(key).cloned() else {
            return;
        };
        if obj.deletion_timestamp().is_some() {
            return;
        }
        let uid = obj.uid().map(str::to_owned);
        if propagation == Propagation::Orphan
            && let Some(uid) = &uid
        {
            self.orphan_dependents(uid);
        }
        let dependents = match (&uid, propagation) {
            (Some(u), Propagation::Foreground) => self.dependents_of(u),
            _ => Vec::new(),
        };
        let content = if is_namespace(key) {
            self.namespace_content(&key.name)
        } else {
            Vec::new()
        };
        if obj.finalizers().is_empty() && dependents.is_empty() && content.is_empty() {
            self.remove_now(key);
            return;
        }
        let mut marked = obj;
        let now = rfc3339(self.clock);
        {
            let meta = meta_mut(&mut marked);
            meta.insert("deletionTimestamp".into(), Value::String(now));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if !dependents.is_empty() {
                let fins = ensure_array(meta.entry("finalizers").or_insert_with(|| json!([])));
                if !fins.iter().any(|f| f == FOREGROUND_FINALIZER) {
                    fins.push(Value::String(FOREGROUND_FINALIZER.into()));
                }
            }
        }
        if is_namespace(key) {
            marked.set_status(json!({"phase": "Terminating"}));
        }
        self.store_change(marked);
        for d in dependents {
            self.delete_with(&d, Propagation::Foreground);
        }
        for c in content {
            self.delete_with(&c, Propagation::Background);
        }
    }

    /// Removes an object at once, tells watchers, and garbage-collects what depended on it.
    fn remove_now(&mut self, key: &ObjectRef) {
        let Some(mut obj) = self.remove_object(key) else {
            return;
        };
        let uid = obj.uid().map(str::to_owned);
        if let Some(u) = &uid
            && self.uids.get(u) == Some(key)
        {
            self.uids.remove(u);
        }
        self.sim.remove(&controllers::sim_key(&obj));
        let rv = self.next_rv();
        meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv));
        self.emit(WatchEvent::Deleted(obj.clone()));
        if is_crd(key)
            && let Ok((gk, _)) = parse_crd(&obj)
        {
            self.learned.remove(&gk);
            let instances: Vec<ObjectRef> = self
                .objects
                .keys()
                .filter(|k| k.group == gk.group && k.kind == gk.kind)
                .cloned()
                .collect();
            for k in instances {
                self.remove_now(&k);
            }
        }
        if let Some(u) = uid {
            for d in self.dependents_of(&u) {
                let orphaned = self
                    .objects
                    .get(&d)
                    .is_some_and(|o| o.owner_uids().iter().all(|owner| !self.uids.contains_key(*owner)));
                if orphaned {
                    self.delete_with(&d, Propagation::Background);
                }
            }
        }
    }

    /// Objects naming `uid` in their ownerReferences.
    fn dependents_of(&self, uid: &str) -> Vec<ObjectRef> {
        self.objects
            .iter()
            .filter(|(_, o)| o.owner_uids().contains(&uid))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Namespaced objects in namespace `ns`.
    fn namespace_content(&self, ns: &str) -> Vec<ObjectRef> {
        self.objects
            .keys()
            .filter(|k| k.namespace.as_deref() == Some(ns))
            .cloned()
            .collect()
    }

    /// Drops owner references to `uid` from every dependent.
    fn orphan_dependents(&mut self, uid: &str) {
        for d in self.dependents_of(uid) {
            let Some(mut obj) = self.objects.get(&d).cloned() else {
                continue;
            };
            let meta = meta_mut(&mut obj);
            let remaining: Vec<Value> = meta
                .get("ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if remaining.is_empty() {
                meta.remove("ownerReferences");
            } else {
                meta.insert("ownerReferences".into(), Value::Array(remaining));
            }
            self.store_change(obj);
        }
    }

    /// Completes deletions that nothing blocks any more: drops `foregroundDeletion` once no dependents
    /// remain, removes terminating namespaces once empty and terminating objects without finalizers.
    pub(super) fn finish_pending(&mut self) {
        loop {
            let terminating: Vec<ObjectRef> = self
                .objects
                .iter()
                .filter(|(_, o)| o.deletion_timestamp().is_some())
                .map(|(k, _)| k.clone())
                .collect();
            let mut changed = false;
            for key in terminating {
                let Some(obj) = self.objects.get(&key) else {
                    continue;
                };
                let fins = obj.finalizers();
                if fins.contains(&FOREGROUND_FINALIZER)
                    && obj.uid().is_none_or(|u| self.dependents_of(u).is_empty())
                {
                    let mut updated = obj.clone();
                    let remaining: Vec<Value> = fins
                        .iter()
                        .filter(|f| **f != FOREGROUND_FINALIZER)
                        .map(|f| Value::String((*f).to_owned()))
                        .collect();
                    let meta = meta_mut(&mut updated);
                    if remaining.is_empty() {
                        meta.remove("finalizers");
                    } else {
                        meta.insert("finalizers".into(), Value::Array(remaining));
                    }
                    self.store_change(updated);
                    changed = true;
                }
                let Some(obj) = self.objects.get(&key) else {
                    continue;
                };
                if is_namespace(&key) && !self.namespace_content(&key.name).is_empty() {
                    continue;
                }
                if obj.finalizers().is_empty() {
                    self.remove_now(&key);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn to_saved(&self) -> SavedState {
        SavedState {
            format: STATE_FORMAT,
            clock: self.clock,
            ticks: self.ticks,
            resource_version: self.rv,
            uid_counter: self.uid_counter,
            name_counter: self.name_counter,
            permissive: self.permissive,
            kinds: self
                .learned
                .iter()
                .map(|(gk, s)| SavedKind {
                    group: gk.group.clone(),
                    kind: gk.kind.clone(),
                    namespaced: *s == Scope::Namespaced,
                })
                .collect(),
            objects: self.objects.values().cloned().collect(),
            controllers: self.sim.clone(),
        }
    }

    fn from_saved(saved: SavedState) -> State {
        let mut st = State {
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            tracked: HashMap::new(),
            clock: saved.clock,
            ticks: saved.ticks,
            rv: saved.resource_version,
            uid_counter: saved.uid_counter,
            name_counter: saved.name_counter,
            learned: saved
                .kinds
                .into_iter()
                .map(|k| {
                    let scope = if k.namespaced {
                        Scope::Namespaced
                    } else {
                        Scope::Cluster
                    };
                    (GroupKind::new(k.group, k.kind), scope)
                })
                .collect(),
            permissive: saved.permissive,
            sim: saved.controllers,
            events: VecDeque::new(),
            event_seq: 0,
            watchers: 0,
            wakers: Vec::new(),
            calls: CallCounts::default(),
        };
        for obj in saved.objects {
            let key = obj.object_ref();
            if let Some(uid) = obj.uid() {
                st.uids.insert(uid.to_owned(), key.clone());
            }
            st.insert_object(key, obj);
        }
        st
    }
}

/// The object an update stores (without its new resourceVersion), or `None` when nothing changes.
fn build_update(live: &Object, desired: Object, opts: &ApplyOptions) -> Result<Option<Object>, EngineError> {
    let key = live.object_ref();
    if let Some(rv) = desired.resource_version()
        && Some(rv) != live.resource_version()
    {
        return Err(EngineError::conflict(format!(
            "operation cannot be fulfilled on {} {:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
            resource_name(&key.kind),
            key.name
        ))
        .with_object(key));
    }
    let live_meta = live.metadata().cloned().unwrap_or_default();
    let desired_meta = desired.metadata().cloned().unwrap_or_default();
    let mut meta = if opts.replace {
        let mut m = desired_meta.clone();
        for f in SYSTEM_FIELDS {
            match live_meta.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        m
    } else {
        let mut m = live_meta.clone();
        for f in APPLIED_META_FIELDS {
            match desired_meta.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        m
    };
    meta.insert("name".into(), Value::String(key.name.clone()));
    match &key.namespace {
        Some(ns) => meta.insert("namespace".into(), Value::String(ns.clone())),
        None => meta.remove("namespace"),
    };
    // `foregroundDeletion` is the API server's own; a client apply does not drop it.
    if live.finalizers().contains(&FOREGROUND_FINALIZER) {
        let fins = ensure_array(meta.entry("finalizers").or_insert_with(|| json!([])));
        if !fins.iter().any(|f| f == FOREGROUND_FINALIZER) {
            fins.push(Value::String(FOREGROUND_FINALIZER.into()));
        }
    }
    normalize_meta(&mut meta);

    let mut out = Map::new();
    if let Some(map) = desired.as_value().as_object() {
        for (k, v) in map {
            match k.as_str() {
                "metadata" => {
                    out.insert(k.clone(), Value::Object(meta.clone()));
                }
                "status" => {}
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let status = if is_application(&key) && desired.status().is_some() {
        desired.status()
    } else {
        live.status()
    };
    if let Some(s) = status {
        out.insert("status".into(), s.clone());
    }
    let new = Value::Object(out);
    if &new == live.as_value() {
        return Ok(None);
    }
    let spec_changed = content(&new) != content(live.as_value());
    let mut new = Object::from_value(new).map_err(|e| {
        EngineError::invalid(format!("applied object is not valid: {e}")).with_object(key.clone())
    })?;
    if spec_changed {
        let generation = live.generation().saturating_add(1);
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    Ok(Some(new))
}

/// The top-level fields other than `apiVersion`, `kind`, `metadata` and `status`.
fn content(v: &Value) -> Map<String, Value> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Drops empty or null labels, annotations, finalizers and ownerReferences.
fn normalize_meta(meta: &mut Map<String, Value>) {
    for f in APPLIED_META_FIELDS {
        let empty = match meta.get(f) {
            Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty {
            meta.remove(f);
        }
    }
}

/// Status the API server (or an instant controller) gives an object at creation.
fn initial_status(obj: &Object) -> Option<Value> {
    match (obj.group(), obj.kind()) {
        ("", "Namespace") => Some(json!({"phase": "Active"})),
        ("", "Pod") => Some(json!({"phase": "Pending"})),
        ("", "PersistentVolumeClaim") => Some(json!({"phase": "Pending"})),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            let now = creation_timestamp(obj);
            let names = obj.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
            Some(json!({
                "acceptedNames": names,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
                "storedVersions": stored_versions(obj),
            }))
        }
        _ => None,
    }
}

fn creation_timestamp(obj: &Object) -> String {
    obj.metadata()
        .and_then(|m| m.get("creationTimestamp"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn stored_versions(crd: &Object) -> Value {
    let versions: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    Value::Array(versions)
}

fn validate_name(obj: &Object) -> Result<(), EngineError> {
    let name = obj.name();
    if name.contains('/') || name.contains('%') || name == "." || name == ".." {
        return Err(
            EngineError::invalid(format!("metadata.name {name:?} may not contain '/' or '%'"))
                .with_object(obj.object_ref()),
        );
    }
    if name.len() > 253 {
        return Err(
            EngineError::invalid("metadata.name must be no more than 253 characters")
                .with_object(obj.object_ref()),
        );
    }
    Ok(())
}

fn is_namespace(key: &ObjectRef) -> bool {
    key.group.is_empty() && key.kind == "Namespace"
}

fn is_crd(key: &ObjectRef) -> bool {
    key.group == "apiextensions.k8s.io" && key.kind == "CustomResourceDefinition"
}

fn is_application(key: &ObjectRef) -> bool {
    key.group == "argoproj.io" && key.kind == "Application"
}

/// The group/kind and scope a CRD defines.
fn parse_crd(crd: &Object) -> Result<(GroupKind, Scope), EngineError> {
    let field = |ptr: &str| crd.pointer(ptr).and_then(Value::as_str).filter(|s| !s.is_empty());
    let invalid = |msg: &str| EngineError::invalid(msg.to_owned()).with_object(crd.object_ref());
    let group = field("/spec/group").ok_or_else(|| invalid("spec.group: required value"))?;
    let kind = field("/spec/names/kind").ok_or_else(|| invalid("spec.names.kind: required value"))?;
    let scope = match field("/spec/scope") {
        Some("Namespaced") => Scope::Namespaced,
        Some("Cluster") => Scope::Cluster,
        Some(other) => {
            return Err(EngineError::invalid(format!(
                "spec.scope: unsupported value {other:?}: supported values: \"Cluster\", \"Namespaced\""
            ))
            .with_object(crd.object_ref()));
        }
        None => return Err(invalid("spec.scope: required value")),
    };
    Ok((GroupKind::new(group, kind), scope))
}

/// Whether a built-in kind is namespaced.
fn builtin_scope(group: &str, kind: &str) -> Option<Scope> {
    use Scope::{Cluster, Namespaced};
    let scope = match (group, kind) {
        ("", "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus") => Cluster,
        ("", _)
            if matches!(
                kind,
                "ConfigMap"
                    | "Secret"
                    | "Service"
                    | "ServiceAccount"
                    | "Pod"
                    | "PodTemplate"
                    | "PersistentVolumeClaim"
                    | "ReplicationController"
                    | "Endpoints"
                    | "Event"
                    | "ResourceQuota"
                    | "LimitRange"
            ) =>
        {
            Namespaced
        }
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "ControllerRevision") => {
            Namespaced
        }
        ("batch", "Job" | "CronJob") => Namespaced,
        ("networking.k8s.io", "Ingress" | "NetworkPolicy") => Namespaced,
        ("networking.k8s.io", "IngressClass") => Cluster,
        ("rbac.authorization.k8s.io", "Role" | "RoleBinding") => Namespaced,
        ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding") => Cluster,
        ("autoscaling", "HorizontalPodAutoscaler") => Namespaced,
        ("policy", "PodDisruptionBudget") => Namespaced,
        ("coordination.k8s.io", "Lease") => Namespaced,
        ("events.k8s.io", "Event") => Namespaced,
        ("discovery.k8s.io", "EndpointSlice") => Namespaced,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Cluster,
        ("storage.k8s.io", "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment") => Cluster,
        ("scheduling.k8s.io", "PriorityClass") => Cluster,
        ("apiregistration.k8s.io", "APIService") => Cluster,
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding",
        ) => Cluster,
        ("node.k8s.io", "RuntimeClass") => Cluster,
        ("certificates.k8s.io", "CertificateSigningRequest") => Cluster,
        (
            "argoproj.io",
            "Application" | "ApplicationSet" | "AppProject" | "Rollout" | "AnalysisTemplate" | "AnalysisRun"
            | "Experiment" | "Workflow" | "WorkflowTemplate" | "CronWorkflow",
        ) => Namespaced,
        ("argoproj.io", "ClusterAnalysisTemplate" | "ClusterWorkflowTemplate") => Cluster,
        _ => return None,
    };
    Some(scope)
}

/// The lowercase plural resource name for messages (`configmaps`, `ingresses`, `networkpolicies`).
fn resource_name(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with("ss") || k.ends_with("sh") || k.ends_with("ch") || k.ends_with('x') {
        format!("{k}es")
    } else if k.ends_with('s') {
        k
    } else if let Some(stem) = k
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

fn not_found(key: &ObjectRef) -> EngineError {
    EngineError::not_found(format!("{} {:?} not found", resource_name(&key.kind), key.name))
        .with_object(key.clone())
}

/// Five generated-name characters derived from `counter` (looks random, is deterministic).
fn name_suffix(counter: u64) -> String {
    let mut h = splitmix64(counter);
    let base = NAME_ALPHABET.len() as u64;
    (0..5)
        .map(|_| {
            let c = NAME_ALPHABET[(h % base) as usize] as char;
            h /= base;
            c
        })
        .collect()
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `metadata` of an object, created if absent.
pub(super) fn meta_mut(obj: &mut Object) -> &mut Map<String, Value> {
    ensure_map(obj.as_map_mut().entry("metadata").or_insert_with(|| json!({})))
}

fn ensure_array(v: &mut Value) -> &mut Vec<Value> {
    if !v.is_array() {
        *v = json!([]);
    }
    match v {
        Value::Array(a) => a,
        _ => unreachable!("just replaced with an array"),
    }
}

/// The on-disk form of a cluster.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedState {
    format: u32,
    clock: i64,
    ticks: u64,
    resource_version: u64,
    uid_counter: u64,
    name_counter: u64,
    permissive: bool,
    kinds: Vec<SavedKind>,
    objects: Vec<Object>,
    #[serde(default)]
    controllers: BTreeMap<String, SimState>,
}

#[derive(Serialize, Deserialize)]
struct SavedKind {
    group: String,
    kind: String,
    namespaced: bool,
}

/// The stream [`MemoryCluster::watch`] returns: reads the event log from a cursor.
struct WatchStream {
    shared: Arc<Mutex<State>>,
    cursor: u64,
    query: ListQuery,
    done: bool,
}

impl Stream for WatchStream {
    type Item = WatchEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchEvent>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut st = lock(&this.shared);
        if st.events.front().is_some_and(|(seq, _)| *seq > this.cursor + 1) {
            // Fell behind the bounded log: end, like a watch that gets `410 Gone`.
            this.done = true;
            return Poll::Ready(None);
        }
        let start = st.events.partition_point(|(seq, _)| *seq <= this.cursor);
        for (seq, event) in st.events.range(start..) {
            this.cursor = *seq;
            let obj = match event {
                WatchEvent::Applied(o) | WatchEvent::Deleted(o) => o,
            };
            if this.query.matches(obj) {
                return Poll::Ready(Some(event.clone()));
            }
        }
        if this.cursor < st.event_seq {
            // Changes happened that were not logged (cannot happen while this stream lives).
            this.cursor = st.event_seq;
        }
        if !st.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            st.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        st.watchers = st.watchers.saturating_sub(1);
        if st.watchers == 0 {
            st.events.clear();
            st.wakers.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use futures::executor::block_on;
    use serde_json::json;

    use super::*;
    use crate::engine::{ClusterBackendExt, ErrorKind};

    fn obj(v: Value) -> Object {
        Object::from_value(v).unwrap()
    }

    fn cm(ns: &str, name: &str) -> Object {
        Object::new("v1", "ConfigMap", Some(ns), name)
    }

    fn apply(c: &MemoryCluster, o: &Object) -> Applied {
        block_on(c.apply(o, &ApplyOptions::default())).unwrap()
    }

    fn owned(ns: &str, name: &str, owner: &Object) -> Object {
        obj(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "ownerReferences": [
                {"apiVersion": owner.api_version(), "kind": owner.kind(), "name": owner.name(),
                 "uid": owner.uid().unwrap()}]},
        }))
    }

    fn exists(c: &MemoryCluster, ns: &str, name: &str) -> bool {
        c.object(&ObjectRef::new("", "ConfigMap", Some(ns), name))
            .is_some()
    }

    #[test]
    fn epoch_is_2026() {
        assert_eq!(rfc3339(EPOCH), "2026-01-01T00:00:00Z");
        let c = MemoryCluster::new();
        assert_eq!(c.now(), EPOCH);
        c.tick_n(3);
        assert_eq!(c.now(), EPOCH + 3);
    }

    #[test]
    fn create_sets_system_fields_and_update_bumps_generation() {
        let c = MemoryCluster::new();
        let d = obj(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "client-made-up"},
            "spec": {"replicas": 1}, "status": {"replicas": 99},
        }));
        let created = apply(&c, &d);
        assert_eq!(created.outcome, ApplyOutcome::Created);
        let o = &created.object;
        assert_eq!(o.uid(), Some("00000000-0000-0000-0000-000000000004"));
        assert_eq!(o.generation(), 1);
        assert_eq!(
            o.pointer("/metadata/creationTimestamp"),
            Some(&json!("2026-01-01T00:00:00Z"))
        );
        assert_eq!(o.status(), None, "client status is ignored");

        // Label change: rv bump, no generation bump.
        let mut labelled = d.clone();
        labelled.set_label("a", "b");
        let l = apply(&c, &labelled);
        assert_eq!(l.outcome, ApplyOutcome::Configured);
        assert_eq!(l.object.generation(), 1);
        assert_ne!(l.object.resource_version(), o.resource_version());

        let mut scaled = labelled.clone();
        scaled.as_map_mut().insert("spec".into(), json!({"replicas": 3}));
        let s = apply(&c, &scaled);
        assert_eq!(s.object.generation(), 2);
        assert_eq!(apply(&c, &scaled).outcome, ApplyOutcome::Unchanged);
    }

    #[test]
    fn application_status_is_written_through_apply() {
        let c = MemoryCluster::new();
        apply(&c, &Object::new("v1", "Namespace", None, "argocd"));
        let app = obj(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "demo", "namespace": "argocd"},
            "spec": {"project": "default"}, "status": {"sync": {"status": "Synced"}},
        }));
        let a = apply(&c, &app);
        assert_eq!(a.object.pointer("/status/sync/status"), Some(&json!("Synced")));
    }

    #[test]
    fn unknown_kinds_crds_and_permissive() {
        let c = MemoryCluster::new();
        let widget = obj(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"},
        }));
        let e = block_on(c.apply(&widget, &ApplyOptions::default())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "no matches for kind \"Widget\" in version \"example.com/v1\": example.com/Widget default/w"
        );
        let gk = GroupKind::new("example.com", "Widget");
        assert_eq!(block_on(c.scope(&gk)).unwrap(), None);

        let crd = obj(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"kind": "Widget", "plural": "widgets"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]},
        }));
        let applied = apply(&c, &crd);
        assert_eq!(
            applied.object.pointer("/status/conditions/1/type"),
            Some(&json!("Established"))
        );
        assert_eq!(block_on(c.scope(&gk)).unwrap(), Some(Scope::Namespaced));
        apply(&c, &widget);
        // Deleting the CRD removes its objects and the kind.
        let crd_ref = crd.object_ref();
        assert_eq!(
            block_on(c.delete(&crd_ref, &DeleteOptions::default())).unwrap(),
            DeleteOutcome::Deleted
        );
        assert!(c.object(&widget.object_ref()).is_none());
        assert_eq!(block_on(c.scope(&gk)).unwrap(), None);

        let bad = obj(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "x.example.com"}, "spec": {"group": "example.com", "names": {"kind": "X"}},
        }));
        let e = block_on(c.apply(&bad, &ApplyOptions::default())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);

        let p = MemoryCluster::permissive();
        assert_eq!(block_on(p.scope(&gk)).unwrap(), Some(Scope::Namespaced));
        assert_eq!(apply(&p, &widget).outcome, ApplyOutcome::Created);
        let cluster_thing = Object::new("example.com/v1", "Gadget", None, "g");
        apply(&p, &cluster_thing);
        assert_eq!(
            block_on(p.scope(&GroupKind::new("example.com", "Gadget"))).unwrap(),
            Some(Scope::Cluster)
        );
    }

    #[test]
    fn namespaces_are_required_and_cluster_scoped_objects_lose_theirs() {
        let c = MemoryCluster::new();
        let e = block_on(c.apply(&cm("nope", "x"), &ApplyOptions::default())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), "namespaces \"nope\" not found: ConfigMap nope/x");
        let role = Object::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            Some("default"),
            "admin",
        );
        let a = apply(&c, &role);
        assert_eq!(a.object.namespace(), None);
        let with_ns = ObjectRef::new(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            Some("default"),
            "admin",
        );
        assert!(block_on(c.try_get(&with_ns)).unwrap().is_some());
    }

    #[test]
    fn dry_run_changes_no_counters() {
        let c = MemoryCluster::new();
        let dry = block_on(c.apply(&cm("default", "a"), &ApplyOptions::default().dry_run(true))).unwrap();
        let real = apply(&c, &cm("default", "a"));
        assert_eq!(dry.object, real.object);
    }

    #[test]
    fn replace_takes_metadata_from_the_object() {
        let c = MemoryCluster::new();
        let mut a = cm("default", "a");
        a.set_label("x", "1");
        let created = apply(&c, &a);
        let b = cm("default", "a");
        let replaced = block_on(c.apply(&b, &ApplyOptions::default().replace(true))).unwrap();
        assert_eq!(replaced.outcome, ApplyOutcome::Configured);
        assert!(replaced.object.labels().is_empty());
        assert_eq!(replaced.object.uid(), created.object.uid());
    }

    #[test]
    fn generate_name_is_deterministic() {
        let gen_cm = obj(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-", "namespace": "default"},
        }));
        let names = |c: &MemoryCluster| -> Vec<String> {
            (0..3)
                .map(|_| apply(c, &gen_cm).object.name().to_owned())
                .collect()
        };
        let a = names(&MemoryCluster::new());
        let b = names(&MemoryCluster::new());
        assert_eq!(a, b);
        assert!(a.iter().all(|n| n.len() == 7 && n.starts_with("x-")));
    }

    #[test]
    fn background_cascade() {
        let c = MemoryCluster::new();
        let owner = apply(&c, &cm("default", "owner")).object;
        let child = apply(&c, &owned("default", "child", &owner)).object;
        apply(&c, &owned("default", "grandchild", &child));
        let out = block_on(c.delete(
            &owner.object_ref(),
            &DeleteOptions::default().propagation(Propagation::Background),
        ))
        .unwrap();
        assert_eq!(out, DeleteOutcome::Deleted);
        assert!(!exists(&c, "default", "child"));
        assert!(!exists(&c, "default", "grandchild"));
    }

    #[test]
    fn background_cascade_waits_for_owner_finalizers() {
        let c = MemoryCluster::new();
        let mut o = cm("default", "owner");
        o.as_map_mut()["metadata"]["finalizers"] = json!(["example.com/hold"]);
        let owner = apply(&c, &o).object;
        apply(&c, &owned("default", "child", &owner));
        let r = owner.object_ref();
        let bg = DeleteOptions::default().propagation(Propagation::Background);
        assert_eq!(block_on(c.delete(&r, &bg)).unwrap(), DeleteOutcome::Pending);
        assert!(exists(&c, "default", "child"));
        c.remove_finalizer(&r, "example.com/hold").unwrap();
        assert!(!exists(&c, "default", "owner"));
        assert!(!exists(&c, "default", "child"));
    }

    #[test]
    fn foreground_cascade() {
        let c = MemoryCluster::new();
        let owner = apply(&c, &cm("default", "owner")).object;
        apply(&c, &owned("default", "child", &owner));
        let mut held = owned("default", "held", &owner);
        held.as_map_mut()["metadata"]["finalizers"] = json!(["example.com/hold"]);
        apply(&c, &held);
        let r = owner.object_ref();
        let out = block_on(c.delete(&r, &DeleteOptions::default())).unwrap();
        assert_eq!(out, DeleteOutcome::Pending);
        let live = c.object(&r).unwrap();
        assert!(live.deletion_timestamp().is_some());
        assert_eq!(live.finalizers(), vec!["foregroundDeletion"]);
        assert!(!exists(&c, "default", "child"), "unblocked dependents go first");
        assert!(exists(&c, "default", "held"));
        c.tick();
        assert!(
            exists(&c, "default", "owner"),
            "owner waits for the held dependent"
        );
        c.remove_finalizer(&held.object_ref(), "example.com/hold")
            .unwrap();
        assert!(!exists(&c, "default", "held"));
        c.tick();
        assert!(!exists(&c, "default", "owner"));

        // Without blocked dependents it completes in the same call.
        let owner = apply(&c, &cm("default", "owner2")).object;
        apply(&c, &owned("default", "child2", &owner));
        let out = block_on(c.delete(&owner.object_ref(), &DeleteOptions::default())).unwrap();
        assert_eq!(out, DeleteOutcome::Deleted);
        assert!(!exists(&c, "default", "child2"));
    }

    #[test]
    fn orphan_cascade() {
        let c = MemoryCluster::new();
        let owner = apply(&c, &cm("default", "owner")).object;
        let other = apply(&c, &cm("default", "other")).object;
        let mut child = owned("default", "child", &owner);
        child.as_map_mut()["metadata"]["ownerReferences"]
            .as_array_mut()
            .unwrap()
            .push(json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": other.uid()}));
        apply(&c, &child);
        let orphan = DeleteOptions::default().propagation(Propagation::Orphan);
        assert_eq!(
            block_on(c.delete(&owner.object_ref(), &orphan)).unwrap(),
            DeleteOutcome::Deleted
        );
        let kept = c.object(&child.object_ref()).unwrap();
        assert_eq!(kept.owner_uids(), vec![other.uid().unwrap()]);
        // A dependent with a remaining live owner survives background deletion of another owner.
        let bg = DeleteOptions::default().propagation(Propagation::Background);
        assert_eq!(
            block_on(c.delete(&other.object_ref(), &bg)).unwrap(),
            DeleteOutcome::Deleted
        );
        assert!(!exists(&c, "default", "child"));
    }

    #[test]
    fn namespace_deletion_removes_content() {
        let c = MemoryCluster::new();
        apply(&c, &Object::new("v1", "Namespace", None, "tmp"));
        apply(&c, &cm("tmp", "a"));
        let mut held = cm("tmp", "held");
        held.as_map_mut()["metadata"]["finalizers"] = json!(["example.com/hold"]);
        apply(&c, &held);
        let ns = ObjectRef::new("", "Namespace", None, "tmp");
        assert_eq!(
            block_on(c.delete(&ns, &DeleteOptions::default())).unwrap(),
            DeleteOutcome::Pending
        );
        assert_eq!(
            c.object(&ns).unwrap().pointer("/status/phase"),
            Some(&json!("Terminating"))
        );
        assert!(!exists(&c, "tmp", "a"));
        let e = block_on(c.apply(&cm("tmp", "new"), &ApplyOptions::default())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        c.remove_finalizer(&held.object_ref(), "example.com/hold")
            .unwrap();
        assert!(c.object(&ns).is_none());
    }

    #[test]
    fn finalizer_removed_by_apply_completes_deletion() {
        let c = MemoryCluster::new();
        let mut held = cm("default", "held");
        held.as_map_mut()["metadata"]["finalizers"] = json!(["example.com/hold"]);
        apply(&c, &held);
        let r = held.object_ref();
        assert_eq!(
            block_on(c.delete(&r, &DeleteOptions::default())).unwrap(),
            DeleteOutcome::Pending
        );
        // Deleting again stays pending.
        assert_eq!(
            block_on(c.delete(&r, &DeleteOptions::default())).unwrap(),
            DeleteOutcome::Pending
        );
        let released = apply(&c, &cm("default", "held"));
        assert_eq!(released.outcome, ApplyOutcome::Configured);
        assert!(c.object(&r).is_none());
    }

    #[test]
    fn conflict_message_names_the_object() {
        let c = MemoryCluster::new();
        let mut a = apply(&c, &cm("default", "a")).object;
        let mut changed = cm("default", "a");
        changed.set_label("x", "y");
        apply(&c, &changed);
        a.set_label("x", "z");
        let e = block_on(c.apply(&a, &ApplyOptions::default())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(
            e.to_string()
                .starts_with("operation cannot be fulfilled on configmaps \"a\""),
            "{e}"
        );
        assert!(e.to_string().ends_with(": ConfigMap default/a"), "{e}");
    }

    #[test]
    fn not_found_messages() {
        let c = MemoryCluster::new();
        let e = block_on(c.get(&ObjectRef::new(
            "networking.k8s.io",
            "Ingress",
            Some("default"),
            "x",
        )))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = block_on(c.delete(
            &ObjectRef::new("networking.k8s.io", "NetworkPolicy", Some("default"), "x"),
            &DeleteOptions::default(),
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "networkpolicies \"x\" not found: networking.k8s.io/NetworkPolicy default/x"
        );
        assert_eq!(resource_name("Ingress"), "ingresses");
        assert_eq!(resource_name("Endpoints"), "endpoints");
        assert_eq!(resource_name("Gateway"), "gateways");
    }

    #[test]
    fn watch_stream_yields_events() {
        let c = MemoryCluster::new();
        let mut s = block_on(c.watch(&ListQuery::all().namespace("default"))).unwrap();
        let mut poll = || {
            let mut cx = Context::from_waker(Waker::noop());
            s.as_mut().poll_next(&mut cx)
        };
        assert!(poll().is_pending());
        apply(&c, &Object::new("v1", "Namespace", None, "elsewhere"));
        apply(&c, &cm("elsewhere", "ignored"));
        apply(&c, &cm("default", "a"));
        c.set_status(&cm("default", "a").object_ref(), json!({"x": 1}))
            .unwrap();
        block_on(c.delete(&cm("default", "a").object_ref(), &DeleteOptions::default())).unwrap();
        match poll() {
            Poll::Ready(Some(WatchEvent::Applied(o))) => {
                assert_eq!(o.name(), "a");
                assert!(o.status().is_none());
            }
            other => panic!("{other:?}"),
        }
        match poll() {
            Poll::Ready(Some(WatchEvent::Applied(o))) => assert_eq!(o.status(), Some(&json!({"x": 1}))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(poll(), Poll::Ready(Some(WatchEvent::Deleted(_)))));
        assert!(poll().is_pending());

        // Blocking until the next event on another thread.
        let c2 = c.clone();
        let waiter = std::thread::spawn(move || {
            let mut s = block_on(c2.watch(&ListQuery::all())).unwrap();
            block_on(std::future::poll_fn(|cx| s.as_mut().poll_next(cx)))
        });
        // Keep changing until the watcher has seen something.
        let mut i = 0;
        while !waiter.is_finished() {
            i += 1;
            apply(&c, &cm("default", &format!("w{i}")));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(matches!(waiter.join().unwrap(), Some(WatchEvent::Applied(_))));
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.json");
        let c = MemoryCluster::new();
        let crd = obj(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}},
        }));
        apply(&c, &crd);
        let d = obj(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 4, "template": {"metadata": {"labels": {"app": "web"}}}},
        }));
        apply(&c, &d);
        c.tick();
        c.save(&path).unwrap();
        let loaded = MemoryCluster::load(&path).unwrap();
        assert_eq!(loaded.objects(), c.objects());
        assert_eq!(loaded.now(), c.now());
        assert_eq!(
            block_on(loaded.scope(&GroupKind::new("example.com", "Widget"))).unwrap(),
            Some(Scope::Cluster)
        );
        // Both continue identically.
        c.tick_n(5);
        loaded.tick_n(5);
        assert_eq!(loaded.objects(), c.objects());
        let next = cm("default", "next");
        assert_eq!(apply(&loaded, &next).object, apply(&c, &next).object);
        assert_eq!(apply(&loaded, &next).outcome, ApplyOutcome::Unchanged);

        let missing = dir.path().join("absent.json");
        let e = MemoryCluster::load(&missing).unwrap_err();
        assert!(matches!(e, LoadStateError::Read { .. }));
        assert!(e.to_string().contains("absent.json"), "{e}");
        assert_eq!(MemoryCluster::load_or_new(&missing).unwrap().len(), 3);
        std::fs::write(&missing, "{not json").unwrap();
        let e = MemoryCluster::load_or_new(&missing).unwrap_err();
        assert!(matches!(e, LoadStateError::Parse { .. }), "{e}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn list_is_sorted_and_calls_are_counted() {
        let c = MemoryCluster::new();
        apply(&c, &cm("default", "b"));
        apply(&c, &cm("default", "a"));
        let all = block_on(c.list(&ListQuery::all())).unwrap();
        let refs: Vec<ObjectRef> = all.iter().map(Object::object_ref).collect();
        let mut sorted = refs.clone();
        sorted.sort();
        assert_eq!(refs, sorted);
        assert_eq!(c.calls().applies, 2);
        assert_eq!(c.calls().lists, 1);
        assert!(format!("{c:?}").contains("objects: 5"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]
        /// Random applies, deletes, finalizer removals and ticks never panic and keep the store consistent.
        #[test]
        fn random_operations_keep_the_store_consistent(
            ops in proptest::collection::vec((0u8..6, 0usize..4, 0usize..4, proptest::bool::ANY), 1..40)
        ) {
            let c = MemoryCluster::new();
            let names = ["a", "b", "c", "d"];
            let kinds = [("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("batch/v1", "Job"), ("v1", "Namespace")];
            for (op, i, j, flag) in ops {
                let (api, kind) = kinds[j];
                let ns = if kind == "Namespace" { None } else { Some("default") };
                let mut o = Object::new(api, kind, ns, names[i]);
                let r = o.object_ref();
                match op {
                    0 | 1 => {
                        if flag {
                            o.as_map_mut()["metadata"]["finalizers"] = json!(["x/hold"]);
                        }
                        if let Some(owner) = c.object(&ObjectRef::new("", "ConfigMap", Some("default"), names[j]))
                            && op == 1 {
                                o.as_map_mut()["metadata"]["ownerReferences"] =
                                    json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.name(),
                                            "uid": owner.uid()}]);
                            }
                        o.as_map_mut().insert("spec".into(), json!({"replicas": i}));
                        let _ = block_on(c.apply(&o, &ApplyOptions::default().dry_run(flag && i == 0)));
                    }
                    2 => {
                        let p = [Propagation::Foreground, Propagation::Background, Propagation::Orphan][i % 3];
                        let _ = block_on(c.delete(&r, &DeleteOptions::default().propagation(p)));
                    }
                    3 => {
                        let _ = c.remove_finalizer(&r, "x/hold");
                    }
                    _ => c.tick(),
                }
                let st = c.lock();
                for (k, obj) in &st.objects {
                    proptest::prop_assert_eq!(k, &obj.object_ref());
                    if let Some(uid) = obj.uid() {
                        proptest::prop_assert_eq!(st.uids.get(uid), Some(k));
                    }
                    if obj.deletion_timestamp().is_some() && !is_namespace(k) {
                        proptest::prop_assert!(!obj.finalizers().is_empty(), "{} terminating without finalizers", k);
                    }
                }
            }
        }
    }
}
