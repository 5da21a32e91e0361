"""Values AWS or Vault would refuse later, and secrets pasted where they would leak (docs/adr/0015).

Checked here rather than at plan/apply time: ARN partitions and regions, the Vault address and KV
mount, and credentials inside commands, URLs and plain environment variables (those end up in
task definitions, the plan and logs). No message echoes the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from app import aws_rules
from app.loader import Problem, shown
from app.schema import EnvironmentConfig
from modules.settings import PINNED_DIGEST, PINNED_VERSION_TAG, VAULT_IMAGE

URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@]*:[^/\s@]*@", re.IGNORECASE)
PEM = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----")
# `--password=...`, `PGPASSWORD=...` with a literal value (a `$VAR` reference is not a secret).
PASSWORD_ARG = re.compile(r"(password|passwd|secret|token)\s*[=:]\s*[^\s$'\"{]", re.IGNORECASE)


def contains_secret(text: str) -> bool:
    return bool(URL_CREDENTIALS.search(text) or PEM.search(text) or PASSWORD_ARG.search(text))


def arn_problems(fld: str, arn: str, env: EnvironmentConfig, same_region: bool = True) -> Iterable[Problem]:
    """Partition, region and account of an ARN the environment's load balancers use."""
    parts = arn.split(":")
    if len(parts) < 6:
        return
    partition, region, account = parts[1], parts[3], parts[4]
    want = aws_rules.region_partition(env.aws.region)  # botocore endpoints.json
    if want is None:
        return  # aws.region is reported; nothing to compare against
    if partition != want:
        yield Problem(fld, f"is in partition {partition!r}; {env.aws.region} is in {want!r}")
    if same_region and region != env.aws.region:
        yield Problem(fld, f"is in {region}; the load balancer needs a certificate in {env.aws.region}")
    if env.aws.account_id is not None and re.fullmatch(r"\d{12}", env.aws.account_id) and account != env.aws.account_id:
        yield Problem(fld, f"belongs to account {account}, not aws.account_id {env.aws.account_id}")


def vault_address_problems(env: EnvironmentConfig) -> Iterable[Problem]:
    address = env.vault.address
    if address is None:
        return
    if env.vault.mode == "self-hosted":
        yield Problem("vault.address", "only used with vault.mode = 'external' (self-hosted: the stack's address)")
        return
    try:
        url = urlsplit(address)
        port = url.port
    except ValueError:
        yield Problem("vault.address", "not a URL with a valid port (1-65535)")
        return
    if url.scheme not in ("http", "https"):
        yield Problem("vault.address", "must start with https:// (or http:// for the local target)")
    if url.username is not None or url.password is not None or "@" in url.netloc:
        yield Problem("vault.address", "must not contain credentials (Vault logins use the workload's identity)")
    elif not url.hostname:
        yield Problem("vault.address", "has no host name")
    if port == 0:
        yield Problem("vault.address", "port must be 1-65535")
    if url.path not in ("", "/") or url.query or url.fragment:
        yield Problem("vault.address", "must be scheme://host[:port] only (no path, query or fragment)")


# The self-hosted Vault construct refuses an unpinned image at synth time (modules/vault_task.py,
# validate_pinned_image); the same rule here reports it with the file and field instead of a traceback.


def vault_image_problems(env: EnvironmentConfig) -> Iterable[Problem]:
    image = env.vault.image
    if env.vault.mode != "self-hosted":
        return
    why = aws_rules.image_reference_problem(image)
    if why is not None:
        yield Problem("vault.image", f"not a container image reference ({why}): {shown(image)}")
        return
    if PINNED_DIGEST.search(image):
        return
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None or not PINNED_VERSION_TAG.match(tag):
        yield Problem("vault.image", f"pin a version tag (e.g. {VAULT_IMAGE}) or a digest (@sha256:...)")


def kv_mount_problems(env: EnvironmentConfig) -> Iterable[Problem]:
    mount = env.vault.kv_mount.strip("/")
    if not aws_rules.VAULT_MOUNT.fullmatch(mount):
        yield Problem("vault.kv_mount", f"not a Vault mount path (letters, digits, '_.-', '/'): {shown(mount)}")
    elif mount.split("/")[0] in aws_rules.VAULT_RESERVED_MOUNTS:
        reserved = ", ".join(sorted(aws_rules.VAULT_RESERVED_MOUNTS))
        yield Problem("vault.kv_mount", f"{mount!r} is reserved by Vault or the platform ({reserved})")


def secret_in_values(env: EnvironmentConfig) -> Iterable[Problem]:
    """Commands and plain variables land in task definitions: a credential there is a leak."""
    hint = "put the secret in Vault (the task reads it at start-up); the value is not shown"
    commands = {f"services.{n}.command": s.command or [] for n, s in sorted(env.services.items())}
    commands["migration.command"] = env.migration.command
    for fld, argv in commands.items():
        for i, arg in enumerate(argv):
            if contains_secret(arg):
                yield Problem(f"{fld}[{i}]", f"contains a credential; {hint}")
    for name, svc in sorted(env.services.items()):
        for key, value in sorted(svc.environment.items()):
            if contains_secret(value):
                yield Problem(f"services.{name}.environment.{key}", f"contains a credential; {hint}")
