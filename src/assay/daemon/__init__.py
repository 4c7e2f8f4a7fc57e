"""The daemon: schedules and sensors evaluated, runs launched, by themselves.

`assay daemon` runs `Daemon.run` in the foreground; `assay tick` runs one
`Daemon.tick`. Both hold `<home>/daemon.lock`, so one process evaluates a
state home's schedules at a time.
"""

from assay.daemon.service import Daemon, DaemonStatus, daemon_status

__all__ = ["Daemon", "DaemonStatus", "daemon_status"]
