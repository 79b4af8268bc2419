//! [`ChaosLayer`]: fault injection for any [`ClusterBackend`].
//!
//! Wraps a backend and, at a configurable rate and from a seed (so failures are reproducible),
//! makes calls fail with `Unavailable`, `Timeout` or `Conflict` errors. Half of the injected
//! timeouts happen *after* the call went through — the ambiguous outcome real clusters produce —
//! so callers must treat writes as idempotent.
//!
//! ```
//! use gitops_core::engine::{ClusterBackend, ErrorKind};
//! use gitops_core::testing::{ChaosLayer, MemoryCluster};
//! use gitops_core::ObjectRef;
//! let chaos = ChaosLayer::new(MemoryCluster::new(), 1.0, 7);
//! let err = futures::executor::block_on(chaos.try_get(&ObjectRef::new("", "ConfigMap", Some("default"), "x")))
//!     .unwrap_err();
//! assert!(err.is_retryable());
//! assert_eq!(chaos.injected(), 1);
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_core::stream::BoxStream;

use crate::engine::{
    Applied, ApplyOptions, Capabilities, ClusterBackend, DeleteOptions, DeleteOutcome, EngineError,
    ListQuery, Scope, WatchEvent,
};
use crate::object::{GroupKind, Object, ObjectRef};

/// A fault-injecting wrapper around a cluster backend.
#[derive(Debug)]
pub struct ChaosLayer<B> {
    inner: B,
    rate: f64,
    rng: Mutex<u64>,
    injected: AtomicU64,
    calls: AtomicU64,
}

/// What an injected fault does.
enum Fault {
    Before(EngineError),
    After(EngineError),
}

impl<B: ClusterBackend> ChaosLayer<B> {
    /// Wraps `inner`; each call fails with probability `rate` (0.0–1.0), drawn from `seed`.
    pub fn new(inner: B, rate: f64, seed: u64) -> Self {
        ChaosLayer {
            inner,
            rate: rate.clamp(0.0, 1.0),
            rng: Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            injected: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// How many calls were made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn next(&self) -> u64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        // xorshift64*
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6D_CDD7)
    }

    fn fault(&self, what: &str, write: bool) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let r = self.next();
        if (r >> 11) as f64 / (1u64 << 53) as f64 >= self.rate {
            return None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(match r % 4 {
            0 => Fault::Before(EngineError::unavailable(format!("chaos: {what} unavailable"))),
            1 => Fault::Before(EngineError::conflict(format!("chaos: {what} conflict"))),
            2 if write => Fault::After(EngineError::timeout(format!(
                "chaos: {what} timed out after it was done"
            ))),
            _ => Fault::Before(EngineError::timeout(format!("chaos: {what} timed out"))),
        })
    }
}

impl<B: ClusterBackend> ClusterBackend for ChaosLayer<B> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn scope(&self, kind: &GroupKind) -> Result<Option<Scope>, EngineError> {
        // Discovery is cached by real clients; it is not a fault target.
        self.inner.scope(kind).await
    }

    async fn try_get(&self, obj: &ObjectRef) -> Result<Option<Object>, EngineError> {
        match self.fault("get", false) {
            Some(Fault::Before(e) | Fault::After(e)) => Err(e),
            None => self.inner.try_get(obj).await,
        }
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Object>, EngineError> {
        match self.fault("list", false) {
            Some(Fault::Before(e) | Fault::After(e)) => Err(e),
            None => self.inner.list(query).await,
        }
    }

    async fn apply(&self, obj: &Object, opts: &ApplyOptions) -> Result<Applied, EngineError> {
        match self.fault("apply", !opts.dry_run) {
            Some(Fault::Before(e)) => Err(e),
            Some(Fault::After(e)) => {
                self.inner.apply(obj, opts).await?;
                Err(e)
            }
            None => self.inner.apply(obj, opts).await,
        }
    }

    async fn delete(&self, obj: &ObjectRef, opts: &DeleteOptions) -> Result<DeleteOutcome, EngineError> {
        match self.fault("delete", !opts.dry_run) {
            Some(Fault::Before(e)) => Err(e),
            Some(Fault::After(e)) => {
                self.inner.delete(obj, opts).await?;
                Err(e)
            }
            None => self.inner.delete(obj, opts).await,
        }
    }

    async fn watch(&self, query: &ListQuery) -> Result<BoxStream<'static, WatchEvent>, EngineError> {
        self.inner.watch(query).await
    }
}
