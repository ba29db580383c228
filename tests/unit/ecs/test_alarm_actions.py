"""Every CloudWatch alarm the game day counts as paging (meshvis/local/gameday_plan.py: any
alarm but a ticket), and every ticket, tells someone: it notifies the mesh's alert topic when it
fires and when it resolves, as the stack registers it (components/ecs/mesh_documents.py). An
SLO's window alarms are only their composites' inputs and notify nobody themselves."""

from __future__ import annotations

import pytest

from components.ecs.documents import example_mesh_references
from components.ecs.mesh_documents import mesh_documents
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from meshvis.local.gameday_plan import TICKET, cloudwatch_alarms
from tests.support.shop_graphs import shop_config

STACKS = {"dev": stack_settings("dev"), "shop": settings_from_config(shop_config())}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_paging_alarm_notifies_the_alert_topic(stack):
    settings = STACKS[stack]
    refs = example_mesh_references(settings)
    # A metric alarm's game-day name is its document's (the resource name's suffix).
    alarms = [
        {"name": d.name, **d.args}
        for d in mesh_documents(settings, refs, settings.mesh_name)
        if d.kind in ("metric-alarm", "composite-alarm")
    ]
    told = {a.name for a in cloudwatch_alarms(alarms) if a.pages or a.severity == TICKET}
    assert any(name.endswith("-no-healthy-hosts") for name in told)
    for args in alarms:
        name = args.get("alarm_name") or args["name"]
        if name in told:
            assert args["alarm_actions"] == args["ok_actions"] == [refs.topic_arn], name
            assert args["actions_enabled"] is True, name
        else:
            assert "window" in args["tags"], name
            assert not args.get("alarm_actions") and not args.get("ok_actions"), name
