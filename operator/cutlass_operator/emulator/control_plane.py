"""A real Kubernetes control plane: etcd and kube-apiserver, built by `make testbin`, on loopback ports.

Why the real thing beside the kmock emulator: only a real API server says whether our CRDs are
structural, whether their CEL rules (which use the Kubernetes CIDR library, 1.33+) reject what
they should, what `kubectl get` prints from the printer columns, and how finalizers, the status
subresource and conflicts behave. This is controller-runtime's envtest in Python: no
kube-controller-manager, no scheduler, no kubelet, which is all an operator of custom resources
needs (the one thing missing is namespace deletion, which the namespace controller finishes).

The binaries come from `tools/testbin/build.sh`, which builds them from Go modules into
`tools/testbin/bin/<component>-<version>/`, the versions being the ones the two tiny modules'
`go.mod` files require. Certificates are made here with `cryptography`, fresh per start: a CA,
the API server's serving certificate for 127.0.0.1, and a client certificate in the group
`system:masters` (which RBAC lets do anything), all written into a self-contained kubeconfig.
etcd listens on plain HTTP on loopback, as in envtest: only the API server talks to it.
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import ipaddress
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cutlass_operator.emulator.aws import free_port

# tools/testbin in a checkout (the package is installed editable from it); CUTLASS_TESTBIN overrides.
_CHECKOUT_TESTBIN = Path(__file__).resolve().parents[3] / "tools" / "testbin"
READY_TIMEOUT = 60.0  # a cold start on a slow two-core machine stays well inside this

# Looked up once, before any fork: the child of a multi-threaded parent may only call what is ready.
_PRCTL: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it dies, however it dies.

    A `with` block's exit does not run when the test run itself is killed (a CI timeout sends
    SIGTERM, whose default action skips `finally`); without this, etcd and kube-apiserver would
    outlive it, holding their ports and folders.
    """
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ControlPlaneError(RuntimeError):
    """The control plane did not start; the message ends with the tail of the failing log."""


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kubernetes_version: str
    etcd_version: str


def locate_binaries(testbin: Path | None = None) -> Binaries | None:
    """The binaries `make testbin` built for the versions the go.mod files require, or None.

    `CUTLASS_TESTBIN` names another tools/testbin folder (e.g. a checkout's, for an installed
    package); the binaries are looked up by version, so a bumped go.mod never runs a stale binary.
    """
    root = testbin or Path(os.environ.get("CUTLASS_TESTBIN") or _CHECKOUT_TESTBIN)
    k8s = _required_version(root / "kube-apiserver" / "go.mod", "k8s.io/kubernetes")
    etcd = _required_version(root / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3")
    if k8s is None or etcd is None:
        return None
    found = Binaries(
        etcd=root / "bin" / f"etcd-{etcd}" / "etcd",
        kube_apiserver=root / "bin" / f"k8s-{k8s}" / "kube-apiserver",
        kubernetes_version=k8s,
        etcd_version=etcd,
    )
    if not all(os.access(p, os.X_OK) for p in (found.etcd, found.kube_apiserver)):
        return None
    return found


def _required_version(gomod: Path, module: str) -> str | None:
    try:
        text = gomod.read_text()
    except FileNotFoundError:
        return None
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


# --- certificates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _issue(
    common_name: str,
    issuer: _Issued | None = None,
    *,
    organizations: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    server_names: tuple[str, ...] = (),
    client: bool = False,
) -> _Issued:
    """A certificate valid for a day: a self-signed CA without `issuer`, else a leaf it signs.

    ECDSA P-256: generating a key takes microseconds where RSA takes a noticeable fraction of a second.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    )
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server_ips or server_names:
        alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    signer = issuer.key if issuer else key
    return _Issued(builder.sign(signer, hashes.SHA256()), key)


# --- the processes -------------------------------------------------------------------------------------


@dataclass
class Timings:
    """Seconds from launching each process to its health endpoint answering."""

    etcd: float = 0.0
    kube_apiserver: float = 0.0

    @property
    def total(self) -> float:
        return self.etcd + self.kube_apiserver


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes] = field(repr=False)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self.log.close()


class ControlPlane:
    """etcd and kube-apiserver for the duration of a `with` block; `kubeconfig` reaches it as an admin.

    `workdir` keeps the certificates, data and logs somewhere chosen (and left in place); by
    default they live in a temporary folder removed on exit. Start it from a thread that lives as
    long as the block (the main thread, a session fixture): on Linux the processes are bound to it.
    """

    def __init__(
        self,
        binaries: Binaries,
        *,
        workdir: Path | None = None,
        ready_timeout: float = READY_TIMEOUT,
        apiserver_flags: tuple[str, ...] = (),
    ) -> None:
        self.binaries = binaries
        self.ready_timeout = ready_timeout
        self.apiserver_flags = apiserver_flags
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="cutlass-control-plane-"))
        self.timings = Timings()
        self.url = ""
        self._processes: list[_Process] = []

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def __enter__(self) -> ControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        ca = _issue("cutlass-e2e-ca")
        serving = _issue(
            "kube-apiserver",
            ca,
            server_ips=("127.0.0.1",),
            server_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        )
        admin = _issue("cutlass-e2e-admin", ca, organizations=("system:masters",), client=True)
        service_accounts = ec.generate_private_key(ec.SECP256R1())
        files = {
            "ca.crt": ca.cert_pem,
            "apiserver.crt": serving.cert_pem,
            "apiserver.key": serving.key_pem,
            "admin.crt": admin.cert_pem,
            "admin.key": admin.key_pem,
            "sa.key": service_accounts.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "sa.pub": service_accounts.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }
        for name, data in files.items():
            (pki / name).write_bytes(data)
            (pki / name).chmod(0o600)

        etcd_url = self._start_etcd()
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        started = time.monotonic()
        apiserver = self._launch(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # The `kubernetes` Service's endpoints would point at a loopback address, which
                # 1.37 refuses; nothing here runs in a pod to use that Service.
                "--endpoint-reconciler-type=none",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                # No controller-manager mints service account tokens, and no pods run here.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                "--profiling=false",
                *self.apiserver_flags,
            ],
        )
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self._wait(apiserver, f"{self.url}/readyz", context)
        self.timings.kube_apiserver = time.monotonic() - started
        self._write_kubeconfig(ca, admin)

    def _start_etcd(self) -> str:
        client_port, peer_port = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        started = time.monotonic()
        etcd = self._launch(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=e2e",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                # A throwaway store: skipping fsync makes every write an order of magnitude faster.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(etcd, f"{client_url}/health", None)
        self.timings.etcd = time.monotonic() - started
        return client_url

    def _launch(self, name: str, argv: list[str]) -> _Process:
        log_path = self.workdir / f"{name}.log"
        log = log_path.open("wb")
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Linux only; a ctypes call with nothing to lock, so safe with the threads moto and kopf run.
            preexec_fn=_die_with_parent if _PRCTL is not None else None,  # noqa: PLW1509
        )
        process = _Process(name, popen, log_path, log)
        self._processes.append(process)
        return process

    def _wait(self, process: _Process, url: str, context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        while True:
            code = process.popen.poll()
            if code is not None:
                raise ControlPlaneError(f"{process.name} exited with {code} before {url} answered:\n{process.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:  # /readyz says 500 with the checks still failing
                last = f"HTTP {exc.code}: {exc.read().decode(errors='replace')[-400:]}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{process.name}: {url} not ready within {self.ready_timeout:.0f}s ({last}):\n{process.tail()}"
                )
            time.sleep(0.2)

    def _write_kubeconfig(self, ca: _Issued, admin: _Issued) -> None:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "cutlass-e2e", "cluster": {"server": self.url, "certificate-authority-data": b64(ca.cert_pem)}}
            ],
            "users": [
                {
                    "name": "cutlass-e2e-admin",
                    "user": {"client-certificate-data": b64(admin.cert_pem), "client-key-data": b64(admin.key_pem)},
                }
            ],
            "contexts": [{"name": "cutlass-e2e", "context": {"cluster": "cutlass-e2e", "user": "cutlass-e2e-admin"}}],
            "current-context": "cutlass-e2e",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def logs(self, lines: int = 30) -> str:
        """The tail of each process's log, for failure messages."""
        return "\n".join(f"--- {p.name} ({p.log_path}) ---\n{p.tail(lines)}" for p in self._processes)

    def stop(self) -> None:
        """The API server first (it flushes to etcd), then etcd; then the folder, unless it was given."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
