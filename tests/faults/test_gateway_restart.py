"""A gateway restarted between collections: usage resumes from the platform's cursor, each request counted once."""

import signal

from tests.support.waiting import wait_until


def _requests_counted(stack) -> int:
    response = stack.api("GET", f"/api/v1/applications/{stack.seed['application_id']}/usage/?granularity=minute")
    assert response.status_code == 200, response.text
    return response.json()["totals"]["requests"]


def _collect_until(stack, expected: int) -> None:
    def counted() -> bool:
        stack.collect_usage()
        return _requests_counted(stack) >= expected

    wait_until(counted, timeout=30, interval=1)
    assert _requests_counted(stack) == expected


def test_usage_is_counted_exactly_once_across_a_gateway_restart_and_a_worker_crash(stack) -> None:
    gateway, key = stack.gateway, stack.seed["key"]
    assert [gateway.get("/echo/a", key).status_code for _ in range(30)] == [200] * 30
    _collect_until(stack, 30)

    gateway.restart()
    assert [gateway.get("/echo/b", key).status_code for _ in range(20)] == [200] * 20
    stack.worker.popen.send_signal(signal.SIGKILL)  # a worker crash between collections loses nothing either
    stack.worker.popen.wait(10)
    stack.start_worker()
    _collect_until(stack, 50)
