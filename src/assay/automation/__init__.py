"""What runs by itself: schedules, sensors and the requests they make (declared
here, evaluated by `assay.daemon`)."""

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
