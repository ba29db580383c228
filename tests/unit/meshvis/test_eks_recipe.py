"""The no-Pulumi recipe installs every values file `meshvis render` writes for an eks stack
(the recipe once installed kube-prometheus-stack but not Tempo), and docs/eks.md shows it."""

from __future__ import annotations

import pytest

from components.settings.stack_files import PROJECT_ROOT
from components.settings.validate import settings_from_config
from components.stack import stack_settings
from meshvis.render.eks import eks_documents, install_commands
from tests.support.shop_graphs import shop_eks_config

OUT = "out/eks"
DOC = PROJECT_ROOT / "docs" / "eks.md"
STACKS = {
    "dev-eks": stack_settings("dev-eks"),
    "shop, no tracing": settings_from_config(shop_eks_config(tracing=False)),
}


def values_without_install(settings, recipe: str) -> list[str]:
    """The values files the render writes that no `helm ... -f <file>` line of ``recipe``
    installs."""
    lines = recipe.splitlines()
    return [
        path
        for path in eks_documents(settings)
        if path.endswith("-values.yaml")
        and not any(line.startswith("helm ") and f" -f {OUT}/{path}" in line for line in lines)
    ]


@pytest.mark.parametrize("settings", STACKS.values(), ids=STACKS)
def test_every_values_file_has_its_install_command(settings):
    commands = install_commands(settings, OUT)
    assert values_without_install(settings, "\n".join(commands)) == []
    # ...and the objects, the StorageClass among them, are files of the render.
    documents = eks_documents(settings)
    for command in commands:
        if command.startswith("kubectl apply -f ") and command.endswith(".yaml"):
            assert command.removeprefix(f"kubectl apply -f {OUT}/") in documents


def test_docs_show_the_recipe_the_render_needs():
    settings = STACKS["dev-eks"]
    text = DOC.read_text()
    assert values_without_install(settings, text) == []
    missing = [c for c in install_commands(settings, OUT) if c not in text.splitlines()]
    assert missing == []
