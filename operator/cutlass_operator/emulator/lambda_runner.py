"""Python Lambda functions run by the embedded AWS emulator, without Docker.

Why: moto 5.2.5 runs a function only inside a Docker container (its `LambdaFunction._invoke_lambda`
pulls a Lambda runtime image and starts it). Our machines and CI have no Docker, so every Invoke,
and every delivery by moto's own event source mappings (an SQS message arriving on a mapped queue, a
record on a mapped DynamoDB stream), ended in "error running docker" and a failed invocation: the
application's functions could never run against the emulator.

`install_lambda_runner(endpoint)` patches moto's classes in this process (moto's files on disk are
untouched) so that a function with a `python3.*` runtime and a zip package runs in a child process
of this interpreter instead, the way Lambda's Python runtime would run it:
- a scratch directory per invocation holds the invoked version's own package (moto keeps the code
  bytes of each published version) and the layers it names; the package comes first on `sys.path`,
  then the layers' `python` directories, then this interpreter's boto3 (Lambda ships one too);
- the handler (`Handler` = `package.module.function`) is imported and called with the event and a
  context object (`function_name`, `function_version`, `invoked_function_arn`, `memory_limit_in_mb`,
  `aws_request_id`, `log_group_name`, `log_stream_name`, `get_remaining_time_in_millis()`);
- the child's environment is built from nothing: the function's variables, Lambda's own
  (`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_LAMBDA_FUNCTION_*`, `_HANDLER`, ...), the execution
  role's credentials, assumed through moto's STS backend in the function's account and named after
  the function (so the function acts as `assumed-role/<role>/<function>` in its own account), and
  `AWS_ENDPOINT_URL` pointing at the emulator. Nothing of this process's environment leaks in: its
  `AWS_*` settings and `~/.aws` files belong to the test or the demo, not to the function;
- the result is Lambda's: the handler's JSON, or `{"errorMessage", "errorType", "requestId",
  "stackTrace"}` with `x-amz-function-error: Unhandled` for an uncaught exception, an import or
  handler-name problem (Lambda's `Runtime.*` error types) or a timeout (`Sandbox.Timedout`, "Task
  timed out after N.NN seconds"; `Timeout` counts from the handler call, as the init phase is not
  billed to it). What the function prints or logs goes to the log, never into the payload: its
  START/END/REPORT-framed log lands in CloudWatch Logs (`/aws/lambda/<name>`, one stream per
  invocation) and, for `LogType=Tail`, in the last 4 KB of `x-amz-log-result`;
- Invoke's `Qualifier` selects the version or alias to run (moto ran `$LATEST` whatever it named);
- `Event` invocations run to completion before the call returns (AWS queues them and answers at
  once) and answer 202 with an empty body; `DryRun` runs nothing, as in AWS.
Other runtimes and image functions keep moto's behaviour (Docker).

Event source mappings, where moto's delivery differs from Lambda's in ways the application sees:
- SQS: moto invokes the function once per message (a one-record event) and deletes the message when
  the invocation succeeded. Here the record carries the message's real attributes (receive count,
  timestamps, message attributes, MD5s) and, for a mapping with `ReportBatchItemFailures`, a result
  with a non-empty `batchItemFailures` counts as a failure (Lambda also fails the whole batch for an
  identifier it does not know); the messages that succeeded are deleted and only the failed ones are
  made visible again, at once (AWS leaves them invisible until the visibility timeout passes).
- DynamoDB streams: moto invokes inside the write that made the record, and hands over again every
  record it holds on each later write until one delivery succeeds; here a poller per mapping
  delivers each record once, after the write. moto ignores `FilterCriteria`; here the patterns of
  the simple form (nested objects ending in lists of allowed values, e.g. `{"eventName": ["MODIFY"],
  "dynamodb": {"NewImage": {"region": {"S": ["eu-west-2"]}}}}`, several filters OR-ed) are applied
  before invoking, and records that match none are dropped, as AWS does. A mapping using any other
  filter syntax (`prefix`, `exists`, `anything-but`, `numeric`, ...) is delivered unfiltered, with a
  warning. A disabled mapping invokes nothing (moto ignored `Enabled` for streams).

Not modelled (differences from AWS): no isolation beyond a process (the function can read this
machine's files and reach the network); no memory limit, architecture or runtime minor version (the
code runs on this interpreter, whatever `python3.x` the function names); no concurrency limits or
throttling, and no warm reuse (every invocation is a cold start with an empty `/tmp`). There is no
SQS poller: moto hands a mapping the queue's visible messages only when a message arrives, so a failed
message is retried only when another one arrives, and its receive count (hence its move to the
dead-letter queue after maxReceiveCount) advances only with such deliveries or someone's own
ReceiveMessage. A stream record is handed to the mapping's poller (one worker thread per mapping, so
records arrive in order) when the write that made it completes, and reaches the function once, after
the write has answered, as with Lambda's own poller: failures are logged, not retried, a new mapping
also gets the records written since the shard's last delivery whatever its `StartingPosition`, and
moto empties the shard once a mapping has taken its records (GetRecords no longer returns them). A
disabled stream mapping's records wait for it to be enabled again, as in AWS. SQS `FilterCriteria`,
async retries and destinations are ignored, and an alias's `invoked_function_arn` reads as its
version's ARN (moto resolves the alias before invoking).
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import io
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import get_backend
from moto.core.utils import utcnow
from moto.logs.models import logs_backends
from moto.sqs.models import sqs_backends
from moto.sts.models import sts_backends

logger = logging.getLogger(__name__)

# Lambda's own limits and conventions.
LOG_TAIL_BYTES = 4096  # what `LogType=Tail` returns: the end of the invocation's log
INIT_ALLOWANCE_SECONDS = 10  # Lambda's init phase limit; the handler's Timeout starts after it
ROLE_SESSION_SECONDS = 3600
ROLE_SESSION_REFRESH = timedelta(minutes=20)  # longer than the longest Timeout (15 minutes)
TIMEOUT_EXIT = 124  # the child's exit status when its own timer ends the handler
LAMBDA_PATH = "/usr/local/bin:/usr/bin:/bin"
# Where each STS backend keeps the execution role sessions handed to functions (see _role_session).
ROLE_SESSIONS_ATTRIBUTE = "cutlass_lambda_role_sessions"
POLLERS_ATTRIBUTE = "cutlass_stream_pollers"
# A stream delivery whose records were all filtered out: truthy, so moto's shard drops them as AWS does.
_NOTHING_DELIVERED = b"null"

_LOCK = threading.Lock()  # the moto server answers each request in its own thread; never held across a child run
_INSTALLED = threading.Event()

# moto's own implementations, taken before install_lambda_runner() replaces them.
_moto_invoke = LambdaFunction.invoke
_moto_invoke_response = LambdaResponse.invoke
_moto_send_sqs_batch = LambdaBackend.send_sqs_batch
_moto_send_dynamodb_items = LambdaBackend.send_dynamodb_items


@dataclass
class _Target:
    """The emulator endpoint that functions' AWS clients are sent to.

    The patches are on moto's classes, which every backend of this process shares, so the endpoint
    they hand to functions is process-wide too. It lives in this one holder rather than in the
    patched functions' closures so that installing again (the demo and the tests start a new
    emulator, on a new port, in the same process) re-points every function without patching twice.
    """

    endpoint: str = ""


_TARGET = _Target()


def install_lambda_runner(endpoint: str) -> None:
    """Run Python functions of moto's Lambda in child processes whose AWS clients call `endpoint`.

    Idempotent; calling it again with another endpoint re-points the functions at that one."""
    with _LOCK:
        _TARGET.endpoint = endpoint.rstrip("/")
        if _INSTALLED.is_set():
            return
        # moto 5.2.5 gap: invoking needs Docker. Patched at `invoke` (not `_invoke_lambda`) because the
        # error header ("Handled" in moto, "Unhandled" in Lambda) and the invocation types are decided there.
        LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
        # moto 5.2.5 gap: Invoke reads a `qualifier` parameter where botocore sends `Qualifier`, so every
        # Invoke with a Qualifier ran $LATEST; the version's own code is what must run.
        LambdaResponse.invoke = _invoke_response  # type: ignore[method-assign]
        # moto 5.2.5 gap: an SQS mapping ignores the result, so ReportBatchItemFailures cannot fail a message.
        LambdaBackend._send_sqs_message = _send_sqs_message  # type: ignore[method-assign]
        # moto 5.2.5 gap: one failed message of a batch makes every message of the batch visible again.
        LambdaBackend.send_sqs_batch = _send_sqs_batch  # type: ignore[method-assign]
        # moto 5.2.5 gap: a stream mapping's FilterCriteria and Enabled are ignored.
        LambdaBackend.send_dynamodb_items = _send_dynamodb_items  # type: ignore[method-assign]
        _INSTALLED.set()


# --- invoking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """One invocation as Lambda reports it: the payload, whether it is an error, and the log."""

    payload: bytes
    failed: bool
    log: str


def _runs_here(function: LambdaFunction) -> bool:
    """Whether this module runs the function (a zip package on a Python 3 runtime)."""
    return str(function.run_time or "").startswith("python3") and str(function.package_type or "Zip") == "Zip"


def _invoke(
    self: LambdaFunction, body: str | bytes | None, request_headers: Any, response_headers: dict[str, Any]
) -> str | bytes:
    if not _runs_here(self):
        return _moto_invoke(self, body, request_headers, response_headers)  # type: ignore[arg-type]
    invocation_type = (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "DryRun":
        return b""  # AWS only checks that the call would be allowed
    outcome = _run(self, _event(body))
    response_headers["x-amz-executed-version"] = str(self.version)
    if invocation_type == "Event":
        return b""  # AWS answers 202 with no body; the caller learns nothing of the result
    if outcome.failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    tail = outcome.log.encode("utf-8")[-LOG_TAIL_BYTES:]
    # moto's Invoke handler drops this header unless the request asked for LogType=Tail.
    response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
    return outcome.payload


def _invoke_response(self: LambdaResponse) -> Any:
    qualifier = self.querystring.get("Qualifier")
    if qualifier and not self.querystring.get("qualifier"):
        self.querystring["qualifier"] = qualifier
    return _moto_invoke_response(self)


def _event(body: str | bytes | None) -> Any:
    text = body.decode("utf-8") if isinstance(body, bytes) else (body or "")
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        ) from exc


@dataclass
class _Invocation:
    """One run of a function: its request id, log stream and the log lines gathered so far."""

    function: LambdaFunction
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)
    stream: str = ""
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        version = str(self.function.version)
        # Lambda's stream name: the date, the version and an id of the execution environment.
        self.stream = f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
        self.lines.append(f"START RequestId: {self.request_id} Version: {version}")

    def failed(self, error_type: str, message: str, log_line: str) -> _Outcome:
        self.lines.append(log_line)
        document = {"errorMessage": message, "errorType": error_type, "requestId": self.request_id, "stackTrace": []}
        return self.finish(json.dumps(document).encode("utf-8"), failed=True)

    def finish(self, payload: bytes, *, failed: bool) -> _Outcome:
        elapsed = (time.monotonic() - self.started) * 1000
        self.lines.append(f"END RequestId: {self.request_id}")
        self.lines.append(
            f"REPORT RequestId: {self.request_id}\tDuration: {elapsed:.2f} ms\t"
            f"Billed Duration: {math.ceil(elapsed)} ms\tMemory Size: {self.function.memory_size} MB"
        )
        _save_log(self.function, self.stream, self.lines)
        return _Outcome(payload, failed, "\n".join(self.lines) + "\n")


def _run(function: LambdaFunction, event: Any) -> _Outcome:
    """Run one invocation of `function` (its own version's code and configuration) in a child process."""
    run = _Invocation(function)
    timeout = float(function.timeout or 3)
    with tempfile.TemporaryDirectory(prefix="cutlass-lambda-") as scratch:
        root = Path(scratch)
        task, opt, home, tmp = (root / name for name in ("task", "opt", "home", "tmp"))
        for directory in (task, opt, home, tmp):
            directory.mkdir()
        try:
            _unpack(function.code_bytes, task)
            for layer in _layer_packages(function):
                _unpack(layer, opt)
        except zipfile.BadZipFile:
            module = str(function.handler or "").rpartition(".")[0]
            message = f"Unable to import module '{module}': the function's deployment package is not a zip archive"
            return run.failed("Runtime.ImportModuleError", message, f"[ERROR] Runtime.ImportModuleError: {message}")
        request = {
            "handler": function.handler,
            "event": event,
            "timeout": timeout,
            "timeout_exit": TIMEOUT_EXIT,
            # Lambda's order: the package, then the layers' Python directories.
            "path": [
                str(task),
                str(opt / "python" / "lib" / str(function.run_time) / "site-packages"),
                str(opt / "python"),
            ],
            "context": {
                "function_name": function.function_name,
                "function_version": str(function.version),
                "invoked_function_arn": function.function_arn,
                # A string, as Lambda's Python runtime reads it from the environment.
                "memory_limit_in_mb": str(function.memory_size),
                "aws_request_id": run.request_id,
                "log_group_name": function.logs_group_name,
                "log_stream_name": run.stream,
            },
        }
        environment = _environment(function, run.stream, task, home, tmp)
        stdout, stderr, status = _child(request, environment, task, timeout + INIT_ALLOWANCE_SECONDS)
    run.lines.extend(stderr.decode("utf-8", errors="replace").splitlines())
    if status == TIMEOUT_EXIT or status is None:
        message = f"Task timed out after {timeout:.2f} seconds"
        return run.failed(
            "Sandbox.Timedout",
            f"RequestId: {run.request_id} Error: {message}",
            f"{_timestamp()} {run.request_id} {message}",
        )
    if status in (0, 1) and stdout:
        return run.finish(stdout, failed=status != 0)
    # The runtime left without a result: os._exit() in the function, or the interpreter crashed or was killed.
    reason = f"signal: {-status}" if status < 0 else f"exit status {status}"
    message = f"RequestId: {run.request_id} Error: Runtime exited with error: {reason}"
    return run.failed("Runtime.ExitError", message, message)


def _child(
    request: Mapping[str, Any], environment: Mapping[str, str], cwd: Path, limit: float
) -> tuple[bytes, bytes, int | None]:
    """Run the runtime in a child: (its result, its log, its exit status or None when killed for time).

    Popen rather than subprocess.run: the child gets its own process group, so whatever the handler
    started is killed with it (run() kills only the direct child on a timeout)."""
    process = subprocess.Popen(
        [sys.executable, "-B", "-c", RUNNER_SOURCE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(environment),
        start_new_session=True,
    )
    status: int | None
    try:
        stdout, stderr = process.communicate(json.dumps(request).encode("utf-8"), timeout=limit)
        status = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        status = None
    finally:
        _kill_group(process)  # Lambda freezes the sandbox after the response; nothing may outlive it here
    return stdout, stderr, status


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _timestamp() -> str:
    """Now, as Lambda stamps its own log lines (UTC, milliseconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _unpack(package: bytes, into: Path) -> None:
    """Extract a zip, keeping the executable bits (bundled tools must stay runnable)."""
    with zipfile.ZipFile(io.BytesIO(package or b"")) as archive:
        for member in archive.infolist():
            # extract() keeps every member inside `into` (it drops `..` and leading slashes) and says where.
            target = Path(archive.extract(member, into))
            mode = (member.external_attr >> 16) & 0o777
            if mode & 0o111 and not member.is_dir():
                target.chmod(mode | 0o400)


def _layer_packages(function: LambdaFunction) -> list[bytes]:
    """The zips of the function's layers, in its order (later layers overwrite earlier files, as in /opt)."""
    backend = get_backend(function.account_id, function.region)
    packages = []
    for layer in function.layers or []:
        version = backend.layers_versions_by_arn(layer["Arn"])
        if version is not None and version.code_bytes:
            packages.append(bytes(version.code_bytes))
    return packages


def _environment(function: LambdaFunction, stream: str, task: Path, home: Path, tmp: Path) -> dict[str, str]:
    """What Lambda gives a function: its variables, then Lambda's own (which a function cannot override)."""
    session = _role_session(function)
    environment = {str(key): str(value) for key, value in (function.environment_vars or {}).items()}
    environment.update(
        {
            "_HANDLER": str(function.handler),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
            # botocore's own setting: every client the function makes talks to the emulator.
            "AWS_ENDPOINT_URL": _TARGET.endpoint,
            "LAMBDA_TASK_ROOT": str(task),
            "TZ": ":UTC",
            "LANG": "C.UTF-8",
            "PATH": LAMBDA_PATH,
            # An empty home and temp dir of the invocation's own: botocore must not find this machine's
            # ~/.aws config (a profile's region, endpoint or credential_process would change what the
            # function does), and /tmp is private to the invocation as it is to a Lambda sandbox.
            "HOME": str(home),
            "TMPDIR": str(tmp),
            # Lambda's runtime ships boto3; the child takes this interpreter's (the package still wins).
            "PYTHONPATH": os.pathsep.join(_sdk_paths()),
        }
    )
    return environment


def _sdk_paths() -> list[str]:
    paths: list[str] = []
    for module in (boto3, botocore):
        if module.__file__:
            parent = str(Path(module.__file__).resolve().parent.parent)
            if parent not in paths:
                paths.append(parent)
    return paths


def _role_session(function: LambdaFunction) -> Any:
    """The execution role's session for the function, assumed through moto's STS backend.

    moto ties an assumed role's keys to the role's account, so the function acts in its own account
    (the role must be in the function's account: moto's CreateFunction checks that). Sessions are
    reused until close to expiry, as Lambda does for an execution environment: each AssumeRole adds
    a key to moto's IAM backend, which would otherwise grow with every invocation. They are kept on
    the STS backend, so a moto reset drops them with the keys they name."""
    sts = sts_backends[function.account_id][function.partition]
    key = (function.role, function.function_name)
    with _LOCK:
        sessions: dict[tuple[str, str], Any] = sts.__dict__.setdefault(ROLE_SESSIONS_ATTRIBUTE, {})
        session = sessions.get(key)
        if session is None or session.expiration - utcnow() < ROLE_SESSION_REFRESH:
            session = sts.assume_role(
                region_name=function.region,
                role_session_name=function.function_name,
                role_arn=function.role,
                policy="",
                duration=ROLE_SESSION_SECONDS,
                external_id="",
            )
            sessions[key] = session
        return session


def _save_log(function: LambdaFunction, stream: str, lines: list[str]) -> None:
    """The invocation's log, in its own stream of the function's log group (created as Lambda does)."""
    backend = logs_backends[function.account_id][function.region]
    group = function.logs_group_name
    with _LOCK:  # moto's logs backend does not guard creating groups and streams
        backend.ensure_log_group(group)
        backend.create_log_stream(group, stream)
    stamp = int(time.time() * 1000)
    events = [{"timestamp": stamp, "message": line} for line in lines if line.strip()]
    # Outside the lock: a subscription filter on the group may invoke another function from here.
    backend.put_log_events(group, stream, events)


# --- SQS mappings ---------------------------------------------------------------------------------


def _mapping(backend: LambdaBackend, function_arn: str, source_arn: str) -> Any:
    """The event source mapping moto is delivering for (moto passes only the function and the source)."""
    for mapping in list(backend._event_source_mappings.values()):
        if mapping.function_arn == function_arn and mapping.event_source_arn == source_arn:
            return mapping
    return None


def _reports_item_failures(mapping: Any) -> bool:
    return mapping is not None and "ReportBatchItemFailures" in (mapping.function_response_types or [])


def _send_sqs_batch(self: LambdaBackend, function_arn: str, messages: Any, queue_arn: str) -> bool:
    if not _reports_item_failures(_mapping(self, function_arn, queue_arn)) or not isinstance(messages, list):
        return bool(_moto_send_sqs_batch(self, function_arn, messages, queue_arn))
    failed = [message for message in list(messages) if not self._send_sqs_message(function_arn, message, queue_arn)]
    if failed and len(failed) < len(messages):
        # With ReportBatchItemFailures, Lambda deletes the messages that succeeded. moto's
        # Queue.add_message makes every message of the list it passed us visible again when we
        # answer False, so the successes are deleted here and that same list shrunk to the failures.
        _, _, _, region, account, queue_name = queue_arn.split(":", 5)
        queues = sqs_backends[account][region]
        kept = {message.id for message in failed}
        for message in messages:
            if message.id not in kept:
                queues.delete_message(queue_name, message.receipt_handle)
        messages[:] = failed
    return not failed


def _send_sqs_message(self: LambdaBackend, function_arn: str, message: Any, queue_arn: str) -> bool:
    """Deliver one message in a one-record event; whether it was processed (moto then deletes it)."""
    event = {"Records": [_sqs_record(message, queue_arn, self.region_name)]}
    response_headers: dict[str, Any] = {}
    payload = self.invoke(
        function_name=function_arn,
        qualifier=None,
        body=json.dumps(event),
        headers={},
        response_headers=response_headers,
    )
    if "x-amz-function-error" in response_headers:
        return False
    if _reports_item_failures(_mapping(self, function_arn, queue_arn)):
        return not reports_failures(payload)
    return True


def reports_failures(payload: str | bytes | None) -> bool:
    """Whether a ReportBatchItemFailures response fails its batch (of one message, as moto delivers).

    Lambda counts a null response, an empty one and a null or empty `batchItemFailures` as success;
    any entry fails the batch: one naming a message fails that message, and one that is malformed or
    names no message of the batch fails the whole batch, as does a response that is not an object."""
    try:
        response = json.loads(payload or "null")
    except ValueError:
        return True
    if response is None:
        return False
    if not isinstance(response, dict):
        return True
    return bool(response.get("batchItemFailures"))


def _sqs_record(message: Any, queue_arn: str, region: str) -> dict[str, Any]:
    """The SQS record of a Lambda event for a moto message, with the message's own attributes."""
    attributes = {
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "SentTimestamp": str(message.sent_timestamp),
        "SenderId": str(message.sender_id),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    if queue_arn.endswith(".fifo"):
        fifo = {
            "SequenceNumber": message.sequence_number,
            "MessageGroupId": message.group_id,
            "MessageDeduplicationId": message.deduplication_id,
        }
        attributes.update({name: str(value) for name, value in fifo.items() if value is not None})
    record: dict[str, Any] = {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value) for name, value in (message.message_attributes or {}).items()
        },
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.message_attributes:
        record["md5OfMessageAttributes"] = message.attribute_md5
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    if isinstance(binary, bytes):
        binary = base64.b64encode(binary).decode("ascii")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": binary,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType"),
    }


# --- DynamoDB stream mappings ---------------------------------------------------------------------


class UnsupportedFilterError(ValueError):
    """A filter pattern uses syntax beyond nested objects and lists of allowed values."""


def filter_patterns(criteria: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The mapping's filter patterns, or None when there are none (every record is delivered).

    `FilterCriteria` is `{"Filters": [{"Pattern": "<JSON>"}, ...]}`. Raises UnsupportedFilterError for
    a pattern this module cannot judge."""
    filters = (criteria or {}).get("Filters") or []
    patterns = []
    for entry in filters:
        try:
            pattern = json.loads(entry.get("Pattern") or "")
        except (ValueError, AttributeError) as exc:
            raise UnsupportedFilterError(f"not a JSON pattern: {entry!r}") from exc
        _check_pattern(pattern)
        patterns.append(pattern)
    return patterns or None


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise UnsupportedFilterError(f"a pattern level must be a non-empty object: {pattern!r}")
    for value in pattern.values():
        if isinstance(value, dict):
            _check_pattern(value)
        elif not isinstance(value, list) or not value:
            raise UnsupportedFilterError(f"expected a non-empty list of values: {value!r}")
        elif any(not (item is None or isinstance(item, str | int | float | bool)) for item in value):
            raise UnsupportedFilterError(f"only plain values are supported, not {value!r}")


def pattern_matches(pattern: Mapping[str, Any], record: Any) -> bool:
    """Whether a record matches a pattern: every key present and matching; a list matches when the
    record's value (or any element of a record's list) equals one of its values, by JSON type."""
    if not isinstance(record, Mapping):
        return False
    for key, expected in pattern.items():
        if key not in record:
            return False
        actual = record[key]
        if isinstance(expected, Mapping):
            if not pattern_matches(expected, actual):
                return False
            continue
        candidates = actual if isinstance(actual, list) else [actual]
        if not any(_same(allowed, candidate) for allowed in expected for candidate in candidates):
            return False
    return True


def _same(allowed: Any, actual: Any) -> bool:
    # JSON types, not Python's: True is not 1, and 1 is 1.0.
    if isinstance(allowed, bool) or isinstance(actual, bool):
        return isinstance(allowed, bool) and isinstance(actual, bool) and allowed == actual
    if isinstance(allowed, int | float) and isinstance(actual, int | float):
        return float(allowed) == float(actual)
    return type(allowed) is type(actual) and bool(allowed == actual)


def _send_dynamodb_items(self: LambdaBackend, function_arn: str, items: list[Any], source: str) -> Any:
    """Hand the new records to the mapping's poller and let moto empty the shard.

    moto delivers inside the write that made the record, and delivers again, with every record it
    still holds, on each later write until one delivery succeeds. Lambda polls instead: the write
    returns at once and each record reaches the function once, in order. Delivering inside the write
    is worse than slow: the threshold monitor writes the balance it was handed (its alert band), so
    each of its writes would run it again, nested inside the last, on records it already handled.
    """
    mapping = _mapping(self, function_arn, source)
    if mapping is None:
        return _moto_send_dynamodb_items(self, function_arn, items, source)
    if not mapping.enabled:
        return None  # falsy: moto's shard keeps the records, to be delivered once the mapping is enabled
    records = list(items)  # moto replaces its list once this answers truthy
    _poller(self, mapping).submit(_deliver_records, self, mapping, function_arn, records, source)
    return _NOTHING_DELIVERED


def _poller(backend: LambdaBackend, mapping: Any) -> ThreadPoolExecutor:
    """One worker per mapping, as Lambda reads a shard with one poller: records arrive in order.
    Kept on the Lambda backend, not on the mapping: moto deep-copies a table, mappings included,
    for every transaction, and a thread pool cannot be copied."""
    with _LOCK:
        pollers: dict[str, ThreadPoolExecutor] = backend.__dict__.setdefault(POLLERS_ATTRIBUTE, {})
        if mapping.uuid not in pollers:
            pollers[mapping.uuid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stream-{mapping.uuid[:8]}")
        return pollers[mapping.uuid]


def _deliver_records(backend: LambdaBackend, mapping: Any, function_arn: str, items: list[Any], source: str) -> None:
    try:
        patterns = filter_patterns(mapping.filter_criteria)
    except UnsupportedFilterError as exc:
        logger.warning(
            "Mapping %s: filter not applied by the emulator (%s); delivering every record", mapping.uuid, exc
        )
        patterns = None
    if patterns is not None:
        items = [
            item
            for item in items
            if any(
                pattern_matches(p, {**item.to_json(), "awsRegion": backend.region_name, "eventSourceARN": source})
                for p in patterns
            )
        ]
    if not items:
        return
    try:
        _moto_send_dynamodb_items(backend, function_arn, items, source)
    except Exception:  # a poller outlives any one failure; Lambda would retry, the emulator logs it
        logger.exception("Mapping %s: delivering %d stream records failed", mapping.uuid, len(items))


# --- the child ------------------------------------------------------------------------------------


# One function, long as it is: its source alone is the child's program.
def _child_main() -> None:  # noqa: PLR0915 # pragma: no cover - runs in the child process, from its source text
    """Lambda's Python runtime for one invocation. Its source is the child's program (RUNNER_SOURCE),
    so it imports everything itself and uses nothing else of this module."""
    import importlib
    import json
    import logging
    import os
    import signal
    import sys
    import time
    import traceback
    from decimal import Decimal
    from types import FrameType
    from typing import NoReturn

    request = json.loads(sys.stdin.buffer.read())
    # The result leaves on the original stdout; whatever the function writes, from Python or at the
    # file descriptor level (C extensions, subprocesses), goes to stderr, which is the log.
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    info = request["context"]
    request_id = info["aws_request_id"]

    class RequestIdFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.aws_request_id = request_id
            return True

    # Lambda's runtime puts one handler on the root logger (its level stays WARNING).
    log_handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    log_handler.setFormatter(formatter)
    log_handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(log_handler)

    def encode(value: Any) -> Any:
        if isinstance(value, Decimal):  # what boto3's DynamoDB resource hands back for numbers
            return int(value) if value == value.to_integral_value() else float(value)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    def error(error_type: str, message: str, stack: list[str]) -> dict[str, Any]:
        print(f"[ERROR] {error_type}: {message}", file=sys.stderr)
        if stack:
            print("Traceback (most recent call last):\n" + "".join(stack).rstrip("\n"), file=sys.stderr)
        return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}

    def finish(document: Any, status: int) -> NoReturn:
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            text = json.dumps(document, default=encode)
        except (TypeError, ValueError) as exc:
            text = json.dumps(error("Runtime.MarshalError", f"Unable to marshal response: {exc}", []))
            status = 1
        result.write(text)
        result.flush()
        sys.stderr.flush()
        # Not a normal exit: threads the function left running must not hold the response back.
        os._exit(status)

    def exited(exc: SystemExit) -> NoReturn:
        # Lambda reports a function that exits the runtime (sys.exit) as the runtime exiting; caught
        # here rather than let the interpreter shut down, which would wait for the function's threads.
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
        finish(error("Runtime.ExitError", message, []), 1)

    handler_name = str(request["handler"] or "")
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name or not function_name:
        finish(
            error(
                "Runtime.MalformedHandlerName",
                f"Bad handler '{handler_name}': not enough values to unpack (expected 2, got 1)",
                [],
            ),
            1,
        )
    module_name = module_name.replace("/", ".")
    sys.path[:] = [*request["path"], *(entry for entry in sys.path if entry not in ("", "."))]
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        finish(error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", []), 1)
    except ImportError as exc:
        finish(error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", []), 1)
    except SystemExit as exc:
        exited(exc)
    except Exception as exc:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        finish(error(type(exc).__name__, str(exc), stack), 1)
    function = getattr(module, function_name, None)
    if not callable(function):
        finish(error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'", []), 1)

    timeout = float(request["timeout"])
    deadline = time.monotonic() + timeout

    class LambdaContext:
        def __init__(self) -> None:
            self.function_name: str = info["function_name"]
            self.function_version: str = info["function_version"]
            self.invoked_function_arn: str = info["invoked_function_arn"]
            self.memory_limit_in_mb: str = info["memory_limit_in_mb"]
            self.aws_request_id: str = request_id
            self.log_group_name: str = info["log_group_name"]
            self.log_stream_name: str = info["log_stream_name"]
            self.identity: Any = None
            self.client_context: Any = None

        def get_remaining_time_in_millis(self) -> int:
            return max(0, int((deadline - time.monotonic()) * 1000))

    def out_of_time(signum: int, frame: FrameType | None) -> None:
        sys.stderr.flush()
        os._exit(int(request["timeout_exit"]))

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        value = function(request["event"], LambdaContext())
    except SystemExit as exc:
        exited(exc)
    except Exception as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # The runtime's own frame (this function's call) is not part of the function's stack.
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        finish(error(type(exc).__name__, str(exc), stack), 1)
    finish(value, 0)


# The child's program: _child_main's own source, so it is linted and type-checked with this module.
RUNNER_SOURCE = (
    "from __future__ import annotations\n\n" + textwrap.dedent(inspect.getsource(_child_main)) + "\n\n_child_main()\n"
)
