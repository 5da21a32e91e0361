"""The self-hosted Vault's task: its configuration, container settings and execution permissions.

Pure functions producing `TaskDefinitionProps` for the shared `FargateTaskDefinition`; the image pin
rule lives here too. No resources are created in this module.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from modules.cdk import Token
from modules.settings import PINNED_DIGEST, PINNED_VERSION_TAG, VAULT_IMAGE
from modules.task_definition import TaskDefinitionProps
from modules.vault_lb import VAULT_PORT

if TYPE_CHECKING:
    from modules.vault_server import SelfHostedVaultProps

CLUSTER_PORT = 8201
TLS_DIR = "/vault/tls"
TLS_CERT_FILE = f"{TLS_DIR}/tls.crt"
TLS_KEY_FILE = f"{TLS_DIR}/tls.key"
CONTAINER_NAME = "vault"


def validate_pinned_image(image: str, prop: str = "image") -> str:
    """Return `image` if it is pinned to a version tag or a digest; raise ValueError naming `prop`."""
    if PINNED_DIGEST.search(image):
        return image
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    if tag is None:
        raise ValueError(f"{prop}={image!r} has no tag; pin a version tag (e.g. {VAULT_IMAGE}) or a digest")
    if tag == "latest" or not PINNED_VERSION_TAG.match(tag):
        raise ValueError(
            f"{prop}={image!r} is not pinned: tag {tag!r} names no version; use a version tag "
            f"(e.g. {VAULT_IMAGE}) or @sha256:<digest>"
        )
    return image


def vault_config(
    address: str, region: str, table_name: str, unseal_key_id: str, telemetry: dict[str, object]
) -> dict[str, Any]:
    """Vault's server configuration (VAULT_LOCAL_CONFIG): no secret in it, only names and paths."""
    return {
        "ui": False,
        # Fargate grants no IPC_LOCK; swap is off on Fargate, so mlock adds nothing there.
        "disable_mlock": True,
        "api_addr": address,
        "cluster_addr": f"https://{{{{ GetPrivateIP }}}}:{CLUSTER_PORT}",
        "storage": {"dynamodb": {"ha_enabled": "true", "region": region, "table": table_name}},
        "seal": {"awskms": {"region": region, "kms_key_id": unseal_key_id}},
        "listener": {
            "tcp": {
                "address": f"0.0.0.0:{VAULT_PORT}",
                "cluster_address": f"0.0.0.0:{CLUSTER_PORT}",
                "tls_cert_file": TLS_CERT_FILE,
                "tls_key_file": TLS_KEY_FILE,
                "tls_min_version": "tls12",
            }
        },
        "telemetry": dict(telemetry),
    }


def vault_task_props(
    props: SelfHostedVaultProps, config: dict[str, Any], task_role_arn: str, region: str, log_key_arn: str
) -> TaskDefinitionProps:
    # The secrets arrive as environment variables set by the ECS agent (values never in the
    # task definition); they are written to a task-local volume readable by the vault user and
    # removed from the environment before Vault starts.
    start = (
        "set -eu; umask 077; "
        f'printf "%s\\n" "$VAULT_TLS_CERT" > {TLS_CERT_FILE}; '
        f'printf "%s\\n" "$VAULT_TLS_KEY" > {TLS_KEY_FILE}; '
        f"chown -R vault:vault {TLS_DIR}; "
        "unset VAULT_TLS_CERT VAULT_TLS_KEY; "
        "exec docker-entrypoint.sh server"
    )
    return TaskDefinitionProps(
        name=props.name, image=props.image, cpu=props.cpu, memory=props.memory, container_name=CONTAINER_NAME,
        environment={
            "VAULT_LOCAL_CONFIG": json.dumps(config, sort_keys=True),
            # The image would otherwise try setcap on a read-only filesystem.
            "SKIP_SETCAP": "true",
        },
        entry_point=["/bin/sh", "-c"], command=[start], port=VAULT_PORT, extra_ports=[CLUSTER_PORT],
        secrets={"VAULT_TLS_CERT": props.tls_cert_secret_arn, "VAULT_TLS_KEY": props.tls_key_secret_arn},
        # Vault's entrypoint starts as root to hand the TLS files to the `vault` user, then drops to it.
        user=None, scratch_volumes={"config": "/vault/config", "tls": TLS_DIR},
        log_retention_days=props.log_retention_days, stream_prefix="vault", log_kms_key_arn=log_key_arn,
        task_role_arn=task_role_arn, execution_role_suffix="execution",
        execution_statements=execution_statements(props, region),
    )  # fmt: skip


def execution_statements(props: SelfHostedVaultProps, region: str) -> list[dict[str, Any]]:
    secret_arns = [props.tls_cert_secret_arn, props.tls_key_secret_arn]
    sm = sorted({_secret_resource(a) for a in secret_arns if not _is_ssm(a)})
    ssm = sorted({a for a in secret_arns if _is_ssm(a)})
    statements: list[dict[str, object]] = []  # its log group: FargateTaskDefinition
    if sm:
        statements.append(
            {
                "Sid": "ReadVaultTlsSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sm,
            }
        )
    if ssm:
        statements.append(
            {"Sid": "ReadVaultTlsParameters", "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": ssm}
        )
    if props.tls_secrets_kms_key_arn:
        statements.append(
            {
                "Sid": "DecryptVaultTlsSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": props.tls_secrets_kms_key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [f"secretsmanager.{region}.amazonaws.com", f"ssm.{region}.amazonaws.com"]
                    }
                },
            }
        )
    return statements


def _is_ssm(arn: str) -> bool:
    return not Token.is_unresolved(arn) and arn.split(":")[2:3] == ["ssm"]


def _secret_resource(arn: str) -> str:
    """The IAM resource of a Secrets Manager `valueFrom` (drops a `:json-key:stage:version` suffix)."""
    if Token.is_unresolved(arn):
        return arn
    return ":".join(arn.split(":")[:7])
