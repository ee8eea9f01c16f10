"""Manifests moved into a test's own account: moto isolates accounts, so tests never see each other."""

from __future__ import annotations

from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.workflows.manifests import ManifestSet


def in_account(manifests: ManifestSet, account: str) -> ManifestSet:
    """The same manifests acting in another account: its role assumed there, its regions'
    certificates issued there (a certificate of another account is refused before any write)."""
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
    regions = [_certificate_in(region, account) for region in manifests.regions]
    return ManifestSet(environments, regions, manifests.secrets, manifests.documents)


def _certificate_in(region: CutlassRegion, account: str) -> CutlassRegion:
    arn = region.spec.api.certificate_arn
    if arn is None:
        return region
    parts = arn.split(":", 5)  # arn:aws:acm:<region>:<account>:certificate/<id>
    parts[4] = account
    api = region.spec.api.model_copy(update={"certificate_arn": ":".join(parts)})
    return region.model_copy(update={"spec": region.spec.model_copy(update={"api": api})})
