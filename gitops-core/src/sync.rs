//! Sync planning and execution.
