"""`cutlass plan | apply | destroy -f`: the engine without a cluster, for bootstrap, break-glass
and CI pipelines. Statuses are computed exactly as the operator computes them, then printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cutlass_operator.api.crd import build_crds
from cutlass_operator.api.environment import CutlassEnvironment, EnvironmentStatus
from cutlass_operator.api.region import CutlassRegion, RegionStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.engine.executor import Progress
from cutlass_operator.printing import render_table
from cutlass_operator.workflows.environment import apply_environment_report, run_environment, summarise_regions
from cutlass_operator.workflows.manifests import ManifestSet
from cutlass_operator.workflows.region import region_conditions, run_region
from cutlass_operator.workflows.report import Mode, Report, apply_report

Echo = Callable[[str], None]


@dataclass
class OfflineRun:
    manifests: ManifestSet
    mode: Mode
    echo: Echo
    calls: CallLog = field(default_factory=CallLog)
    progress: Progress | None = None
    reports: dict[str, Report] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self) -> bool:
        """Environments first (the account guard), then their regions; False if anything failed."""
        ok = True
        for env in self.manifests.environments:
            env_report = run_environment(env, secret=self.manifests.secret_for(env), calls=self.calls)
            regions: dict[str, bool] = {}
            for region in self.manifests.regions_of(env):
                report = self._region(env, region) if env_report.ok else env_report
                regions[region.name] = report.ok and self.mode == Mode.APPLY
                ok &= report.ok
            self._environment_status(env, env_report, regions)
            ok &= env_report.ok
        orphans = [r.name for r in self.manifests.regions if r.name not in self.reports]
        for name in orphans:
            self.echo(f"region {name}: its environment is not among the manifests; skipped")
        return ok and not orphans

    def _region(self, env: CutlassEnvironment, region: CutlassRegion) -> Report:
        secret = self.manifests.secret_for(env)
        report = run_region(env, region, mode=self.mode, secret=secret, calls=self.calls, progress=self.progress)
        self.reports[region.name] = report
        self.echo(f"{self.mode} {region.metadata.namespace}/{region.name} ({region.spec.aws_region}):")
        self.echo("  " + report.render().replace("\n", "\n  "))
        status = RegionStatus()
        apply_report(status, report, region.metadata.generation, region_conditions())
        status.environment = env.name
        self.statuses[f"CutlassRegion/{region.name}"] = _object(region, status)
        return report

    def _environment_status(self, env: CutlassEnvironment, report: Report, regions: dict[str, bool]) -> None:
        status = EnvironmentStatus(regions=summarise_regions(regions))
        apply_environment_report(status, report, env.metadata.generation)
        self.statuses[f"CutlassEnvironment/{env.name}"] = _object(env, status)
        if report.first_error:
            self.echo(f"environment {env.name}: {report.first_error.reason}: {report.first_error.message}")

    def tables(self) -> str:
        crds = {crd["spec"]["names"]["kind"]: crd for crd in build_crds()}
        parts = []
        for kind in ("CutlassEnvironment", "CutlassRegion"):
            objects = [obj for key, obj in self.statuses.items() if key.startswith(kind + "/")]
            if objects:
                parts.append(render_table(crds[kind], objects))
        return "\n\n".join(parts)


def _object(resource: CutlassEnvironment | CutlassRegion, status: EnvironmentStatus | RegionStatus) -> dict[str, Any]:
    body = resource.model_dump(by_alias=True, mode="json")
    body["status"] = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    return body
