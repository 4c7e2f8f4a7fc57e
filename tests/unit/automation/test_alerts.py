"""Alert declarations: checked where they are made, each mistake with its hint."""

from datetime import timedelta

import pytest

from assay import Alert, Definitions, Email, Slack, Webhook, asset
from assay.errors import DefinitionError


@asset
def numbers():
    return None


def test_targets_have_default_names_and_describe_secrets_by_variable():
    hook = Webhook(url_env="OPS_URL", headers_env={"Authorization": "OPS_TOKEN"})
    chat = Slack(url="https://hooks.slack.example/services/T0/B0/SECRET")
    mail = Email(
        host="smtp.example.com",
        sender="a@x.example",
        to="b@x.example",
        username="a",
        password_env="SMTP_PASSWORD",
    )
    assert (hook.name, chat.name, mail.name) == ("webhook", "slack", "email")
    assert hook.describe() == "POST JSON to $OPS_URL, Authorization: $OPS_TOKEN"
    assert hook.secret_envs() == ("OPS_URL", "OPS_TOKEN")
    assert "SECRET" not in chat.describe()
    assert "SECRET" not in repr(chat)
    assert chat.describe() == (
        "Slack incoming webhook https://hooks.slack.example/… (the URL is in the code, not shown)"
    )
    assert mail.to == ("b@x.example",)
    assert mail.describe() == (
        "mail to b@x.example via smtp.example.com:587 (STARTTLS, login a / $SMTP_PASSWORD)"
    )


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda: Webhook(), r"give url_env= \(the environment variable that holds the URL\)"),
        (lambda: Webhook(url="x", url_env="Y"), "one of them"),
        (lambda: Slack(url="ftp://x"), r"must be an http:// or https:// URL \(it is not shown"),
        (lambda: Slack(url_env="not a name"), "give the name of an environment variable"),
        (lambda: Webhook(name="a b", url_env="U"), "give a name of letters, digits"),
        (lambda: Webhook(url_env="U", headers_env={"Bad Header": "T"}), "is not a header name"),
        (lambda: Email(host="h", sender="nobody", to=["b@x"]), "'nobody' is not an e-mail"),
        (lambda: Email(host="h", sender="a@x", to=[]), "give at least one address"),
        (lambda: Email(host="h", sender="a@x", to=["b@x"], port=0), "give a port number"),
        (lambda: Email(host="h", sender="a@x", to=["b@x"], username="a"), "together"),
        (lambda: Alert(on=["run_faild"], to=[Slack(url_env="U")]), "Did you mean 'run_failed'"),
        (
            lambda: Alert(on=[], to=[Slack(url_env="U")]),
            r"give the events to alert on \(run_failed",
        ),
        (lambda: Alert(on=["run_failed"], to=[]), "give at least one target"),
        (lambda: Alert(on=["run_failed"], to=["https://x"]), "which is not a target: use Webhook"),
        (lambda: Alert(on=["run_failed"], to=[Slack(url_env="U")], select=""), "selection strings"),
        (lambda: Alert(on=["run_too_long"], to=[Slack(url_env="U")]), "needs max_duration="),
        (
            lambda: Alert(on=["run_failed"], to=[Slack(url_env="U")], max_duration=timedelta(1)),
            "add it to on=",
        ),
        (
            lambda: Alert(on=["run_too_long"], to=[Slack(url_env="U")], max_duration=10),
            "give a positive datetime.timedelta",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_mistake_is_a_definition_error_with_a_hint(make, hint):
    with pytest.raises(DefinitionError, match=hint):
        make()


def test_definitions_take_alerts_and_index_their_targets():
    ops = Slack(name="ops", url_env="OPS_URL")
    defs = Definitions(
        assets=[numbers],
        alerts=[
            Alert(on=["run_failed"], to=[ops]),
            Alert(on="check_failed", to=ops, select="numbers"),
        ],
    )
    assert list(defs.alert_targets) == ["ops"]
    assert defs.alerts[1].describe() == "check_failed for numbers -> ops"
    assert Definitions(assets=[numbers]).alerts == ()


def test_two_different_targets_may_not_share_a_name():
    with pytest.raises(DefinitionError, match=r"two alert targets are named 'ops' \(slack and"):
        Definitions(
            assets=[numbers],
            alerts=[
                Alert(on=["run_failed"], to=[Slack(name="ops", url_env="A")]),
                Alert(on=["run_failed"], to=[Webhook(name="ops", url_env="B")]),
            ],
        )


@pytest.mark.parametrize("alerts", [Alert(on=["run_failed"], to=[Slack(url_env="U")]), ["x"]])
def test_definitions_refuse_what_is_not_a_list_of_alerts(alerts):
    with pytest.raises(DefinitionError, match=r"Definitions\(alerts=.*(give a list|not an Alert)"):
        Definitions(assets=[numbers], alerts=alerts)


def test_a_selection_that_selects_nothing_fails_when_the_alerts_are_resolved():
    from assay.alerting.rules import AlertRules

    defs = Definitions(
        assets=[numbers],
        alerts=[Alert(on=["run_failed"], to=[Slack(url_env="U")], select="numbrs")],
    )
    with pytest.raises(DefinitionError, match="Did you mean 'numbers'"):
        AlertRules(defs.alerts, defs.graph)
