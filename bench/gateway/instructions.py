"""Instructions per proxied request (callgrind): deterministic where wrk timings are noisy.

    .venv/bin/python -m bench.gateway.instructions gateway|gateway-token|gateway-validated|plain|upstream-via-gateway|
        upstream-via-plain [--requests 4000] [--edit SED_SCRIPT] [--path /demo/bench] [--annotate]
    (also gateway-redaction, gateway-redaction-hit, gateway-redaction-responses: an API with redaction rules;
    gateway-tls, gateway-mtls, gateway-mtls-key: a TLS listener;
    gateway-signatures, gateway-signatures-report: attack signatures on)

One nginx process (`master_process off`, one worker) runs under valgrind's callgrind behind or in
front of the demo upstream. After 2,000 warm-up requests on 4 keep-alive connections the counters
are zeroed, exactly --requests more are sent, and the dump's total is divided by that count (timers
that run meanwhile, such as log ingestion, are included). --edit applies a `sed -E` script to the
rendered nginx.conf of the measured side, to price one feature by taking it out, e.g.
`--edit '/access_log .*spool/d'` for the access log. gateway-token sends an OAuth2 access token (ES256 JWT,
verified once, then from the worker's cache) instead of the key. gateway-validated enforces request validation
(docs/protection.md) with VALIDATED_DOCUMENT: send `--path '/demo/bench?limit=10&sort=name'` to price a typical
query. gateway-tls, gateway-mtls and gateway-mtls-key run the gateway with a TLS listener
(docs/mtls.md): the key to an API without mTLS, a registered client certificate alone, and both.
gateway-signatures and gateway-signatures-report turn the API's attack signatures on (enforce, report).
Needs Debian's valgrind.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.gateway.run import bench_snapshot, plain_proxy
from gateway import demo_upstream
from keys.tokens import generate
from protection.openapi import compile_document
from tests.support.client_certs import make_client_cert
from tests.support.gateway import launcher_args
from tests.support.jwt_tokens import Signer, oauth_member
from tests.support.ports import free_port
from tests.support.processes import stop
from tests.support.tls import self_signed_certificate
from tests.support.waiting import wait_http

TARGETS = (
    "gateway", "gateway-token", "gateway-validated", "plain", "upstream-via-gateway", "upstream-via-plain",
    "gateway-redaction", "gateway-redaction-hit", "gateway-redaction-responses",
    "gateway-tls", "gateway-mtls", "gateway-mtls-key", "gateway-signatures", "gateway-signatures-report",
)  # fmt: skip
# an operation with a path, two query parameters (one a bounded integer, one an enum) and a header
VALIDATED_DOCUMENT = {
    "openapi": "3.0.3",
    "paths": {
        "/{name}": {
            "get": {
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 20}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["name", "age"]}},
                    {"name": "User-Agent", "in": "header", "schema": {"type": "string", "maxLength": 200}},
                ]
            }
        }
    },
}
# gateway-redaction*: the API has redaction rules (docs/redaction.md): named fields and every detector; -hit sends a
# card number in the path (masked log path, request moved to the quiet location), -responses masks the echo's JSON
REDACTION = {"names": ["card_number", "password"], "cards": True, "national_ids": True, "emails": True}
PATHS = {"gateway-redaction-hit": "/demo/pay/4111111111111111"}
# TLS targets (docs/mtls.md): gateway-tls sends the key over TLS to an API without mTLS; gateway-mtls presents a
# registered client certificate to an API with mtls "alone"; gateway-mtls-key both, to an API with "with_key"
MTLS_MODES = {"gateway-mtls": "alone", "gateway-mtls-key": "with_key"}


def nginx_command(prefix: Path, conf: Path, edit: str | None, measured: bool, out: Path) -> list[str]:
    """One process, one worker; under callgrind when it is the measured side."""
    text = conf.read_text().replace("master_process on;", "master_process off;")
    conf.write_text(re.sub(r"worker_processes \S+;", "worker_processes 1;", text))
    if edit and measured:
        subprocess.run(["sed", "-i", "-E", edit, str(conf)], check=True)
    cmd = ["nginx", "-p", f"{prefix}/", "-c", str(conf), "-e", f"{prefix}/logs/error.log"]
    if measured:
        cmd = ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", f"--callgrind-out-file={out}", *cmd]
    return cmd


def render_front(
    tmp: Path, target: str, upstream: str
) -> tuple[Path, int, int | None, dict[str, str], ssl.SSLContext | None]:
    """The proxy side's config: (prefix, port, admin port or None, request headers, client TLS context or None)."""
    if target.endswith("plain"):
        port = free_port()
        conf, _ = plain_proxy(tmp, 1, upstream, port)
        return conf.parents[1], port, None, {}, None
    key = generate("live").token
    snap = tmp / "snapshot.json"
    doc = bench_snapshot(upstream, 1000, key)
    headers = {"X-API-Key": key}
    if target.startswith("gateway-redaction"):
        doc["apis"][0]["redaction"] = {**REDACTION, "responses": target.endswith("-responses")}
    if target == "gateway-token":
        signer = Signer()
        doc["oauth"] = oauth_member(signer)
        token = signer.token(scope="demo", application_id=doc["keys"][0]["application_id"], exp=int(time.time()) + 3600)
        headers = {"Authorization": f"Bearer {token}"}
    if target == "gateway-validated":
        ops = compile_document(VALIDATED_DOCUMENT)["ops"]
        doc["apis"][0]["validation"] = {"mode": "enforce", "digest": "bench", "ops": ops}
    context, tls = None, []
    if target.startswith("gateway-tls") or target in MTLS_MODES:
        server_cert, server_key = self_signed_certificate(tmp / "tls")
        tls = ["--tls-cert", str(server_cert), "--tls-key", str(server_key)]
        context = ssl.create_default_context(cafile=str(server_cert))
        if target in MTLS_MODES:
            client = make_client_cert(tmp / "client", "bench-client")
            context.load_cert_chain(*client.pair)
            doc["apis"][0]["mtls"] = MTLS_MODES[target]
            doc["client_certs"] = [client.entry(application_id=doc["keys"][0]["application_id"])]
            if target == "gateway-mtls":
                headers = {}
    if target.startswith("gateway-signatures"):
        doc["apis"][0]["signatures"] = "report" if target.endswith("report") else "enforce"
    snap.write_text(json.dumps(doc))
    port, admin = free_port(), free_port()
    args = launcher_args("gw", port, admin, tmp / "gw", "bench")
    args += ["--workers", "1", "--snapshot-file", str(snap), "--keys-dict-size", "64m", "--render-only", *tls]
    subprocess.run([sys.executable, "-m", "gateway.launcher", *args], check=True, stdout=subprocess.DEVNULL)
    return (tmp / "gw").resolve(), port, admin, headers, context


def measure(target: str, requests: int, edit: str | None, annotate: bool, path: str = "/demo/bench") -> float:
    tmp = Path(tempfile.mkdtemp(prefix="portico-instructions-"))
    out = tmp / "callgrind.out"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up_port = free_port()
        upstream = f"127.0.0.1:{up_port}"
        up_conf = demo_upstream.render(upstream, tmp / "up", "1")
        up_measured = target.startswith("upstream")
        up_cmd = nginx_command((tmp / "up").resolve(), up_conf, edit, up_measured, out)
        procs.append(subprocess.Popen(up_cmd, stderr=subprocess.DEVNULL))
        wait_http(f"http://{upstream}/", 120)
        prefix, port, admin, headers, context = render_front(tmp, target, upstream)
        front_cmd = nginx_command(prefix, prefix / "conf" / "nginx.conf", edit, not up_measured, out)
        procs.append(subprocess.Popen(front_cmd, stderr=subprocess.DEVNULL))
        measured = procs[0] if up_measured else procs[1]
        if admin:
            wait_http(f"http://127.0.0.1:{admin}/_portico/ready", 120)
        wait_http(f"http://127.0.0.1:{port}/demo/", 120)  # over TLS: nginx's 400 for plain HTTP says it is up
        if context:
            conns: list[http.client.HTTPConnection] = [
                http.client.HTTPSConnection("127.0.0.1", port, context=context) for _ in range(4)
            ]
        else:
            conns = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(4)]
        path = PATHS.get(target, path)

        def send(n: int) -> None:
            for i in range(n):
                conns[i % 4].request("GET", path, headers={"User-Agent": "bench", **headers})
                answer = conns[i % 4].getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"answer {answer.status}")

        send(2000)
        time.sleep(0.5)
        subprocess.run(["callgrind_control", "-z", str(measured.pid)], capture_output=True, check=True)
        send(requests)
        time.sleep(0.6)  # let the log flush and ingestion timers run
        subprocess.run(["callgrind_control", "-d", str(measured.pid)], capture_output=True, check=True)
        dump = max(tmp.glob("callgrind.out*"), key=lambda p: p.stat().st_mtime)
        total = int(re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.M).group(1))
        if annotate:
            report = subprocess.run(
                ["callgrind_annotate", "--inclusive=yes", str(dump)], capture_output=True, text=True
            )
            print(report.stdout[:20000])
        return total / requests
    finally:
        for p in reversed(procs):
            stop(p, signal.SIGQUIT, 20)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", choices=TARGETS)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--edit", help="sed -E script applied to the measured side's nginx.conf")
    ap.add_argument("--annotate", action="store_true", help="print callgrind_annotate's inclusive costs")
    ap.add_argument("--path", default="/demo/bench", help="the request's path and query")
    ns = ap.parse_args()
    per_request = measure(ns.target, ns.requests, ns.edit, ns.annotate, ns.path)
    print(f"{ns.target}: {per_request:,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
