def test_liveness_answers_without_touching_dependencies(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_checks_database_and_redis(client, db) -> None:
    response = client.get("/readyz?format=json", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert any("Database" in name for name in body) and any("Redis" in name for name in body)


def test_readiness_fails_when_redis_is_unreachable(client, db, settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz?format=json", HTTP_ACCEPT="application/json")
    assert response.status_code == 500
