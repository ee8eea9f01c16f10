"""The account's bootstrap, the operator's analogue of the seed's lock table: the lease table that
keeps two operators from changing one workspace at once. Created once per environment in its
primary region. (The seed's state bucket has no analogue: the operator keeps no state file, and
the functions' packages go to each region's artifact bucket, made by that region's data layer.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cutlass_operator.engine.identity import LEASE_TABLE
from cutlass_operator.engine.resource import Desired, Observed, Scope
from cutlass_operator.layers.base import EnvironmentInputs
from cutlass_operator.props.dynamodb import AttributeDefinition, KeyElement, TableProps

LAYER = "bootstrap"
LEASES = f"{LAYER}/leases"


class BootstrapLayer:
    name = LAYER
    condition = "BootstrapReady"
    holds_data = False  # the leases are the operator's bookkeeping, never user data: always deleted

    def kinds(self, inputs: EnvironmentInputs) -> Sequence[Scope]:
        return [Scope(TableProps, name_prefix=LEASE_TABLE)]

    def desired(self, inputs: EnvironmentInputs) -> list[Desired[Any]]:
        ws = inputs.workspace
        leases = TableProps(
            table_name=LEASE_TABLE,
            key_schema=(KeyElement("workspace", "HASH"),),
            attribute_definitions=(AttributeDefinition("workspace", "S"),),
            billing_mode="PAY_PER_REQUEST",
            global_secondary_indexes=(),
            stream_view_type=None,
            kms_key_arn=None,
            point_in_time_recovery=False,
            ttl_attribute="expiresAt",
            deletion_protection=False,
            replicas=(),
            prune_replicas=True,
        )
        return [Desired(LEASES, leases, LEASE_TABLE, ws.tags(LAYER, LEASES, LEASE_TABLE))]

    def outputs(self, observed: Mapping[str, Observed]) -> dict[str, Any]:
        leases = observed.get(LEASES)
        return {"leaseTable": leases.outputs.get("name") if leases else None}
