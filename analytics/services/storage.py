"""Usage storage upkeep: event partitions ahead of time, and retention of events, rollups and batch records.

On PostgreSQL the events table has daily range partitions, created ahead and dropped past retention; on other
databases it is a plain table and retention is a DELETE.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from analytics.models import IngestedBatch, RequestEvent, UsageRollup

logger = logging.getLogger(__name__)

EVENTS = RequestEvent._meta.db_table
DEFAULT_PARTITION = f"{EVENTS}_default"
_PARTITION_NAME = re.compile(rf"^{EVENTS}_p(\d{{8}})$")
PARTITIONS_AHEAD_DAYS = 3
# Batch records only guard against re-reads of batches above the gateway's cursor, which are recent.
BATCH_RETENTION = timedelta(days=7)


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def partition_name(day: date) -> str:
    return f"{EVENTS}_p{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _range(start: datetime, end: datetime) -> str:
    """DDL takes no bind parameters; the bounds are our own datetimes, never input."""
    return f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"


def partitions_existing() -> list[date]:
    """Days that have their own partition, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [EVENTS],
        )
        names = [row[0] for row in cursor.fetchall()]
    days = [datetime.strptime(m.group(1), "%Y%m%d").date() for n in names if (m := _PARTITION_NAME.match(n))]
    return sorted(days)


@transaction.atomic
def partition_create(*, day: date) -> bool:
    """Create the partition of one UTC day; rows already in the DEFAULT partition for that day move into it."""
    if day in partitions_existing():
        return False
    name, (start, end) = partition_name(day), _bounds(day)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE time >= %s AND time < %s LIMIT 1", [start, end])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {EVENTS} {_range(start, end)}")
            return True
        # Attaching checks that DEFAULT holds no row of the new range, so move those rows over first.
        cursor.execute(f"CREATE TABLE {name} (LIKE {EVENTS} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE time >= %s AND time < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {EVENTS} ATTACH PARTITION {name} {_range(start, end)}")
    return True


def partitions_maintain(*, today: date, days_ahead: int, retention_days: int) -> dict[str, int]:
    """Make sure today and the next `days_ahead` days have partitions; drop days older than the retention."""
    cutoff = today - timedelta(days=retention_days)
    if not partitioned():
        deleted, _ = RequestEvent.objects.filter(time__lt=_bounds(cutoff)[0]).delete()
        return {"created": 0, "dropped": 0, "deleted": deleted}
    created = sum(partition_create(day=today + timedelta(days=n)) for n in range(days_ahead + 1))
    dropped = 0
    for day in partitions_existing():
        if day < cutoff:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {partition_name(day)}")
            dropped += 1
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DEFAULT_PARTITION} WHERE time < %s", [_bounds(cutoff)[0]])
        deleted = cursor.rowcount
    if created or dropped:
        logger.info("event partitions: %d created, %d dropped", created, dropped)
    return {"created": created, "dropped": dropped, "deleted": deleted}


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
