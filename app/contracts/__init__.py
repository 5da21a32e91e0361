"""The contract layer: what every other layer agrees on, declared once (docs/adr/0020).

Names (stacks, state keys, KMS aliases, Vault policies/roles/paths, database logins, ECS names),
output keys, container variables, exit codes and where machine-local files live. Standard library
only: the import-linter contracts in pyproject.toml forbid any import from the other layers, so
constructs, configuration, stacks, operations and the container runtime can all depend on it.
"""
