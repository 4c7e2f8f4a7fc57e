"""What runs by itself, and speaks: declarations only (evaluated by `assay.daemon`,
delivered by `assay.alerting`).

    cron.py        Cron: an expression on a timezone's wall clock, one DST rule
    schedules.py   Schedule, @schedule
    sensors.py     @sensor, file_sensor, run_status_sensor
    requests.py    RunRequest, SkipReason: what schedules and sensors ask for
    alerts.py      Alert, and its targets Webhook, Slack and Email

Nothing here opens a socket or reads the state store, and nothing heavy is
imported: a definitions module that declares them loads as fast as one that
does not.
"""

from assay.automation.cron import Cron
from assay.automation.requests import RunRequest, SkipReason
from assay.automation.schedules import Schedule, ScheduleContext, schedule
from assay.automation.sensors import (
    FinishedRun,
    Sensor,
    SensorContext,
    SensorResult,
    file_sensor,
    run_status_sensor,
    sensor,
)

__all__ = [
    "Cron",
    "FinishedRun",
    "RunRequest",
    "Schedule",
    "ScheduleContext",
    "Sensor",
    "SensorContext",
    "SensorResult",
    "SkipReason",
    "file_sensor",
    "run_status_sensor",
    "schedule",
    "sensor",
]
