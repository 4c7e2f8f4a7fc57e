"""What makes assay act, and speak, by itself: declarations only.

    alerts.py   Alert, and its targets Webhook, Slack and Email (delivery: assay.alerting)

Nothing here opens a socket or reads the state store, and nothing heavy is
imported: a definitions module that declares alerts loads as fast as one
that does not.
"""
