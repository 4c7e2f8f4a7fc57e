"""Alerts to a webhook, Slack and e-mail, their addresses in environment variables;
switches the alert tests turn.

ALERT_HOOK_URL, ALERT_HOOK_TOKEN   the webhook `hook` (and its Authorization header)
ALERT_SLACK_URL                    the Slack incoming webhook `chat`
ALERT_SMTP_PORT                    the SMTP server of `mail` on 127.0.0.1 (plain SMTP)
FAIL=1                             `boom` raises
PRICES_STALE=1                     the blocking check `fresh_enough` on `prices` fails
"""

import os
import time
from datetime import timedelta

import polars as pl

from assay import Alert, Definitions, Email, Slack, Webhook, asset, asset_check


@asset
def ok() -> pl.DataFrame:
    return pl.DataFrame({"x": [1, 2]})


@asset(group="finance")
def boom(ok: pl.DataFrame) -> pl.DataFrame:
    if os.environ.get("FAIL"):
        raise ValueError("the ledger does not balance")
    return ok


@asset(group="finance")
def after(boom: pl.DataFrame) -> pl.DataFrame:
    return boom


@asset
def prices() -> pl.DataFrame:
    return pl.DataFrame({"price": [1.5, 2.0]})


@asset_check(asset=prices, blocking=True)
def fresh_enough(prices: pl.DataFrame) -> bool:
    return not os.environ.get("PRICES_STALE")


@asset
def slow() -> pl.DataFrame:
    time.sleep(0.05)
    return pl.DataFrame({"y": [1]})


hook = Webhook(
    name="hook", url_env="ALERT_HOOK_URL", headers_env={"Authorization": "ALERT_HOOK_TOKEN"}
)
chat = Slack(name="chat", url_env="ALERT_SLACK_URL")
mail = Email(
    name="mail",
    host="127.0.0.1",
    port=int(os.environ.get("ALERT_SMTP_PORT", "2525")),
    sender="assay@shop.example",
    to=["oncall@shop.example"],
    starttls=False,
)

defs = Definitions(
    assets=[ok, boom, after, prices, slow],
    checks=[fresh_enough],
    alerts=[
        Alert(on=["run_failed", "check_failed"], to=[hook, chat]),
        Alert(on=["run_failed"], select="group:finance", to=[mail]),
        Alert(
            on=["run_too_long"], select="slow", max_duration=timedelta(milliseconds=1), to=[hook]
        ),
    ],
)
