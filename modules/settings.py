"""Settings of constructs that an environment file binds to directly (one declaration, one default).

pydantic only — no cdktf, no provider bindings — so `app.schema` (imported by the operational
tools, which must work when Node/jsii is broken) can compose them into the environment model.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

# Defaults a construct's props and the environment model share, declared once: the environment file
# binds them (app/schema.py), and a construct used without one still gets the same value.
VAULT_IMAGE = "hashicorp/vault:1.17.6"
TASK_CPU = 512
TASK_MEMORY = 1024
HEALTH_CHECK_PATH = "/healthz"
LOG_RETENTION_DAYS = 365
# NAT for the private subnets; the default gives the highest availability.
NatMode = Literal["none", "single", "per_az"]
NAT: NatMode = "per_az"
# Days the state bucket keeps a replaced state version.
STATE_NONCURRENT_VERSION_DAYS = 90
# What pins an image: a tag that carries a version (1.17.6, v1.17, 1.17.6-ent, 1.17.6-alpine) or a
# sha256 digest. The Vault construct refuses anything else; the validation reports it per field.
PINNED_VERSION_TAG = re.compile(r"^v?\d+(\.\d+)+([.+_-][\w.+-]*)?$")
PINNED_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class PostgresSettings(BaseModel):
    """What an environment chooses about its database (`[database]`); safe (production) defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    engine_version: str = "16.4"
    """PostgreSQL version (`16` or `16.4`; majors 13-17). A minor pins it (RDS minor upgrades then show as drift)."""
    instance_class: str = "db.t4g.medium"
    """RDS instance class."""
    allocated_storage: int = 50
    """Initial storage in GiB (at least 20)."""
    max_allocated_storage: int = 200
    """Storage autoscaling ceiling in GiB (equal to `allocated_storage`: no autoscaling)."""
    database_name: str = "app"
    """Name of the initial database."""
    master_username: str = "platform_admin"
    """Master user (its password is managed by RDS in Secrets Manager, never in state)."""
    multi_az: bool = True
    """Standby in a second AZ."""
    deletion_protection: bool = True
    """Refuse deletion (and keep a final snapshot)."""
    backup_retention_days: int = 14
    """Automated backups kept this many days (0-35)."""
    performance_insights: bool = True
    """Performance Insights on."""
    monitoring_interval: int = 60
    """Enhanced monitoring interval in seconds (0 turns it off, and no IAM role is created)."""


class Autoscaling(BaseModel):
    """CPU target tracking of a service; `[services.<name>.autoscaling]` binds to it directly."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    enabled: bool = True
    """Target-tracking autoscaling on CPU (the emulator cannot do it: `local` turns it off)."""
    min_capacity: int = 2
    """Fewest tasks."""
    max_capacity: int = 6
    """Most tasks."""
    cpu_target_percent: int = 60
    """Average CPU the scaler aims for (10-90)."""
