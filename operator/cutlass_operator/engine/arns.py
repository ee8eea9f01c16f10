"""ARNs and IAM paths built from parts, where one is needed before the resource exists.

Pure (no boto3), so desired-state builders can use it.
"""

from __future__ import annotations

from cutlass_operator.engine.identity import PREFIX


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix(region: str) -> str:
    """The domain AWS's endpoints live under in the region's partition."""
    return "amazonaws.com.cn" if partition(region) == "aws-cn" else "amazonaws.com"


def log_group_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:{partition(region)}:logs:{region}:{account_id}:log-group:{name}"


def role_path(workspace: str, family: str) -> str:
    """The IAM path of a family's roles in a workspace; IAM lists roles by path prefix."""
    return f"/{PREFIX}/{workspace}/{family}/"
