"""Demo upstream: a fast echo API (nginx + Lua) used by tests, demos and benchmarks.

    python -m gateway.demo_upstream --listen 127.0.0.1:9000 [--runtime-dir DIR] [--workers N]

It answers every request with JSON {method, path, query, headers, body, json}.
Request headers X-Demo-Delay-Ms and X-Demo-Status delay the answer or set its status.
nginx replaces this process (exec), so this PID is the nginx master's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gateway.launcher import exec_nginx, prepare_runtime, render_template, user_directive


def render(listen: str, runtime_dir: Path, workers: str = "1") -> Path:
    """Write the echo server's nginx.conf; return its path."""
    prefix = prepare_runtime(runtime_dir)
    conf = prefix / "conf" / "nginx.conf"
    values = {"listen": listen, "prefix": str(prefix), "workers": workers, "user": user_directive()}
    conf.write_text(render_template("demo_upstream.conf.tmpl", values))
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(prog="python -m gateway.demo_upstream", description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:9000")
    p.add_argument("--runtime-dir", type=Path)
    p.add_argument("--workers", default="1")
    p.add_argument("--nginx", default="nginx")
    ns = p.parse_args(argv)
    runtime = ns.runtime_dir or Path(tempfile.mkdtemp(prefix="portico-demo-upstream-"))
    conf = render(ns.listen, runtime, ns.workers)
    exec_nginx(ns.nginx, runtime.resolve(), conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
