"""Reading manifests as `kubectl apply -f` takes them, for the CLI's cluster-less runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.workflows.manifests import load_manifests

ROOT = Path(__file__).resolve().parents[2]


def test_the_dev_manifests_hold_one_environment_and_the_seed_regions() -> None:
    manifests = load_manifests([ROOT / "manifests" / "dev"])
    (env,) = manifests.environments
    assert (env.name, env.spec.account_id, env.spec.tier) == ("dev", "111111111111", "dev")
    regions = {r.name: r.spec for r in manifests.regions_of(env)}
    assert {name: spec.aws_region for name, spec in regions.items()} == {
        "dev-london": "eu-west-2",
        "dev-sydney": "ap-southeast-2",
    }
    assert regions["dev-london"].network.vpc_cidr == "10.0.0.0/16"
    assert regions["dev-london"].network.private_subnet_cidrs == ["10.0.3.0/24", "10.0.4.0/24"]


def test_a_secret_in_the_manifests_provides_the_credentials(tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_text(
        """
apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: team}
data: {aws_access_key_id: QUtJQQ==}
stringData: {aws_secret_access_key: s3cr3t}
---
apiVersion: cutlass.tech/v1alpha1
kind: CutlassEnvironment
metadata: {name: dev, namespace: team}
spec:
  accountId: "123456789012"
  tier: dev
  notifications: {senderEmail: alerts@example.com}
  credentials: {source: Secret, secretRef: {name: aws}}
"""
    )
    manifests = load_manifests([tmp_path])
    assert manifests.secret_for(manifests.environments[0]) == {
        "aws_access_key_id": "AKIA",
        "aws_secret_access_key": "s3cr3t",
    }


def test_an_invalid_manifest_names_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: cutlass.tech/v1alpha1\nkind: CutlassEnvironment\nmetadata: {name: dev}\n"
        "spec: {accountId: '12345678901', tier: dev}\n"
    )
    with pytest.raises(TerminalError) as caught:
        load_manifests([bad])
    assert str(bad) in caught.value.message and "spec.accountId" in caught.value.message
