"""Manifests moved into a test's own account: moto isolates accounts, so tests never see each other."""

from __future__ import annotations

from cutlass_operator.workflows.manifests import ManifestSet


def in_account(manifests: ManifestSet, account: str) -> ManifestSet:
    """The same manifests acting in another account (its role assumed there)."""
    environments = [
        env.model_copy(
            update={
                "spec": env.spec.model_copy(
                    update={
                        "account_id": account,
                        "credentials": env.spec.credentials.model_copy(
                            update={"role_arn": f"arn:aws:iam::{account}:role/cutlass-operator"}
                        ),
                    }
                )
            }
        )
        for env in manifests.environments
    ]
    return ManifestSet(environments, manifests.regions, manifests.secrets, manifests.documents)
