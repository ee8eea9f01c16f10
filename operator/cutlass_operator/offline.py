"""`cutlass plan | apply | destroy -f`: the engine without a cluster, for bootstrap, break-glass
and CI pipelines. Statuses are computed exactly as the operator computes them, then printed.

What the operator does by reacting to events, this does in passes: the environment (account,
bootstrap, tables, DNS), then its regions, again until nothing waits any more, since the tables
wait for the regions' keys, the regions' data layer for the tables, and DNS for the regions' APIs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cutlass_operator.api.crd import build_crds
from cutlass_operator.api.environment import CutlassEnvironment, EnvironmentStatus
from cutlass_operator.api.region import CutlassRegion, RegionStatus
from cutlass_operator.aws.calls import CallLog
from cutlass_operator.aws.lease import default_holder
from cutlass_operator.engine.errors import TerminalError
from cutlass_operator.engine.executor import Progress
from cutlass_operator.layers.base import RegionRef
from cutlass_operator.layers.dns import api_endpoint
from cutlass_operator.printing import render_table
from cutlass_operator.workflows.environment import (
    DnsStep,
    apply_environment_report,
    run_environment,
    summarise_regions,
)
from cutlass_operator.workflows.fleet import RegionFacts, clashes, environment_problem, environment_regions
from cutlass_operator.workflows.manifests import ManifestSet
from cutlass_operator.workflows.region import region_conditions, run_region
from cutlass_operator.workflows.report import Mode, Phase, Report, apply_report

Echo = Callable[[str], None]
MAX_PASSES = 6


@dataclass
class OfflineRun:
    manifests: ManifestSet
    mode: Mode
    echo: Echo
    calls: CallLog = field(default_factory=CallLog)
    progress: Progress | None = None
    holder: str = field(default_factory=lambda: f"cutlass-cli/{default_holder()}")
    reports: dict[str, Report] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self) -> bool:
        """Every environment and its regions; False if anything failed or still waits."""
        ok = True
        for env in self.manifests.environments:
            ok &= self._environment(env)
        orphans = [r.name for r in self.manifests.regions if f"CutlassRegion/{r.name}" not in self.statuses]
        for name in orphans:
            self.echo(f"region {name}: its environment is not among the manifests; skipped")
        return ok and not orphans

    def _environment(self, env: CutlassEnvironment) -> bool:
        regions = self.manifests.regions_of(env)
        refused = clashes([self._facts(r) for r in regions])
        for region in regions:
            if region.name in refused:
                self._region_report(env, region, Report(self.mode, error=refused[region.name]))
        regions = [r for r in regions if r.name not in refused]
        blocked = environment_problem(env.spec, self._refs(regions)) if self.mode != Mode.DESTROY else None
        if blocked is not None:  # nothing of the environment is written, its regions' included
            for region in regions:
                self._region_report(env, region, Report(self.mode, error=blocked))
            self._env_status(env, self._report_env(env, Report(self.mode, error=blocked)), [], regions)
            return False
        if self.mode == Mode.DESTROY:
            # Replicas go before the regions' keys, the lease table and bucket after the regions;
            # again while something only waits (a replica still going, a throttled call).
            refs = self._refs(regions)
            for _ in range(MAX_PASSES):
                reports = [self._run_env(env, refs, with_bootstrap=False)]
                reports += self._regions(env, regions)
                if _settled(reports):
                    break
            env_report = reports[0]
            if all(r.ok for r in reports):  # the regions are gone: the lease table and the bucket may go
                env_report = self._run_env(env, [], with_bootstrap=True)
                reports.append(env_report)
            self._env_status(env, env_report, refs, regions)
            return not refused and all(r.ok for r in reports)
        if self.mode == Mode.PLAN:  # the regions first: DNS plans with their endpoints
            self._regions(env, regions)
            refs = self._refs(regions)
            self._env_status(env, self._run_env(env, refs), refs, regions)
            return True
        for attempt in range(MAX_PASSES):
            # DNS waits until the regions have run once: before, each would look unroutable, and
            # its records would go only to come back.
            known = all(f"CutlassRegion/{r.name}" in self.reports for r in regions)
            refs = self._refs(regions)
            env_report = self._run_env(env, refs, dns=DnsStep.INCLUDED if known else DnsStep.SKIPPED)
            if env_report.caller_arn:
                self._regions(env, [r for r in regions if not self._ok(r)])
            region_reports = [self.reports[f"CutlassRegion/{r.name}"] for r in regions if env_report.caller_arn]
            last = attempt == MAX_PASSES - 1 or _settled([env_report, *region_reports])
            if not known and env_report.caller_arn and last:
                # The regions have run and no pass follows to include DNS: DNS now, on its own.
                # (When one follows, DNS waits for it: a run of the environment less on the way.)
                refs = self._refs(regions)
                env_report = _joined(env_report, self._run_env(env, refs, dns=DnsStep.ALONE))
                self.reports[f"CutlassEnvironment/{env.name}"] = env_report
            everything = [env_report, *region_reports]
            if _settled(everything):
                break
        self._env_status(env, env_report, refs, regions)
        return not refused and all(r.ok for r in everything)

    def _facts(self, region: CutlassRegion) -> RegionFacts:
        """The region as the environment sees it, from this run's last reconcile of it."""
        report = self.reports.get(f"CutlassRegion/{region.name}")
        api = next((lr.outputs for lr in report.layers if lr.layer == "api"), None) if report else None
        return RegionFacts(
            name=region.name,
            region=region.spec.region,
            aws_region=region.spec.aws_region,
            ready=report is not None and report.ok,
            endpoint=api_endpoint(api),
            certificate=region.spec.api.certificate_arn is not None,
        )

    def _refs(self, regions: list[CutlassRegion]) -> list[RegionRef]:
        # Which regions Route 53 routes now is not known here: a failing region is held, and the
        # environment reads its records from Route 53 to keep them.
        return environment_regions([self._facts(r) for r in regions], routed=None)

    def _report_env(self, env: CutlassEnvironment, report: Report) -> Report:
        self.reports[f"CutlassEnvironment/{env.name}"] = report
        self._show(f"{self.mode} environment {env.metadata.namespace}/{env.name}", report)
        return report

    def _run_env(
        self,
        env: CutlassEnvironment,
        refs: list[RegionRef],
        with_bootstrap: bool = True,
        dns: DnsStep = DnsStep.INCLUDED,
    ) -> Report:
        report = run_environment(
            env,
            regions=refs,
            mode=self.mode,
            secret=self.manifests.secret_for(env),
            calls=self.calls,
            holder=self.holder,
            with_bootstrap=with_bootstrap,
            dns=dns,
        )
        return self._report_env(env, report)

    def _regions(self, env: CutlassEnvironment, regions: list[CutlassRegion]) -> list[Report]:
        """The regions at once (each is its own workspace, as the operator runs them), reported in order."""
        secret = self.manifests.secret_for(env)

        def run(region: CutlassRegion) -> Report:
            return run_region(
                env, region, mode=self.mode, secret=secret, calls=self.calls, progress=self.progress, holder=self.holder
            )

        with ThreadPoolExecutor(max_workers=max(1, len(regions)), thread_name_prefix="cutlass-region") as pool:
            runs = [pool.submit(run, region) for region in regions]
            return [self._region_report(env, region, done.result()) for region, done in zip(regions, runs, strict=True)]

    def _ok(self, region: CutlassRegion) -> bool:
        last = self.reports.get(f"CutlassRegion/{region.name}")
        return last is not None and last.ok

    def _region_report(self, env: CutlassEnvironment, region: CutlassRegion, report: Report) -> Report:
        self.reports[f"CutlassRegion/{region.name}"] = report
        self._show(f"{self.mode} region {region.metadata.namespace}/{region.name} ({region.spec.aws_region})", report)
        status = RegionStatus(environment=env.name)
        apply_report(status, report, region.metadata.generation, region_conditions())
        if self.mode == Mode.DESTROY:  # what is gone is not Ready, whatever its last layers said
            status.conditions = [c for c in status.conditions if c.type == "Synced"]
            status.phase = Phase.DELETED if report.ok else Phase.DELETING
        self.statuses[f"CutlassRegion/{region.name}"] = _object(region, status)
        return report

    def _env_status(
        self, env: CutlassEnvironment, report: Report, refs: list[RegionRef], regions: list[CutlassRegion]
    ) -> None:
        ready = {r.name: self.reports[f"CutlassRegion/{r.name}"].ok and self.mode == Mode.APPLY for r in regions}
        status = EnvironmentStatus(regions=summarise_regions(ready))
        apply_environment_report(status, report, env.metadata.generation, refs, env.spec.domain)
        self.statuses[f"CutlassEnvironment/{env.name}"] = _object(env, status)

    def _show(self, title: str, report: Report) -> None:
        self.echo(f"{title}:")
        if report.layers or report.first_error:
            self.echo("  " + report.render().replace("\n", "\n  "))

    def tables(self) -> str:
        crds = {crd["spec"]["names"]["kind"]: crd for crd in build_crds()}
        parts = []
        for kind in ("CutlassEnvironment", "CutlassRegion"):
            objects = [obj for key, obj in self.statuses.items() if key.startswith(kind + "/")]
            if objects:
                parts.append(render_table(crds[kind], objects))
        return "\n\n".join(parts)


def _settled(reports: list[Report]) -> bool:
    """Nothing more for another pass to do: everything succeeded, or something cannot until edited."""
    return all(r.ok for r in reports) or any(isinstance(r.first_error, TerminalError) for r in reports)


def _joined(first: Report, second: Report) -> Report:
    """One report of the environment from two runs of its layers."""
    return Report(first.mode, [*first.layers, *second.layers], first.error or second.error, first.caller_arn)


def _object(resource: CutlassEnvironment | CutlassRegion, status: EnvironmentStatus | RegionStatus) -> dict[str, Any]:
    body = resource.model_dump(by_alias=True, mode="json")
    body["status"] = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    return body
