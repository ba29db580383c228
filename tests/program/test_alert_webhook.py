"""The EKS program keeps ``alertWebhookUrl`` a secret end to end: it reaches the engine only
inside the Alertmanager configuration Secret's data, marked secret, and the release's
Alertmanager reads that Secret (created before it)."""

from __future__ import annotations

import json

from google.protobuf import json_format

from components.eks.alerting import CONFIG_KEY, alertmanager_config_text, config_secret_name
from components.settings.stack_files import stack_config
from components.settings.validate import settings_from_config
from tests.support import pulumi_harness
from tests.support.pulumi_harness import run_program

URL = "https://hooks.example.com/services/T000/B000/very-secret-token"
# How the engine's wire format marks a secret value (pulumi sdk/python/lib/pulumi/runtime/rpc.py).
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"


def test_the_webhook_url_is_only_in_the_secret_and_marked_secret(monkeypatch):
    wire: dict[tuple[str, str], str] = {}
    register = pulumi_harness.RecordingMonitor.RegisterResource

    def recording(self, request):
        wire[(request.type, request.name)] = json_format.MessageToJson(request.object)
        return register(self, request)

    monkeypatch.setattr(pulumi_harness.RecordingMonitor, "RegisterResource", recording)
    config = {**stack_config("dev-eks"), "mesh-visibility:alertWebhookUrl": URL}
    settings = settings_from_config(config)
    run = run_program(config, "webhook")

    holding = [key for key, text in wire.items() if "very-secret-token" in text]
    (secret,) = [r for r in run.of_type(SECRET) if r.name.endswith("-alertmanager-config")]
    assert holding == [(SECRET, secret.name)]
    assert SECRET_SIG in wire[(SECRET, secret.name)]
    assert secret.inputs["metadata"]["name"] == config_secret_name(settings)
    # The recorded inputs keep the wire's secret wrapper: {<sig key>: SECRET_SIG, "value": ...}.
    data = secret.inputs["stringData"]
    assert SECRET_SIG in data.values()
    assert json.loads(data["value"][CONFIG_KEY]) == json.loads(
        alertmanager_config_text(settings, URL)
    )
    (release,) = [r for r in run.of_type(RELEASE) if "alertmanager" in r.inputs["values"]]
    assert (SECRET, secret.name) in run.options[(RELEASE, release.name)].dependencies
    assert URL not in json.dumps(run.outputs)
