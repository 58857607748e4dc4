"""gunicorn settings for the portal (`gunicorn -c deploy/gunicorn.conf.py config.wsgi`); docs/deploy.md.

Sync workers behind a buffering reverse proxy (deploy/nginx/portico.conf): nginx holds slow clients, so a worker
is busy only while Django works. Every value can be overridden on the command line (`--bind`, `--workers`).
"""

import multiprocessing
import os

bind = [os.environ.get("PORTICO_BIND", "127.0.0.1:8000")]
# gunicorn's rule of thumb, 2 x cores + 1; WEB_CONCURRENCY (gunicorn's own variable) overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
worker_class = "sync"
# A request slower than this is killed: the longest legitimate one is the CSV export (bounded to 100,000 rows).
timeout = int(os.environ.get("PORTICO_GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Recycle workers now and then, so a slow leak in a dependency never grows without bound; jitter spreads restarts.
max_requests = 2000
max_requests_jitter = 200
# The proxy's X-Forwarded-* headers are trusted from these addresses only (Django reads X-Forwarded-Proto through
# PORTICO_BEHIND_PROXY). Set FORWARDED_ALLOW_IPS when the proxy is on another host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The front proxy writes the access log; Django's structlog lines (JSON) and gunicorn's errors go to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("PORTICO_GUNICORN_LOG_LEVEL", "warning")
proc_name = "portico-portal"
