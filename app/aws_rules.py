"""What AWS (and PostgreSQL, Vault) refuse, with where each rule comes from (docs/adr/0015).

Maintained data first: regions and partitions come from botocore's bundled `endpoints.json`, and
shape constraints (RDS instance class, KMS alias, ALB health-check path) from botocore's service
models - botocore ships with boto3, which the project already pins, so the rules move with it.
Where AWS publishes no machine-readable source (S3 bucket naming, VPC address restrictions, RDS
storage limits, Availability Zone letters, PostgreSQL keywords, Vault's protected mounts), the
rule is written out here with the document it follows.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any


@functools.cache
def _loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


@functools.cache
def _partitions() -> dict[str, str]:
    """region -> partition (`aws`, `aws-cn`, `aws-us-gov`, ...), from botocore's endpoints.json."""
    data = _loader().load_data("endpoints")
    return {region: p["partition"] for p in data["partitions"] for region in p["regions"]}


def region_partition(region: str) -> str | None:
    """The partition of a region botocore knows, else None (the region does not exist)."""
    return _partitions().get(region)


def known_regions() -> list[str]:
    return sorted(_partitions())


@functools.cache
def _shape(service: str, shape: str) -> dict[str, Any]:
    return dict(_loader().load_service_model(service, "service-2")["shapes"][shape])


def shape_ok(service: str, shape: str, value: str) -> bool:
    """`value` within the service model's `min`/`max` length and `pattern` (fully matched)."""
    spec = _shape(service, shape)
    if not spec.get("min", 0) <= len(value) <= spec.get("max", len(value)):
        return False
    pattern = spec.get("pattern")
    return pattern is None or re.fullmatch(pattern, value) is not None


def shape_max(service: str, shape: str) -> int:
    return int(_shape(service, shape)["max"])


# --- ARNs of resources an environment file names (IAM User Guide, "IAM identifiers"; ACM API
# Reference, "CertificateArn"). Declared once: the validation and `vault bootstrap` check the same.
ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):certificate/[\w-]+$")
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


# --- S3 bucket names: S3 User Guide, "General purpose bucket naming rules". -----------------
S3_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 refuses the name (None: it accepts it)."""
    if not S3_BUCKET_CHARS.fullmatch(name):
        return "must be 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit"
    if ".." in name:
        return "must not contain two adjacent periods"
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        return "must not be formatted as an IP address"
    for prefix in S3_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix!r}"
    for suffix in S3_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix!r}"
    return None


# --- VPC IPv4 CIDRs: Amazon VPC User Guide, "VPC CIDR blocks" (restrictions), and RFC 6890. ---
VPC_FORBIDDEN = {
    "0.0.0.0/8": "the 'this network' block",
    "127.0.0.0/8": "loopback addresses",
    "169.254.0.0/16": "link-local addresses",
    "224.0.0.0/4": "multicast addresses",
    "240.0.0.0/4": "reserved addresses",
}
# Amazon VPC User Guide, "Subnet sizing": a subnet is /16 to /28.
SUBNET_MIN_PREFIX, SUBNET_MAX_PREFIX = 16, 28


def forbidden_vpc_range(net: ipaddress.IPv4Network) -> str | None:
    for block, what in VPC_FORBIDDEN.items():
        if net.overlaps(ipaddress.ip_network(block)):
            return f"{what} ({block})"
    return None


# --- RDS for PostgreSQL storage (gp2/gp3): RDS User Guide, "Amazon RDS DB instance storage". --
RDS_POSTGRES_STORAGE_GIB = (20, 65536)
# RDS User Guide, "Managing capacity automatically with storage autoscaling": the ceiling must be
# at least 10 % above the allocated storage (equal means "no autoscaling" here).
RDS_AUTOSCALING_HEADROOM = 1.10

# --- Availability Zones. There is no offline source of AZ names (botocore has none; the EC2 API
# answers per account). The letters each region's AZ names use, in any account's mapping, from
# the EC2 User Guide "Regions and Zones" tables; tests cross-check them against moto's copy of
# DescribeAvailabilityZones. A region missing here is checked by pattern only.
AZ_LETTERS: dict[str, str] = {
    "af-south-1": "abc", "ap-east-1": "abc", "ap-east-2": "abc", "ap-northeast-1": "abcd",
    "ap-northeast-2": "abcd", "ap-northeast-3": "abc", "ap-south-1": "abc", "ap-south-2": "abc",
    "ap-southeast-1": "abc", "ap-southeast-2": "abc", "ap-southeast-3": "abc", "ap-southeast-4": "abc",
    "ap-southeast-5": "abc", "ap-southeast-6": "abc", "ap-southeast-7": "abc", "ca-central-1": "abd",
    "ca-west-1": "abc", "cn-north-1": "abd", "cn-northwest-1": "abc", "eu-central-1": "abc",
    "eu-central-2": "abc", "eu-north-1": "abc", "eu-south-1": "abc", "eu-south-2": "abc",
    "eu-west-1": "abc", "eu-west-2": "abc", "eu-west-3": "abc", "il-central-1": "abc",
    "me-central-1": "abc", "me-south-1": "abc", "mx-central-1": "abc", "sa-east-1": "abc",
    "us-east-1": "abcdef", "us-east-2": "abc", "us-gov-east-1": "abc", "us-gov-west-1": "abc",
    "us-west-1": "abc", "us-west-2": "abcd",
}  # fmt: skip


def az_problem(region: str, az: str) -> str | None:
    if not az.startswith(region) or not re.fullmatch(r"[a-z]", az[len(region) :]):
        return f"not an AZ of {region} (names are {region}a, {region}b, ...)"
    letters = AZ_LETTERS.get(region)
    if letters is not None and az[-1] not in letters:
        known = ", ".join(region + c for c in letters)
        return f"not an AZ of {region}: the region has no such zone (known: {known})"
    return None


# --- PostgreSQL: reserved key words (src/include/parser/kwlist.h, RESERVED_KEYWORD and
# TYPE_FUNC_NAME_KEYWORD; "SQL Key Words" appendix). RDS refuses them as master user or database
# name ("cannot be a reserved word for the chosen database engine").
POSTGRES_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check
    collate collation column concurrently constraint create cross current_catalog current_date
    current_role current_schema current_time current_timestamp current_user default deferrable desc
    distinct do else end except false fetch for foreign freeze from full grant group having ilike in
    initially inner intersect into is isnull join lateral leading left like limit localtime
    localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
    references returning right select session_user similar some symmetric system_user table
    tablesample then to trailing true union unique user using variadic verbose when where window
    with""".split()  # noqa: SIM905 - the keyword list reads as in the PostgreSQL docs
)
# Names RDS keeps for itself (RDS User Guide, "Master user account privileges").
RDS_RESERVED_USERS = frozenset({"postgres", "rdsadmin", "rds_superuser", "rdsrepladmin", "rdstopmgr"})
RDS_RESERVED_DATABASES = frozenset({"postgres", "rdsadmin", "template0", "template1"})

# --- Vault: mount paths Vault refuses to mount over (vault/mount.go `protectedMounts`, plus the
# singleton paths), and the auth mounts the platform enables itself (scripts/vault/spec.py).
VAULT_RESERVED_MOUNTS = frozenset({"sys", "auth", "audit", "cubbyhole", "identity", "aws", "approle"})
VAULT_MOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,62})*")


# --- ECS: Amazon ECS Developer Guide, "Amazon ECS service quotas": "Tasks per service" is 5,000 and
# not adjustable. The API model has no maximum for desiredCount (botocore: BoxedInteger), so a
# service asking for more is accepted by `terraform plan` and fails at apply or never reaches it.
ECS_MAX_TASKS_PER_SERVICE = 5000

# --- Container image references, as ECS (containerd/Docker) pulls them: the grammar of
# github.com/distribution/reference (reference.go / regexp.go), digests per the OCI image spec
# (descriptor.md: registered algorithms sha256 = 64, sha512 = 128 lowercase hex characters).
#   reference := name [":" tag] ["@" digest];  name := [domain "/"] path-component ["/" path-component]*
#   domain    := host [":" port];  path-component := [a-z0-9]+ (separator [a-z0-9]+)*
#   separator := "." | "_" | "__" | "-"+;  tag := [\w][\w.-]{0,127}
# The first component is a registry only if it contains "." or ":" or is "localhost" (Docker's
# normalisation, which ECS follows: `Acme/app` is the Docker Hub repository `Acme/app`, invalid).
_IMAGE_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
IMAGE_DOMAIN = re.compile(
    rf"(?:{_IMAGE_DOMAIN_COMPONENT}(?:\.{_IMAGE_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
IMAGE_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}")
IMAGE_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
IMAGE_NAME_MAX = 255  # distribution/reference NameTotalLengthMax (domain and path)


def image_reference_problem(image: str) -> str | None:
    """Why the reference does not parse (None: it does). Never echoes the value: callers add `shown`."""
    rest, _, digest = image.partition("@")
    if "@" in image and not IMAGE_DIGEST.fullmatch(digest):
        return "the digest must be @sha256:<64 lowercase hex> (or @sha512:<128>)"
    name, tag = rest, None
    last_slash = rest.rfind("/")
    if ":" in rest[last_slash + 1 :]:
        name, tag = rest.rsplit(":", 1)
    if tag is not None and not IMAGE_TAG.fullmatch(tag):
        return "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    if not name:
        return "has no repository name"
    if len(name) > IMAGE_NAME_MAX:
        return f"the repository name is longer than {IMAGE_NAME_MAX} characters"
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not IMAGE_DOMAIN.fullmatch(first):
            return "the registry must be a host name (or [IPv6]) with an optional :port"
        parts = parts[1:]
    for part in parts:
        if not IMAGE_PATH_COMPONENT.fullmatch(part):
            if part.lower() != part and IMAGE_PATH_COMPONENT.fullmatch(part.lower()):
                return "the repository must be lowercase (registries refuse uppercase repository names)"
            return (
                "each repository path component must be lowercase letters and digits, separated by "
                "'.', '_', '__' or '-'"
            )
    return None
