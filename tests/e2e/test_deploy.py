"""deploy/ works as written: the systemd units verify and start the commands koppel has, the
nginx example passes `nginx -t`, and the environment template names every variable koppel
reads."""

from __future__ import annotations

import configparser
import datetime
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from web.cli import main
from web.config import from_environment

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = {"koppel-serve.service": "serve", "koppel-worker.service": "worker",
         "koppel-scheduler.service": "scheduler"}
INSTALLED = "/opt/koppel/.venv/bin/koppel"


def _tool(name: str, env: str) -> str:
    found = os.environ.get(env) or shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (set {env} or install it)"
    if os.environ.get("KOPPEL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}; KOPPEL_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / name)
    return parser


@pytest.mark.parametrize("name, command", UNITS.items())
def test_each_unit_runs_a_koppel_command_with_the_environment_file(name, command):
    unit = _unit(name)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED and argv[1] == command
    # The arguments parse as the command's own options (a renamed option fails here).
    main.commands[command].make_context(command, argv[2:])
    assert service["EnvironmentFile"] == "/etc/koppel/koppel.env"
    assert service["User"] == "koppel" and service["Restart"] == "on-failure"
    assert "/run/koppel" in service["ReadWritePaths"]  # PROMETHEUS_MULTIPROC_DIR lives there
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = _tool("systemd-analyze", "KOPPEL_TEST_SYSTEMD_ANALYZE")
    koppel = Path(sys.prefix) / "bin" / "koppel"  # this installation stands in for /opt/koppel
    for name in UNITS:
        (tmp_path / name).write_text((DEPLOY / name).read_text().replace(INSTALLED, str(koppel)))
    result = subprocess.run([analyze, "verify", "--man=no", *(str(tmp_path / n) for n in UNITS)],
                            capture_output=True, text=True, timeout=120)
    # verify exits 0 on unknown keys and only says so: any output is a finding.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_environment_template_names_every_variable_koppel_reads():
    read = {name for module in ("web/config.py", "web/mail.py")  # mail.py: the SMTP settings
            for name in re.findall(r'"(KOPPEL_[A-Z_]+)"', (DEPLOY.parent / module).read_text())}
    template = (DEPLOY / "koppel.env").read_text()
    listed = set(re.findall(r"^#?(KOPPEL_[A-Z_]+)=", template, re.MULTILINE))
    assert listed == read
    assert re.search(r"^PROMETHEUS_MULTIPROC_DIR=/run/koppel/metrics$", template, re.MULTILINE)
    # What it sets is a valid production configuration once CHANGE-ME is filled in.
    environ = dict(re.findall(r"^([A-Z_]+)=(.*)$", template, re.MULTILINE))
    config = from_environment(environ)
    assert not config.embedded and config.https and config.proxy_hops == 1


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "koppel.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_nginx_accepts_the_reverse_proxy_example(tmp_path):
    nginx = _tool("nginx", "KOPPEL_TEST_NGINX")
    cert, key = _self_signed(tmp_path)
    (tmp_path / "logs").mkdir()
    site = (DEPLOY / "nginx-koppel.conf").read_text()
    # Only what the machine provides changes: the certificate's files and the log directory.
    site = (site.replace("/etc/letsencrypt/live/koppel.example.com/fullchain.pem", str(cert))
                .replace("/etc/letsencrypt/live/koppel.example.com/privkey.pem", str(key))
                .replace("/var/log/nginx/", f"{tmp_path}/logs/"))
    (tmp_path / "koppel.conf").write_text(site)
    # What Debian's /etc/nginx/nginx.conf and package provide, in the test's directory.
    temp = "\n".join(f"  {kind}_temp_path {tmp_path}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}\n  include {tmp_path}/koppel.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "[warn]" not in result.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_koppel_behind_the_nginx_example_over_tls(tmp_path, sqlite_url):
    """The example in front of a real `koppel serve`: TLS, the forwarded scheme (HSTS comes
    back), the token hidden in nginx's access log, /metrics not reachable from outside."""
    import time

    import httpx

    from tests.e2e.processes import Served, koppel_env
    from tests.harness import Harness

    nginx = _tool("nginx", "KOPPEL_TEST_NGINX")
    h = Harness(sqlite_url)
    served = Served(koppel_env(h, KOPPEL_PROXY_HOPS="1",
                               KOPPEL_PUBLIC_URL="https://koppel.example.com"), tmp_path)
    proxy = None
    try:
        cert, key = _self_signed(tmp_path)
        (tmp_path / "logs").mkdir()
        plain, tls = _free_port(), _free_port()
        site = (DEPLOY / "nginx-koppel.conf").read_text()
        site = (site.replace("/etc/letsencrypt/live/koppel.example.com/fullchain.pem", str(cert))
                    .replace("/etc/letsencrypt/live/koppel.example.com/privkey.pem", str(key))
                    .replace("/var/log/nginx/", f"{tmp_path}/logs/")
                    .replace("listen [::]:80;", "").replace("listen [::]:443 ssl http2;", "")
                    .replace("listen 80;", f"listen 127.0.0.1:{plain};")
                    .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls} ssl http2;")
                    .replace("server 127.0.0.1:8000;", f"server {served.url[len('http://'):]};"))
        (tmp_path / "koppel.conf").write_text(site)
        temp = "\n".join(f"  {kind}_temp_path {tmp_path}/{kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        (tmp_path / "nginx.conf").write_text(
            f"{user}daemon off;\npid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
            f"http {{\n{temp}\n  include {tmp_path}/koppel.conf;\n}}\n")
        proxy = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                 stderr=subprocess.PIPE, text=True)
        client = httpx.Client(base_url=f"https://127.0.0.1:{tls}", verify=False,
                              headers={"Host": "koppel.example.com"})
        for _ in range(50):
            try:
                health = client.get("/healthz")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert "max-age" in health.headers["Strict-Transport-Security"]  # https arrived as such

        path = h.webhook_path()
        token = path.split("/")[3]
        answer = client.post(path, json={"id": 5, "href": f"{h.shop_url}/api/rest/v1/orders/5"})
        assert answer.status_code == 202
        assert client.post(path, content=b"x" * 70_000).status_code == 413  # stopped by nginx
        assert client.get("/metrics").status_code == 404
        assert httpx.get(f"{served.url}/metrics").status_code == 200  # on the machine itself
        redirect = httpx.get(f"http://127.0.0.1:{plain}/report",
                             headers={"Host": "koppel.example.com"})
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == "https://koppel.example.com/report"

        logged = (tmp_path / "logs" / "koppel.access.log").read_text()
        assert f"/webhooks/{h.connection.id}/[token]/orders.created" in logged
        assert token not in logged and token not in served.output()
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        served.stop()
        h.close()
