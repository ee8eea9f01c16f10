"""deploy/iam's policies pass parliament, a maintained IAM policy linter, with no finding at all.

parliament (duo-labs) checks each policy against its bundled copy of AWS's Service Authorization
Reference: every action exists, every Resource fits the resource types of the actions it is given
to (an ARN of a type the action does not take, or `*` where the action takes a resource, is a
finding), every condition key and operator is valid for the actions and values of its statement.
Its default auditors run; the optional community auditors do not, as they flag by design what the
operator is for (creating roles and passing them to Lambda, managing keys and their policies).

Any finding fails, unless FALSE_POSITIVES lists it with the reason it is not a fault. The bundled
Reference is dated (parliament 1.6.4): an action it lacks would be reported as unknown; such
actions go in MISSING_FROM_THE_REFERENCE with the evidence they exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import parliament
import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICIES = sorted((ROOT / "deploy" / "iam").glob("operator-policy*.json"))


@dataclass(frozen=True)
class Known:
    """A finding not to fail on: its policy file, parliament's issue code, text its detail contains."""

    policy: str
    issue: str
    detail: str
    reason: str

    def covers(self, policy: str, finding: Any) -> bool:
        return policy == self.policy and finding.issue == self.issue and self.detail in str(finding.detail)


# None today. KmsWorkspaceAliases once drew a RESOURCE_MISMATCH that was one: an alias action needs
# both the alias and its key, and the two ARNs sat in two statements (IAM takes the union; parliament
# judges each statement alone); the statement now names both, which says the same more plainly.
FALSE_POSITIVES: tuple[Known, ...] = ()

# Actions the policies use that parliament's copy of the Reference does not know yet. None today.
MISSING_FROM_THE_REFERENCE: tuple[Known, ...] = ()


def findings(policy: Path) -> list[Any]:
    analysed = parliament.analyze_policy_string(policy.read_text(), str(policy.relative_to(ROOT)))
    return list(analysed.findings)


def test_there_are_four_policies_to_lint() -> None:
    assert [p.name for p in POLICIES] == [
        "operator-policy-api.json",
        "operator-policy-application.json",
        "operator-policy-dns.json",
        "operator-policy.json",
    ]


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_the_policy_has_no_parliament_finding_but_the_listed_ones(policy: Path) -> None:
    found = findings(policy)
    listed = [k for k in (*FALSE_POSITIVES, *MISSING_FROM_THE_REFERENCE) if k.policy == policy.name]
    unexplained = [
        f"{f.issue}: {f.detail} (line {f.location.get('line', '?')})"
        for f in found
        if not any(known.covers(policy.name, f) for known in listed)
    ]
    assert not unexplained, "\n".join(unexplained)
    # An exception whose finding is gone (the policy or parliament changed) would hide the next one.
    stale = [known for known in listed if not any(known.covers(policy.name, f) for f in found)]
    assert not stale, stale


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        pytest.param({"Action": "s3:GetObjekt", "Resource": "*"}, "UNKNOWN_ACTION", id="an action that does not exist"),
        pytest.param(
            {"Action": "s3:GetObject", "Resource": "arn:aws:dynamodb:*:*:table/x"},
            "RESOURCE_MISMATCH",
            id="a resource the action does not take",
        ),
        pytest.param(
            {"Action": "dynamodb:GetItem", "Resource": "*"}, "RESOURCE_STAR", id="a star where a resource can be named"
        ),
        pytest.param(
            {
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "lambda.eu-west-2.amazonaws.com"}},
            },
            "UNKNOWN_CONDITION_FOR_ACTION",
            id="a condition key the action does not have",
        ),
    ],
)
def test_the_linter_reports_what_this_lint_relies_on_it_for(statement: dict[str, Any], issue: str) -> None:
    """The checks the policies pass are real ones: a policy with the fault gets the finding."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}
    assert issue in issues, issues
