#!/usr/bin/env bash
# Side-by-side measurements against the peers' tools, in one run each:
#   - native Kustomize in-process vs one `kubectl kustomize` process (same overlay);
#   - revision resolve + tree read with gix vs the `git` CLI (same repository);
#   - health evaluations per second for built-in checks, Rhai and Lua scripts (corpus inputs).
# Usage: bash benches/side-by-side.sh   (from the repository root; needs kubectl and git on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in kustomize_build git_resolve health_eval; do
    echo "== $bench"
    cargo bench --quiet -p gitops-benches --bench "$bench" 2>&1 | grep -v '^\s*Finished\|^\s*Running\|^\s*Compiling'
done
