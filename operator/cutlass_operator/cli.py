"""The `cutlass` command: run | demo | plan | apply | destroy | approve | emulator | crds."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from cutlass_operator.engine.executor import CONCURRENT_CALLS
from cutlass_operator.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_format)
    return int(args.command(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cutlass", description=__doc__)
    parser.add_argument("--log-format", choices=["json", "console", "auto"], default="auto")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the operator against the cluster in KUBECONFIG or in-cluster")
    run.add_argument("--namespace", "-n", action="append", default=[], help="namespace to watch (repeatable)")
    run.add_argument("--resync-seconds", type=float, default=300.0, help="drift detection interval")
    run.add_argument("--max-workers", type=int, default=CONCURRENT_CALLS, help="concurrent AWS calls per reconcile")
    run.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--metrics-port", type=int, default=8000, help="Prometheus metrics port (0: none)")
    run.set_defaults(command=_run)

    demo = sub.add_parser("demo", help="the operator against embedded emulators, with the example manifests")
    demo.add_argument("-f", "--filename", type=Path, action="append", default=None, help="manifests")
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for Ready")
    demo.set_defaults(command=_demo)

    for name, text in (
        ("plan", "print what would change, writing nothing"),
        ("apply", "reconcile the manifests once without a cluster"),
        ("destroy", "delete what the manifests' regions created, without a cluster"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("-f", "--filename", type=Path, action="append", required=True, help="file or directory")
        if name == "plan":
            cmd.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes")
            cmd.add_argument(
                "--output",
                "-o",
                choices=["text", "markdown", "json"],
                default="text",
                help="markdown: a pull-request comment; json: the same as data",
            )
        cmd.set_defaults(command=_offline, mode=name)

    approve = sub.add_parser("approve", help="approve an object's plan (the annotation cutlass.tech/approve)")
    approve.add_argument("resource", help="cutlassregion/NAME or cutlassenvironment/NAME")
    approve.add_argument("--plan", default=None, help="the plan id (default: the plan its status shows)")
    approve.add_argument("--namespace", "-n", default=None, help="namespace (default: the kubeconfig context's)")
    approve.set_defaults(command=_approve)

    emulator = sub.add_parser("emulator", help="run the embedded AWS emulator alone")
    emulator.add_argument("--port", type=int, default=5000)
    emulator.set_defaults(command=_emulator)

    crds = sub.add_parser("crds", help="generate crds/*.yaml from the models")
    crds.add_argument("--output-dir", type=Path, default=Path("crds"))
    crds.set_defaults(command=_crds)
    return parser


def _run(args: argparse.Namespace) -> int:
    import kopf

    from cutlass_operator.handlers.config import OperatorConfig, operator_settings
    from cutlass_operator.handlers.metrics import OperatorMetrics
    from cutlass_operator.handlers.registry import build_registry

    config = OperatorConfig(
        resync_seconds=args.resync_seconds, namespaces=tuple(args.namespace), max_workers=args.max_workers
    )
    metrics = OperatorMetrics()
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    asyncio.run(
        kopf.operator(
            registry=build_registry(config, metrics),
            settings=operator_settings(config),
            clusterwide=not config.namespaces,
            namespaces=config.namespaces,
            liveness_endpoint=args.liveness,
        )
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cutlass_operator.demo import run_demo

    return run_demo(args.filename or [Path("manifests/dev")], timeout=args.timeout)


def _offline(args: argparse.Namespace) -> int:
    import logging

    from cutlass_operator.engine.errors import TerminalError
    from cutlass_operator.offline import OfflineRun

    logging.getLogger().setLevel(logging.WARNING)  # the plan and the tables are the output
    from cutlass_operator.workflows.manifests import load_manifests
    from cutlass_operator.workflows.report import Mode

    try:
        manifests = load_manifests(args.filename)
    except (TerminalError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    output = getattr(args, "output", "text")
    run = OfflineRun(manifests, Mode(args.mode), echo=print if output == "text" else lambda _: None)
    ok = run.run()
    if output != "text":
        from cutlass_operator.plan_output import as_json, as_markdown, plan_data

        namespaces = {key: obj["metadata"].get("namespace", "default") for key, obj in run.statuses.items()}
        data = plan_data(run.reports, namespaces)
        print(as_json(data) if output == "json" else as_markdown(data), end="")
    elif args.mode != "plan":
        print()
        print(run.tables())
    if output == "text":
        print(f"\nAWS calls: {run.calls.reads} reads, {run.calls.writes} writes")
    if not ok:
        return 1
    changed = any(not lr.plan.empty for report in run.reports.values() for lr in report.layers)
    return 2 if args.mode == "plan" and args.detailed_exitcode and changed else 0


def _approve(args: argparse.Namespace) -> int:
    from cutlass_operator.approve import ApproveError, approve

    try:
        done = approve(args.resource, args.namespace, args.plan)
    except ApproveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(done)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    import threading

    from cutlass_operator.emulator.aws import aws_emulator

    with aws_emulator(args.port) as endpoint:
        print(f"AWS emulator listening on {endpoint}; point tools at it with:")
        print(f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _crds(args: argparse.Namespace) -> int:
    from cutlass_operator.api.crd import write_crds

    for path in write_crds(args.output_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
