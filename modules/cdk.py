"""The one place that imports the CDK for Terraform core library.

cdktf is archived upstream (Dec 2025); the community fork CDK Terrain (`cdktn`) renames the
packages. Keeping every core import here makes that switch a one-file change
(docs/adr/0001-cdktf-and-provider-versions.md).
"""

from __future__ import annotations

from modules.aws import NODE_INDEX_PIN
from modules.node_runtime import kernel_environment

# The first cdktf import starts the jsii kernel (Node): it starts with the lazy provider index hook.
with kernel_environment(NODE_INDEX_PIN):
    from cdktf import (
        App,
        DataResource,
        Fn,
        LocalBackend,
        LocalExecProvisioner,
        S3Backend,
        TerraformAsset,
        TerraformOutput,
        TerraformResource,
        TerraformResourceLifecycle,
        TerraformStack,
        Token,
    )
    from constructs import Construct

__all__ = [
    "App",
    "Construct",
    "DataResource",
    "Fn",
    "LocalBackend",
    "LocalExecProvisioner",
    "S3Backend",
    "TerraformAsset",
    "TerraformOutput",
    "TerraformResource",
    "TerraformResourceLifecycle",
    "TerraformStack",
    "Token",
]
