"""How each kind of target words an event: a JSON document for webhooks, Slack's
incoming-webhook payload (`text` and Block Kit `blocks`), an e-mail message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assay.version import __version__

if TYPE_CHECKING:
    from email.message import EmailMessage

    from assay.alerting.events import AlertEvent
    from assay.automation.alerts import Email

# Slack's limits: a header's text, a section's text, a field's text, fields per section
_SLACK_HEADER, _SLACK_TEXT, _SLACK_FIELD, _SLACK_FIELDS = 150, 3000, 2000, 10


def webhook_payload(event: AlertEvent, project: str) -> dict[str, Any]:
    """The JSON document a webhook receives."""
    error = None
    if event.error_type or event.error_message:
        error = {
            "type": event.error_type,
            "message": event.error_message,
            "location": event.error_location,
        }
    return {
        "source": "assay",
        "assay_version": __version__,
        "project": project,
        "kind": str(event.kind),
        "key": event.key,
        "subject": event.subject,
        "text": event.text,
        "at": iso_time(event.at),
        "run_id": event.run_id,
        "assets": list(event.assets),
        "asset": event.asset,
        "partition": event.partition,
        "error": error,
        "duration_s": event.duration_s,
        "details": dict(event.details),
    }


def slack_payload(event: AlertEvent, project: str) -> dict[str, Any]:
    """An incoming-webhook message: `text` (the subject: what notifications show)
    and blocks: a header, the text, the fields, and where it came from."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(event.subject, _SLACK_HEADER)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(_escape(event.text), _SLACK_TEXT)},
        },
    ]
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{label}*\n{_escape(value)}", _SLACK_FIELD)}
        for label, value in event.fields()[:_SLACK_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _escape(f"assay · {project} · {event.kind} · {iso_time(event.at)}"),
                }
            ],
        }
    )
    return {"text": _cut(_escape(event.subject), _SLACK_TEXT), "blocks": blocks}


def email_message(event: AlertEvent, project: str, target: Email) -> EmailMessage:
    """A plain-text message: the text, then one line per field."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    message = EmailMessage()
    message["Subject"] = f"[assay {project}] {event.subject}"
    message["From"] = target.sender
    message["To"] = ", ".join(target.to)
    message["Date"] = formatdate(event.at, localtime=True)
    message["Message-ID"] = make_msgid(domain=target.sender.rsplit("@", 1)[-1])
    message["X-Assay-Event"] = event.key
    lines = [event.text, ""]
    lines += [f"{label}: {value}" for label, value in event.fields()]
    lines += ["", f"-- assay {__version__}, project {project}, {iso_time(event.at)}"]
    message.set_content("\n".join(lines))
    return message


def iso_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
