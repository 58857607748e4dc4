"""Usage storage upkeep: event partitions ahead of time, and retention of events, rollups and batch records.

Ingest lives in analytics.ingest, collection in analytics.collection and quota blocks in analytics.quota.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from analytics.models import IngestedBatch, UsageRollup
from analytics.partitions import partitions_maintain

PARTITIONS_AHEAD_DAYS = 3
# Batch records only guard against re-reads of batches above the gateway's cursor, which are recent.
BATCH_RETENTION = timedelta(days=7)


def usage_storage_maintain(*, now: datetime) -> dict[str, int]:
    """Create tomorrow's partitions, drop expired ones and delete rollups and batch records past retention."""
    done = partitions_maintain(
        today=now.date(), days_ahead=PARTITIONS_AHEAD_DAYS, retention_days=settings.PORTICO_USAGE_EVENT_RETENTION_DAYS
    )
    for granularity, days in (
        (UsageRollup.Granularity.MINUTE, settings.PORTICO_USAGE_MINUTE_RETENTION_DAYS),
        (UsageRollup.Granularity.HOUR, settings.PORTICO_USAGE_HOUR_RETENTION_DAYS),
    ):
        deleted, _ = UsageRollup.objects.filter(granularity=granularity, bucket__lt=now - timedelta(days=days)).delete()
        done[f"{granularity}_rollups_deleted"] = deleted
    done["batches_deleted"], _ = IngestedBatch.objects.filter(ingested_at__lt=now - BATCH_RETENTION).delete()
    return done
