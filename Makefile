# Portico: `make run` starts everything for a local demo; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed
export PORTICO_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test setup setup-dev system lint check-deploy clean

# The runtime set for `make run`; `make test` adds the development tools on top.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

system:
	scripts/ensure-system.sh $(if $(filter test,$(MAKECMDGOALS)),--for-tests,)

setup: system $(STAMP)

setup-dev: system $(DEV_STAMP)

run: setup
	scripts/ensure-services.sh
	@# A new demo database numbers its config versions from 1 again: the gateway's saved config, from the old one,
	@# could carry the same version and be taken for current, so it goes with the database.
	@if [ -z "$$DATABASE_URL" ] && [ ! -e "$(PORTICO_VAR_DIR)/portico.sqlite3" ]; then rm -rf var/gateway/edge-1/state; fi
	DJANGO_DEBUG=1 $(PY) manage.py migrate --no-input -v 0
	@# The consumer-token signing key, published ahead of the first token (docs/oauth.md); a no-op once it exists.
	@# 3 s instead of production's 5 minutes: the demo's one gateway starts below and reads the key in its snapshot.
	DJANGO_DEBUG=1 PORTICO_OAUTH_KEY_PUBLISH_SECONDS=3 $(PY) manage.py rotate_signing_key --if-missing
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo --usage
	@# edge-1's OAuth2 client and push secret (kept while still valid); Procfile.dev's gateway reads them from the file.
	DJANGO_DEBUG=1 $(PY) manage.py register_gateway --name edge-1 --admin-url http://127.0.0.1:8081 \
		--env-file var/gateway/edge-1.env
	@echo "Portal:      http://127.0.0.1:8000/   (API docs: /api/docs/, admin: /admin/)"
	@echo "Gateway:     http://127.0.0.1:8080/   (admin listener 127.0.0.1:8081)"
	@echo "Mail:        links are written to $(PORTICO_VAR_DIR)/mail/"
	DJANGO_DEBUG=1 $(VENV)/bin/honcho -f Procfile.dev start

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/bandit -q -c pyproject.toml -b .bandit-baseline.json -r foundation portal keys analytics gateway_sync webhooks notifications anomalies sso config gateway
	$(VENV)/bin/bandit -q -c pyproject.toml -b .bandit-baseline.json -r protection
	$(VENV)/bin/bandit -q -c pyproject.toml -b .bandit-baseline.json -r redaction
	$(VENV)/bin/mypy foundation/ portal/services/ portal/selectors.py keys/services/ keys/selectors.py keys/tokens.py \
		gateway_sync/services.py gateway_sync/changes.py gateway_sync/selectors.py gateway_sync/scopes.py \
		gateway_sync/secrets.py gateway_sync/admin_client.py analytics/ \
		webhooks/services.py webhooks/selectors.py webhooks/transport.py webhooks/signing.py webhooks/outbox.py \
		notifications/services/ notifications/selectors.py anomalies/services.py anomalies/selectors.py sso/services.py sso/oidc.py
	$(VENV)/bin/mypy protection/services/ protection/selectors.py protection/openapi.py
	$(VENV)/bin/mypy redaction/services.py redaction/selectors.py redaction/detectors.py
	$(VENV)/bin/bandit -q -c pyproject.toml -b .bandit-baseline.json -r certificates
	$(VENV)/bin/mypy certificates/services.py certificates/selectors.py certificates/pem.py

test: setup-dev
	scripts/ensure-services.sh --postgres
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest -n 2 --dist loadgroup -p no:cacheprovider
	@echo "--- smoke run of the main flow on embedded SQLite ---"
	DATABASE_URL=sqlite:///$(PORTICO_VAR_DIR)/smoke.sqlite3 $(VENV)/bin/pytest -m smoke -p no:cacheprovider -q

clean:
	rm -rf $(VENV) var
