"""A Vault HTTP API test double: hvac runs unmodified against it on 127.0.0.1.

It implements the subset of Vault the project uses (tokens, sys/mounts, sys/auth, sys/audit,
sys/policies/acl, sys/init, AWS IAM auth, KV v2) with Vault's semantics where our tests depend on
them: token required, ACL path globs (`*`, `+`) and capabilities, KV v2 versions and 404s, 400 for
malformed bodies. AWS IAM login forwards the signed GetCallerIdentity request to the configured
`sts_endpoint` (the local AWS emulator in tests), exactly like Vault does with real STS.

Not implemented (tests must not depend on it): leases/TTL expiry, namespaces, response wrapping,
entity/identity, sudo-protected paths, secret engines other than KV v2.
"""

from tests.helpers.vault_double.server import VaultDouble, dispatch

__all__ = ["VaultDouble", "dispatch"]
