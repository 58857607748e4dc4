"""Every notification state change: triggers decide and record, the outbox sends, preferences opt out."""

from notifications.services.outbox import (
    notification_send,
    notifications_prune,
    notifications_record,
    notifications_send_due,
)
from notifications.services.preferences import opt_out_set, unsubscribe_token, unsubscribe_token_read
from notifications.services.triggers import (
    certificate_expiry_evaluate,
    event_record,
    key_expiry_evaluate,
    quota_thresholds_evaluate,
)

__all__ = [
    "certificate_expiry_evaluate",
    "event_record",
    "key_expiry_evaluate",
    "notification_send",
    "notifications_prune",
    "notifications_record",
    "notifications_send_due",
    "opt_out_set",
    "quota_thresholds_evaluate",
    "unsubscribe_token",
    "unsubscribe_token_read",
]
