"""Vault operations through hvac: bootstrap (mounts, policies, AWS IAM auth, database logins),
`vault init` for a self-hosted Vault, and `secrets exec` for workloads reading secrets at start-up.
"""
