//! In-memory implementations of the engine traits for tests, examples and the CLI.
//!
//! The centrepiece is [`MemoryCluster`], a simulated Kubernetes cluster implementing
//! [`ClusterBackend`](crate::engine::ClusterBackend), and [`conformance`], the behaviour checks every
//! `ClusterBackend` implementation runs.
//!
//! # `MemoryCluster` in one paragraph
//! Objects are stored by [`ObjectRef`](crate::ObjectRef) and listed in a stable order (group, kind,
//! namespace, name). Namespaced and cluster-scoped kinds are told apart by a built-in table of the core
//! Kubernetes and Argo kinds plus whatever `CustomResourceDefinition`s have been applied; an unknown kind is
//! rejected like `kubectl` does (`no matches for kind …`) unless the cluster was built with
//! [`MemoryCluster::permissive`]. Writes assign `uid`, `resourceVersion`, `generation` and
//! `creationTimestamp`, honour optimistic concurrency (a stale `metadata.resourceVersion` is a conflict),
//! dry-run, `generateName`, finalizers and the three deletion propagation policies. Namespaced objects
//! need their `Namespace` to exist (`default`, `kube-system` and `kube-public` exist from the start).
//!
//! # Simulated controllers and the clock
//! Nothing happens on its own: [`MemoryCluster::tick`] advances a simulated clock by one second and runs
//! the simulated controllers once over every object. They write `status` (never `spec`) the way the real
//! controllers do, so health checks see objects progress:
//!
//! | kind | after ticks |
//! |---|---|
//! | `apps/Deployment` | owns a `ReplicaSet` `<name>-<template hash>`; `updatedReplicas` grows by max(1, ⌈25% of replicas⌉) per tick, `availableReplicas` follows one tick later; `Available`/`Progressing` conditions |
//! | `apps/ReplicaSet` | all replicas ready after one tick (no Pods are created, which keeps large simulations small) |
//! | `apps/StatefulSet` | one more replica ready and updated per tick; `currentRevision` = `updateRevision` when done |
//! | `apps/DaemonSet` | one simulated node: `desiredNumberScheduled` 1, ready one tick after being observed |
//! | `batch/Job` | active after one tick, `Complete` after two (see [`DURATION_ANNOTATION`]) or `Failed` (see [`FAIL_ANNOTATION`]) |
//! | `Pod` | `Running` and ready after one tick; with `restartPolicy` `Never`/`OnFailure`, `Succeeded` (or `Failed`) after two |
//! | `PersistentVolumeClaim` | `Bound` after one tick |
//! | `Service` of type `LoadBalancer`, `networking.k8s.io/Ingress` | `status.loadBalancer.ingress: [{ip: 127.0.0.1}]` after one tick |
//! | `Namespace`, `CustomResourceDefinition` | `Active` / `Established` at once |
//!
//! Status writes bump `resourceVersion` (never `generation`) and are seen by watchers.
//!
//! # Test annotations
//! - [`FAIL_ANNOTATION`] (`gitops.test/fail: "true"`), on a Job, a Pod or a workload's pod template, makes
//!   it fail: Jobs get a `Failed` condition (`BackoffLimitExceeded`), Pods end `Failed` (or crash-loop
//!   when they restart), Deployments never become available and report `ProgressDeadlineExceeded`
//!   after three ticks.
//! - [`DURATION_ANNOTATION`] (`gitops.test/duration-ticks: "N"`), on a Job or Pod, sets how many ticks it
//!   runs before completing (default 2).
//!
//! # Persistence
//! [`MemoryCluster::save`] and [`MemoryCluster::load`] keep the whole state (objects, clock, counters,
//! learned kinds) in a JSON file so that successive CLI runs see drift and no-ops like a real cluster.
//!
//! ```
//! use gitops_core::engine::{ApplyOptions, ApplyOutcome, ClusterBackend};
//! use gitops_core::testing::MemoryCluster;
//! use gitops_core::Object;
//!
//! let cluster = MemoryCluster::new();
//! let cm = Object::new("v1", "ConfigMap", Some("default"), "settings");
//! let first = futures::executor::block_on(cluster.apply(&cm, &ApplyOptions::default())).unwrap();
//! assert_eq!(first.outcome, ApplyOutcome::Created);
//! let again = futures::executor::block_on(cluster.apply(&cm, &ApplyOptions::default())).unwrap();
//! assert_eq!(again.outcome, ApplyOutcome::Unchanged);
//! ```

mod chaos;
pub mod conformance;
mod controllers;
mod memory;

pub use chaos::ChaosLayer;
pub use memory::{CallCounts, LoadStateError, MemoryCluster, Ticker};

/// Annotation that makes a simulated Job, Pod or workload fail when set to `"true"`.
pub const FAIL_ANNOTATION: &str = "gitops.test/fail";

/// Annotation giving the number of ticks a simulated Job or Pod runs before it completes (default 2).
pub const DURATION_ANNOTATION: &str = "gitops.test/duration-ticks";
