"""The gateway API (docs/gateway-protocol.md §2-4): full snapshot, ordered deltas and heartbeats.

Only OAuth2 tokens of registered, enabled gateways with the `gateway` scope get in; developers' tokens and
sessions are not even recognised here (401), and other OAuth2 clients are refused (403).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import parse_etags
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from foundation.api.parsers import StrictJSONParser
from foundation.errors import ValidationFailed, problem_response
from gateway_sync import services
from gateway_sync.api.permissions import IsEnabledGateway
from gateway_sync.api.serializers import HeartbeatSerializer
from gateway_sync.models import ConfigChange
from gateway_sync.selectors import current_version
from gateway_sync.snapshot import snapshot_chunks

_VERSION = re.compile(r"^[0-9]{1,15}$")


class GatewayAPIView(APIView):
    """Base of the gateway endpoints: OAuth2 only, no throttling (gateways poll on a fixed beat), no schema."""

    authentication_classes = (OAuth2Authentication,)
    permission_classes = (IsEnabledGateway,)
    throttle_classes = ()
    parser_classes = (StrictJSONParser,)
    schema = None  # a machine protocol, documented in docs/gateway-protocol.md rather than the developer API
    http_method_names = ["get", "post"]


class ConfigView(GatewayAPIView):
    """`GET /gateway/v1/config`: the full snapshot at the current version, `ETag: "<version>"`, 304 if unchanged.

    Streamed (chunked): a million keys are encoded while they are sent, never held whole.
    """

    http_method_names = ["get"]

    def get(self, request: Request) -> HttpResponse:
        # The version is read BEFORE the snapshot is built. Rows committed while it is being built may already
        # show in it, but each of them also has a change with a version above the label, which the gateway pulls
        # next and re-applies; changes carry full object state, so applying one twice is harmless. Read the other
        # way round, the label could claim a change the snapshot does not contain, and the gateway would skip it.
        version = current_version()
        etag = f'"{version}"'
        presented = request.headers.get("If-None-Match")
        if presented and (etag in parse_etags(presented) or f"W/{etag}" in parse_etags(presented)):
            return HttpResponse(status=304, headers={"ETag": etag})
        return StreamingHttpResponse(
            snapshot_chunks(version=version),
            content_type="application/json",
            headers={"ETag": etag, "Cache-Control": "no-store"},
        )


class ChangesView(GatewayAPIView):
    """`GET /gateway/v1/changes?after=V`: changes after V in version order, one page at a time.

    `to` is the last version the answer covers: the current version when the page holds everything, else the
    last change in it (the gateway asks again from there). 410 when changes after V were pruned. A V above the
    current version means the gateway holds a version from another database (a restore): the feed is moved past
    it and the answer is 410, so the gateway replaces everything with a snapshot numbered above what it has.
    """

    http_method_names = ["get"]

    def get(self, request: Request) -> HttpResponse:
        raw = request.query_params.get("after", "")
        if not _VERSION.match(raw):
            raise ValidationFailed(
                "`after` must be a version: a non-negative integer.", field_errors={"after": ["Not a version."]}
            )
        after = int(raw)
        current = current_version()
        if after > current:
            services.feed_fast_forward(past=after)
            return _gone(request, f"Version {after} is not from this feed; pull the full snapshot.")
        page = settings.PORTICO_FEED_PAGE_SIZE
        rows = list(ConfigChange.objects.filter(version__gt=after, version__lte=current).order_by("version")[:page])
        # Checked after reading the rows, so a prune that ran meanwhile is noticed rather than skipped over.
        if not services.feed_is_retained(after=after, current=current):
            return _gone(request, f"Changes after version {after} are no longer retained; pull the full snapshot.")
        to = rows[-1].version if len(rows) == page else current
        return Response({"from": after, "to": to, "changes": [row.as_delta() for row in rows]})


def _gone(request: Request, detail: str) -> HttpResponse:
    return problem_response(status=410, title="Gone", detail=detail, code="feed_gone", instance=request.path)


class HeartbeatView(GatewayAPIView):
    """`POST /gateway/v1/heartbeat`: what the gateway enforces and counts. It can only report about itself."""

    http_method_names = ["post"]

    def post(self, request: Request) -> HttpResponse:
        serializer = HeartbeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        gateway = request.gateway  # type: ignore[attr-defined]
        if data["name"] != gateway.name:
            raise ValidationFailed(
                f"This token belongs to gateway {gateway.name!r}, not {data['name'][:64]!r}.",
                field_errors={"name": ["Does not match the token's gateway."]},
            )
        services.gateway_record_heartbeat(
            gateway=gateway,
            version=data["version"],
            counters=data["counters"],
            errors=data["errors"],
            alarms=data["alarms"],
            clock=data["time"],
        )
        return HttpResponse(status=204)
