"""The account's bootstrap, the operator's analogue of the seed's lock table: the lease table that
keeps two operators from changing one workspace at once. Created once per environment in its
primary region. (The seed's state bucket has no analogue: the operator keeps no state file, and
the functions' packages go to each region's artifact bucket, made by that region's data layer.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cutlass_operator.aws.lease import LEASE_TABLE
from cutlass_operator.engine.resource import Desired, Observed, ResourceKind
from cutlass_operator.layers.base import EnvironmentInputs

LAYER = "bootstrap"
LEASES = f"{LAYER}/leases"


class BootstrapLayer:
    name = LAYER
    condition = "BootstrapReady"
    holds_data = False  # the leases are the operator's bookkeeping, never user data: always deleted

    def kinds(self, inputs: EnvironmentInputs) -> Sequence[ResourceKind]:
        from cutlass_operator.resources.dynamodb import TableKind

        return [TableKind(LEASE_TABLE, key_prefix=f"{LAYER}/")]

    def desired(self, inputs: EnvironmentInputs) -> list[Desired]:
        ws = inputs.workspace
        lease_properties = {
            "tableName": LEASE_TABLE,
            "keySchema": [{"attributeName": "workspace", "keyType": "HASH"}],
            "attributeDefinitions": [{"attributeName": "workspace", "attributeType": "S"}],
            "billingMode": "PAY_PER_REQUEST",
            "globalSecondaryIndexes": [],
            "streamViewType": None,
            "kmsKeyArn": None,
            "pointInTimeRecovery": False,
            "ttlAttribute": "expiresAt",
            "deletionProtection": False,
            "replicas": [],
            "pruneReplicas": True,
        }
        return [Desired(LEASES, "dynamodb.table", LEASE_TABLE, lease_properties, ws.tags(LAYER, LEASES, LEASE_TABLE))]

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        leases = observed.get(LEASES)
        return {"leaseTable": leases.outputs.get("name") if leases else None}
