"""The documents of an ``eks`` stack, as ``meshvis render`` writes them.

What ``pulumi up`` creates on the cluster (``components.eks.documents.stack_documents``, which
the components register): ``k8s/`` holds every Kubernetes object, numbered in apply order;
``helm/<release>.yaml`` each Helm release's arguments but its values, which are
``monitoring-values.yaml`` and (with ``tracing``) ``tempo-values.yaml``. The Alertmanager
Secret holds ``alerting.WEBHOOK_PLACEHOLDER`` where the program writes the webhook URL.
``install_commands`` deploys them on a cluster in order (docs/eks.md "Without Pulumi").
``prometheus.yml`` with ``prometheus-rules.yaml`` is a Prometheus configuration with the same
scrape job and alert rules, for a Prometheus outside the operator.
"""

from __future__ import annotations

import json

import yaml

from components.eks import monitoring, tempo
from components.eks.documents import (
    HELM_RELEASE,
    Document,
    References,
    rendered_references,
    stack_documents,
)
from components.eks.objects import MONITORING_NAMESPACE
from components.eks.storage import storage_class
from components.settings.model import Settings
from components.sidecar.demo_app import demo_app_source
from dashboards.grafana.dashboards import grafana_dashboards
from dashboards.prometheus.rules import rules_file
from dashboards.prometheus.scrape import kubernetes_scrape_job, prometheus_config

RULES_FILE = "prometheus-rules.yaml"
MONITORING_VALUES = "monitoring-values.yaml"
TEMPO_VALUES = "tempo-values.yaml"
# Where each Helm release's values are written (its other arguments: helm/<release>.yaml).
VALUES_FILES = {monitoring.RELEASE_NAME: MONITORING_VALUES, tempo.RELEASE_NAME: TEMPO_VALUES}


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (bootstraps, the demo app) as readable ``|`` blocks, and
    repeated values (a Deployment's selector labels) in full rather than as YAML aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def to_yaml(document: object) -> str:
    """YAML of a document, keys in their given order, multi-line strings as blocks."""
    return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)


def kubernetes_objects(settings: Settings, app_source: str) -> list[dict]:
    """Every Kubernetes object of the stack, in apply order, as rendered (the StorageClass
    first: the releases' volumes are claimed from it; the PrometheusRule last: its kind comes
    with the release)."""
    return _objects(stack_documents(settings, app_source, rendered_references(settings)))


def _objects(documents: list[Document]) -> list[dict]:
    return [d.args for d in documents if d.kind != HELM_RELEASE]


def standalone_prometheus_config(settings: Settings) -> dict:
    """A Prometheus configuration with the mesh's scrape job and alert rules, for a
    Prometheus outside the operator (its usual 30 s interval)."""
    return prometheus_config(
        kubernetes_scrape_job(settings.kubernetes_namespace), [RULES_FILE], interval="30s"
    )


def object_path(index: int, obj: dict) -> str:
    """Where the render writes the ``index``-th Kubernetes object (``k8s/NN-kind-name.yaml``)."""
    return f"k8s/{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def release_files(document: Document) -> dict[str, str]:
    """A Helm release's document as two files: its values, and its other arguments."""
    release = document.args["name"]
    arguments = {key: value for key, value in document.args.items() if key != "values"}
    return {
        f"helm/{release}.yaml": f"# values: {VALUES_FILES[release]}\n" + to_yaml(arguments),
        VALUES_FILES[release]: to_yaml(document.args["values"]),
    }


def eks_documents(settings: Settings, references: References | None = None) -> dict[str, str]:
    """Every generated document of an ``eks`` stack: relative path -> file text, with
    ``references`` in the documents (default: the rendered placeholders)."""
    deployed = stack_documents(
        settings, demo_app_source(), references or rendered_references(settings)
    )
    documents: dict[str, str] = {}
    for index, obj in enumerate(_objects(deployed)):
        documents[object_path(index, obj)] = to_yaml(obj)
    for document in deployed:
        if document.kind == HELM_RELEASE:
            documents.update(release_files(document))
    for filename, dashboard in grafana_dashboards(settings).items():
        documents[f"grafana/{filename}"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    documents[RULES_FILE] = to_yaml(rules_file(settings))
    documents["prometheus.yml"] = to_yaml(standalone_prometheus_config(settings))
    return documents


def install_commands(settings: Settings, out: str) -> list[str]:
    """The commands that deploy a render in ``out`` on a cluster without Pulumi, in order:
    the StorageClass the releases' volumes need, one Helm release per values file, then every
    object (docs/eks.md "Without Pulumi" lists them; a test keeps the two equal)."""
    kps = (
        f"helm upgrade --install {monitoring.RELEASE_NAME} "
        f"prometheus-community/{monitoring.CHART} --version {monitoring.CHART_VERSION} "
        f"--namespace {MONITORING_NAMESPACE} --create-namespace -f {out}/{MONITORING_VALUES}"
    )
    commands = [
        f"helm repo add prometheus-community {monitoring.CHART_REPOSITORY}",
        # kubernetes_objects puts it first.
        f"kubectl apply -f {out}/{object_path(0, storage_class())}",
        kps,
    ]
    if settings.tracing:
        commands[1:1] = [f"helm repo add grafana-community {tempo.CHART_REPOSITORY}"]
        commands.append(
            f"helm upgrade --install {tempo.RELEASE_NAME} grafana-community/{tempo.CHART} "
            f"--version {tempo.CHART_VERSION} --namespace {MONITORING_NAMESPACE} "
            f"-f {out}/{TEMPO_VALUES}"
        )
    return [*commands, f"kubectl apply -f {out}/k8s/"]
