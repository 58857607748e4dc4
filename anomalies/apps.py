from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    """Anomaly flags: keys far above their own baseline, error or denial rate jumps, invalid-key bursts per IP."""

    name = "anomalies"
    verbose_name = "Anomaly flags"
