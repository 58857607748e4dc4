"""The production configuration (deploy/): one stack of real processes for this package's tests.

Its tests run in one xdist group, so one worker starts the stack once (about 45 s of CPU: 35 s on a quiet
machine, up to 2 minutes on a busy one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.production_stack import ProductionStack, database_url_for

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.xdist_group("deploy"))


@pytest.fixture(scope="session")
def production(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[ProductionStack]:
    """gunicorn (2 workers) behind the TLS front, two Celery workers, beat and two gateways; stopped afterwards."""
    database = database_url_for(f"portico_deploy_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
    stack = ProductionStack(tmp_path_factory.mktemp("production"), database, upstream)
    try:
        yield stack.start()
    finally:
        stack.stop()
