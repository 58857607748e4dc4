"""factory_boy factories that go through the model layer only; state changes in tests use the services."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from portal.models import Api, Application, Membership, Organisation, Plan, Role

PASSWORD = "correct-horse-battery-staple"  # every factory user's


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Org {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class ApiFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Api

    name = factory.Sequence(lambda n: f"API {n}")
    slug = factory.Sequence(lambda n: f"api-{n}")
    path_prefix = factory.Sequence(lambda n: f"/api-{n}")
    upstream_url = "http://127.0.0.1:9000"


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    api = factory.SubFactory(ApiFactory)
    name = factory.Sequence(lambda n: f"Plan {n}")
    slug = factory.Sequence(lambda n: f"plan-{n}")
    rate_per_second = 10
    rate_per_minute = 100
    quota_per_day = 1000
    quota_per_month = 10000
    is_public = True


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"App {n}")
