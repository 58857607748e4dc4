"""Template context every portal page needs: the user's organisations for the switcher."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    return {"portico_brand": "Portico"}
