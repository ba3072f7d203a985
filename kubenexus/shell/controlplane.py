"""A real Kubernetes control plane for tests and ``kubenexus bench --e2e``: etcd + kube-apiserver
(+ kube-controller-manager, + kube-scheduler on demand) from ``KUBEBUILDER_ASSETS``, on free
loopback ports, with generated certificates, in a temporary folder; everything it starts it
stops. Needs ``cryptography`` (``pip install 'kubenexus[bench]'``).

The envtest convention: ``KUBEBUILDER_ASSETS`` names a folder holding ``etcd`` and
``kube-apiserver`` (and here optionally ``kube-controller-manager`` and ``kube-scheduler``).
No kubelet: nodes are Node objects whose status the tests write.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# One record per answered request, without bodies (who, what, the answer's code).
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
"""
ASSETS_VARIABLE = "KUBEBUILDER_ASSETS"
HOW_TO_ENABLE = (
    "real API server tests skipped: set KUBEBUILDER_ASSETS to a folder holding etcd and "
    "kube-apiserver, e.g. export KUBEBUILDER_ASSETS=$(setup-envtest use -p path 1.36.x) "
    "(here: $(../shared/envtest/setup.sh))"
)
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneError(RuntimeError):
    """A component did not start; the message carries the end of its log."""


def assets_folder() -> Path | None:
    """The binaries folder, when ``KUBEBUILDER_ASSETS`` names one holding the two we need."""
    raw = os.environ.get(ASSETS_VARIABLE, "").strip()
    if not raw:
        return None
    folder = Path(raw)
    if not all((folder / name).is_file() for name in ("etcd", "kube-apiserver")):
        return None
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class _KeyPair:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, organization: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: _KeyPair | None,
    *,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(tz=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
    )
    if issuer is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                ]
            ),
            False,
        )
    return builder.sign((issuer.key if issuer else key), hashes.SHA256())


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --------------------------------------------------------------------------- the control plane


@dataclass
class ControlPlane:
    """Start with ``start()``, stop with ``stop()`` (idempotent; also on interpreter exit)."""

    assets: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kubenexus-real-")))
    api_port: int = 0
    etcd_port: int = 0
    # One audit record per request (RBAC tests read them); a benchmark leaves it off: it costs
    # the API server time on every request.
    audit_requests: bool = True
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _arguments: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # ------------------------------------------------------------------ where things are

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.log"

    def audit(self, user: str) -> list[dict[str, object]]:
        """The audit records of the requests ``user`` made (one per answered request)."""
        records: list[dict[str, object]] = []
        if not self.audit_log.exists():
            return records
        for line in self.audit_log.read_text().splitlines():
            record = json.loads(line)
            if (record.get("user") or {}).get("username") == user:
                records.append(record)
        return records

    def pid(self, component: str) -> int | None:
        process = self._processes.get(component)
        return None if process is None else process.pid

    def log(self, component: str) -> Path:
        return self.root / f"{component}.log"

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(self.pki / f"{user}.crt", self.pki / f"{user}.key")
        return context

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._make_pki()
        self.etcd_port = free_port()
        peer_port = free_port()
        self.api_port = free_port()
        data = self._data_dir()
        self._spawn(
            "etcd",
            "--name=envtest",
            f"--data-dir={data}",
            f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=envtest=http://127.0.0.1:{peer_port}",
            "--initial-cluster-state=new",
            "--listen-metrics-urls=",
            "--logger=zap",
            "--log-level=warn",
        )
        self._wait("etcd", lambda: self._http_ok(f"http://127.0.0.1:{self.etcd_port}/health"))
        pki = self.pki
        policy = self.root / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        # Every request, who made it and the answer: RBAC tests read what the daemon did.
        audit = (
            [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
            ]
            if self.audit_requests
            else []
        )
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            # Fake nodes have no kubelet: they must not be tainted not-ready.
            "--disable-admission-plugins=TaintNodesByCondition",
            "--profiling=false",
            *audit,
        )
        self._wait("kube-apiserver", lambda: self._http_ok(f"{self.url}/readyz", tls=True))
        self._write_kubeconfig(self.admin_kubeconfig, "admin")

    def start_controller_manager(self) -> None:
        """Garbage collection, default ServiceAccounts, namespace deletion… (no node lifecycle
        controller: fake nodes would be tainted unreachable)."""
        if "kube-controller-manager" in self._processes:
            return
        kubeconfig = self.root / "kube-controller-manager.kubeconfig"
        self._write_kubeconfig(kubeconfig, "kube-controller-manager")
        port = free_port()
        self._spawn(
            "kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--controllers=*,-node-lifecycle-controller",
            f"--service-account-private-key-file={self.pki / 'sa.key'}",
            f"--root-ca-file={self.pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
        )
        self._wait(
            "kube-controller-manager",
            lambda: self._http_ok(f"https://127.0.0.1:{port}/healthz", tls=True, verify=False),
        )

    def start_scheduler(self, config: str = "", user: str = "kube-scheduler") -> None:
        """The real kube-scheduler, optionally with a KubeSchedulerConfiguration (YAML text;
        its clientConnection.kubeconfig is filled in), as ``user`` (a benchmark runs it as the
        admin, like the schedulers it compares it with)."""
        if "kube-scheduler" in self._processes:
            return
        kubeconfig = self.root / "kube-scheduler.kubeconfig"
        self._write_kubeconfig(kubeconfig, user)
        port = free_port()
        arguments = [
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
        ]
        if config:
            path = self.root / "kube-scheduler.yaml"
            path.write_text(config.replace("KUBECONFIG", str(kubeconfig)))
            arguments.append(f"--config={path}")
        else:
            arguments += [f"--kubeconfig={kubeconfig}", "--leader-elect=false"]
        self._spawn("kube-scheduler", *arguments)
        self._wait(
            "kube-scheduler",
            lambda: self._http_ok(f"https://127.0.0.1:{port}/healthz", tls=True, verify=False),
        )

    def stop_component(self, name: str, grace: float = 10.0) -> None:
        """SIGTERM to the component's process group, SIGKILL after ``grace`` seconds."""
        process = self._processes.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart_api_server(self) -> None:
        """Stop kube-apiserver and start it again as it was (same port, same etcd): what a
        control-plane upgrade or a crash does to the clients watching it."""
        arguments = self._arguments["kube-apiserver"]
        self.stop_component("kube-apiserver")
        self._spawn("kube-apiserver", *arguments)
        self._wait("kube-apiserver", lambda: self._http_ok(f"{self.url}/readyz", tls=True))

    def stop(self) -> None:
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            self.stop_component(name)
        shutil.rmtree(self.root, ignore_errors=True)
        data = getattr(self, "_data", None)
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)

    # ------------------------------------------------------------------ internals

    def _data_dir(self) -> Path:
        """etcd's data on tmpfs when there is one (fsyncs there cost nothing)."""
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.root
        data = Path(tempfile.mkdtemp(prefix="kubenexus-etcd-", dir=base))
        data.chmod(0o700)
        self._data = data
        return data

    def has(self, component: str) -> bool:
        """Whether the binaries folder holds this component (envtest's own hold etcd,
        kube-apiserver and kubectl only)."""
        return (self.assets / component).is_file()

    def _spawn(self, name: str, *arguments: str) -> None:
        if not self.has(name):
            raise ControlPlaneError(f"{name}: not in {ASSETS_VARIABLE} ({self.assets})")
        self._arguments[name] = arguments
        log = self.log(name).open("ab")
        self._processes[name] = subprocess.Popen(
            [str(self.assets / name), *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopped with everything it forks
        )
        log.close()

    def _wait(self, name: str, ready: object, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        process = self._processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited ({process.returncode}):\n{self._tail(name)}"
                )
            if callable(ready) and ready():
                return
            time.sleep(0.1)
        raise ControlPlaneError(f"{name} not ready within {timeout:.0f}s:\n{self._tail(name)}")

    def _tail(self, name: str) -> str:
        try:
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def _http_ok(self, url: str, *, tls: bool = False, verify: bool = True) -> bool:
        context = None
        if tls:
            context = self.ssl_context() if verify else ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return False

    def _make_pki(self) -> None:
        pki = self.pki
        pki.mkdir(parents=True, exist_ok=True)
        ca_key = _new_key()
        ca = _KeyPair(ca_key, _certificate(_name("kubenexus-test-ca"), ca_key, None))
        _write_key(pki / "ca.key", ca.key)
        _write_cert(pki / "ca.crt", ca.cert)
        server_key = _new_key()
        _write_key(pki / "apiserver.key", server_key)
        _write_cert(
            pki / "apiserver.crt",
            _certificate(_name("kube-apiserver"), server_key, ca, server=True),
        )
        for user, subject in (
            ("admin", _name("kubernetes-admin", "system:masters")),
            ("kube-controller-manager", _name("system:kube-controller-manager")),
            ("kube-scheduler", _name("system:kube-scheduler")),
        ):
            key = _new_key()
            _write_key(pki / f"{user}.key", key)
            _write_cert(pki / f"{user}.crt", _certificate(subject, key, ca))
        sa_key = _new_key()
        _write_key(pki / "sa.key", sa_key)
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def _write_kubeconfig(self, path: Path, user: str) -> None:
        def data(name: str) -> str:
            return base64.b64encode((self.pki / name).read_bytes()).decode()

        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: real
  cluster:
    server: {self.url}
    certificate-authority-data: {data("ca.crt")}
users:
- name: {user}
  user:
    client-certificate-data: {data(f"{user}.crt")}
    client-key-data: {data(f"{user}.key")}
contexts:
- name: {user}
  context: {{cluster: real, user: {user}, namespace: default}}
current-context: {user}
"""
        )
        path.chmod(0o600)

    def kubeconfig_with_token(self, path: Path, token: str) -> Path:
        """A kubeconfig authenticating with a bearer token (e.g. a ServiceAccount's)."""
        ca = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: real
  cluster: {{server: "{self.url}", certificate-authority-data: {ca}}}
users:
- name: token
  user: {{token: "{token}"}}
contexts:
- name: token
  context: {{cluster: real, user: token}}
current-context: token
"""
        )
        path.chmod(0o600)
        return path
