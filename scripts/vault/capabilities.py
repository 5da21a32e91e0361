"""What the Vault-API server offers, detected with reads instead of assumed from its brand.

- AWS IAM auth: an `aws` auth mount already at our path, or an `aws` entry in the auth plugin
  catalog (built into HashiCorp Vault; an external plugin OpenBao must have registered).
- Audit devices through the API: OpenBao reports `unsafe_allow_api_audit_creation` in its
  sanitized configuration and refuses API-created audit devices unless it is true; HashiCorp Vault
  has no such setting and allows them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

log = logging.getLogger(__name__)

AWS_PLUGIN_HINT = (
    "register the external `aws` auth plugin (OpenBao: download openbao-plugin-auth-aws into the "
    "server's plugin_directory, then `bao plugin register -sha256=<sum> auth aws`), or use HashiCorp "
    "Vault, where AWS IAM auth is built in"
)


def audit_block(path: str, file_path: str) -> str:
    """The server-config stanza that declares a file audit device (what OpenBao needs)."""
    return f'audit "file" "{path}" {{\n  options {{\n    file_path = "{file_path}"\n  }}\n}}\n'


@dataclass(frozen=True)
class ServerCapabilities:
    aws_auth: bool
    api_audit: bool
    product: str  # "openbao" or "vault": for messages only


def _get(client: hvac.Client, path: str, if_forbidden: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        answer = client.adapter.get(path)
    except (hvac.exceptions.InvalidPath, hvac.exceptions.UnsupportedOperation):
        return None
    except hvac.exceptions.Forbidden:
        # A token without sudo on sys/plugins or sys/config: assume Vault's defaults; the write
        # itself then fails with the server's own message.
        log.warning("the token may not read %s; assuming the server's defaults", path)
        return if_forbidden
    return answer if isinstance(answer, dict) else None


def detect(client: hvac.Client, aws_auth_path: str) -> ServerCapabilities:
    """Reads only (needs a token allowed to read sys/auth, the plugin catalog and sys/config)."""
    auths = client.sys.list_auth_methods()
    auths = auths.get("data", auths) if isinstance(auths.get("data"), dict) else auths
    mounted_aws = (auths.get(aws_auth_path.strip("/") + "/") or {}).get("type") == "aws"
    aws = mounted_aws or _get(client, "/v1/sys/plugins/catalog/auth/aws", {}) is not None
    config = (_get(client, "/v1/sys/config/state/sanitized", None) or {}).get("data") or {}
    declarative_audit = "unsafe_allow_api_audit_creation" in config
    api_audit = not declarative_audit or bool(config.get("unsafe_allow_api_audit_creation"))
    status = client.sys.read_seal_status()
    product = "openbao" if declarative_audit or "commit_date" in status else "vault"
    return ServerCapabilities(aws_auth=aws, api_audit=api_audit, product=product)
