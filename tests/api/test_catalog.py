"""The catalog: APIs with offered plans, plan comparison data and each API's OpenAPI document."""

from tests.api.conftest import assert_problem
from tests.factories import ApiFactory, PlanFactory


def test_the_catalog_lists_apis_with_offered_plans_only(bob_api, api, free_plan, pro_plan) -> None:
    PlanFactory(api=api, slug="internal", is_public=False)
    response = bob_api.get("/api/v1/apis/")
    assert response.status_code == 200
    (weather,) = response.json()["results"]
    assert weather["slug"] == "weather" and weather["has_openapi"] is False
    assert [p["slug"] for p in weather["plans"]] == ["free", "pro"]
    assert weather["plans"][1]["requires_approval"] is True


def test_the_catalog_does_not_reveal_upstreams(bob_api, api, free_plan) -> None:
    body = bob_api.get(f"/api/v1/apis/{api.slug}/").content.decode()
    assert "upstream" not in body and api.upstream_url not in body and "timeout" not in body


def test_the_catalog_has_a_fixed_query_count(charlie_api, django_assert_max_num_queries) -> None:
    for _ in range(5):
        PlanFactory.create_batch(2, api=ApiFactory())
    with django_assert_max_num_queries(3):
        response = charlie_api.get("/api/v1/apis/")
    assert response.json()["count"] == 5 and all(len(a["plans"]) == 2 for a in response.json()["results"])


def test_private_apis_are_not_found_for_developers(bob_api) -> None:
    hidden = ApiFactory(visibility="private", openapi_document={"openapi": "3.0.3"})
    assert bob_api.get("/api/v1/apis/").json()["count"] == 0
    for suffix in ("", "plan-comparison/", "openapi/"):
        assert_problem(bob_api.get(f"/api/v1/apis/{hidden.slug}/{suffix}"), 404)


def test_plan_comparison_puts_plans_in_columns_and_limits_in_rows(bob_api, api, free_plan, pro_plan) -> None:
    body = bob_api.get(f"/api/v1/apis/{api.slug}/plan-comparison/").json()
    assert [p["slug"] for p in body["plans"]] == ["free", "pro"]
    rows = {row["feature"]: row["values"] for row in body["rows"]}
    assert rows["rate_per_second"] == [free_plan.rate_per_second, 100]
    assert rows["quota_per_day"] == [free_plan.quota_per_day, 100000]


def test_the_openapi_document_is_served_as_published(bob_api, api) -> None:
    assert_problem(bob_api.get(f"/api/v1/apis/{api.slug}/openapi/"), 404)
    document = {"openapi": "3.0.3", "info": {"title": "Weather", "version": "1"}, "paths": {}}
    api.openapi_document = document
    api.save()
    assert bob_api.get(f"/api/v1/apis/{api.slug}/openapi/").json() == document
    assert bob_api.get(f"/api/v1/apis/{api.slug}/").json()["has_openapi"] is True
