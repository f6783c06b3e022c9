"""Prefect flows that compose the dubbing/ and lipsync/ libraries (which know nothing of Prefect)."""

import os

# Prefect on a cold machine can take a while to bring up its local ephemeral server (MODELS.md).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# No telemetry on a machine with no network (it only logs failures to reach its host).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
