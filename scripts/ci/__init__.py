"""`platformctl ci`: pipeline stages synth → plan → policy → apply, and scheduled drift checks.

Each stage is a separate command usable in any CI system or on a laptop; none prompts. Plans
travel between stages as an encrypted bundle with a manifest that `apply` re-checks field by
field (docs/adr/0013-ci-plan-bundles.md). Exit codes: scripts/ci/exitcodes.py.
"""
