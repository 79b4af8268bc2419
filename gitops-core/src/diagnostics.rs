//! Diagnostics for real-world mistakes in Argo CD YAML (filled in below).
