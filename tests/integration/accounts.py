"""Manifests moved into a test's own account: moto isolates accounts, so tests never see each other."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import boto3

from cutlass_operator.api.environment import Credentials, CredentialsSource
from cutlass_operator.api.region import CutlassRegion
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.session import environment_session
from cutlass_operator.offline import OfflineRun
from cutlass_operator.workflows.manifests import ManifestSet, load_manifests
from cutlass_operator.workflows.report import Mode

DEV_MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "dev"


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


def converged_dev(account: str) -> tuple[ManifestSet, OfflineRun]:
    """manifests/dev converged in `account`, as `cutlass apply -f manifests/dev` would."""
    logging.getLogger("cutlass_operator").setLevel(logging.WARNING)
    manifests = in_account(load_manifests([DEV_MANIFESTS]), account)
    run = OfflineRun(manifests, Mode.APPLY, echo=lambda _: None)
    assert run.run(), {name: r.first_error for name, r in run.reports.items() if r.first_error}
    return manifests, run


def dev_run(
    account: str, mode: Mode, calls: CallLog | None = None, holder: str | None = None
) -> tuple[bool, float, OfflineRun]:
    """One `cutlass apply` (or plan, or destroy) of manifests/dev in `account`: ok, seconds, the run."""
    manifests = in_account(load_manifests([DEV_MANIFESTS]), account)
    run = OfflineRun(manifests, mode, echo=lambda _: None, calls=calls or CallLog())
    if holder is not None:
        run.holder = holder
    started = time.perf_counter()
    ok = run.run()
    return ok, time.perf_counter() - started, run


def run_errors(run: OfflineRun) -> dict[str, str]:
    """Each failed object's first error, for an assertion's message."""
    return {n: f"{r.first_error.reason}: {r.first_error.message}" for n, r in run.reports.items() if r.first_error}


def operator_session(account: str, aws_region: str) -> boto3.Session:
    """A session as the operator's: the manifests' role, assumed in `account`."""
    creds = Credentials(source=CredentialsSource.ASSUME_ROLE, role_arn=f"arn:aws:iam::{account}:role/cutlass-operator")
    return environment_session(creds, None, aws_region)
