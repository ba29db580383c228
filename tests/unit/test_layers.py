"""The layers of DESIGN.md, enforced: imports run one way, and only Pulumi components import pulumi.

settings <- sidecar <- dashboards <- ecs | eks <- composition root, ``__main__.py``, meshvis.
The rule is checked on the real module graph (every ``import`` in the source, at any depth of
the file) and shown to catch a back-edge on a synthetic graph.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from components.settings.stack_files import PROJECT_ROOT

PACKAGES = ("components", "dashboards", "meshvis", "provider")
# Rank of each layer: a module may import modules of its own rank or lower, never higher.
LAYERS = (
    ("components.settings", 0),
    ("components.sidecar", 1),
    ("components.iam", 1),
    ("components.outputs", 1),
    ("dashboards", 2),
    ("components.ecs", 3),
    ("components.eks", 3),
    ("components.network", 3),
    ("components.stack", 4),
    ("components.program", 4),
    ("__main__", 5),
    ("meshvis", 5),
    ("provider", 5),
)
# Layers of one rank that must not import each other.
APART = {("components.ecs", "components.eks"), ("components.eks", "components.ecs")}
# The only modules that may import pulumi (or a provider SDK): the Pulumi components and the
# composition root that runs them.
PULUMI_MODULES = {
    "components.network",
    "components.ecs.registry",
    "components.ecs.service",
    "components.ecs.topology",
    "components.eks.register",
    "components.eks.service",
    "components.eks.topology",
    "components.program",
    # The component package: it hosts the components, and infers its schema from them.
    "provider.__main__",
    "provider.construct",
    "provider.docs",
    # `meshvis offline`: a program of the components run under Pulumi's mocks (the harness the
    # program tests use too). The command line imports it only for that subcommand, so `run`
    # and `render` never load pulumi (test_the_command_line_runs_without_loading_pulumi).
    "meshvis.offline.harness",
    "meshvis.offline.programs",
}


def layer_of(module: str) -> tuple[str, int] | None:
    """The (layer, rank) of a project module, or None for a module outside the project."""
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, rank
    return None


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import in ``graph`` (module -> modules it imports) that breaks the layering."""
    found = []
    for module, imports in sorted(graph.items()):
        source = layer_of(module)
        if source is None:
            continue
        for target in sorted(imports):
            if (
                target.split(".")[0] in ("pulumi", "pulumi_aws", "pulumi_eks", "pulumi_kubernetes")
                and module not in PULUMI_MODULES
            ):
                found.append(f"{module} imports {target}: only Pulumi components may")
            destination = layer_of(target)
            if destination is None:
                continue
            if destination[1] > source[1]:
                found.append(
                    f"{module} imports {target}: {source[0]} may not depend on {destination[0]}"
                )
            if (source[0], destination[0]) in APART:
                found.append(f"{module} imports {target}: the topologies stay apart")
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(PROJECT_ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def project_graph() -> dict[str, set[str]]:
    """The import graph of the project's own code (tests and benchmarks aside)."""
    files = [PROJECT_ROOT / "__main__.py"]
    for package in PACKAGES:
        files.extend(sorted((PROJECT_ROOT / package).rglob("*.py")))
    graph: dict[str, set[str]] = {}
    for path in files:
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imports.add(node.module)
                # `from dashboards.prometheus import promql` imports a module, not a name.
                imports.update(
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if (PROJECT_ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()
                )
        graph[module_name(path)] = imports
    return graph


def test_the_project_imports_only_downwards():
    graph = project_graph()
    assert {
        "components.settings.model",
        "components.ecs.topology",
        "meshvis.local.runner",
        "__main__",
        "provider.__main__",
    } <= set(graph)
    assert violations(graph) == []


def test_a_back_edge_or_a_stray_pulumi_import_is_caught():
    synthetic = {
        "components.settings.model": {"components.ecs.containers"},
        "components.sidecar.bootstrap": {"components.settings.model", "pulumi"},
        "dashboards.cloudwatch.alarms": {"components.eks.monitoring"},
        "components.ecs.checks": {"components.eks.checks"},
        "components.ecs.service": {"pulumi", "components.sidecar.bootstrap"},
    }
    assert violations(synthetic) == [
        "components.ecs.checks imports components.eks.checks: the topologies stay apart",
        "components.settings.model imports components.ecs.containers: components.settings may "
        "not depend on components.ecs",
        "components.sidecar.bootstrap imports pulumi: only Pulumi components may",
        "dashboards.cloudwatch.alarms imports components.eks.monitoring: dashboards may not "
        "depend on components.eks",
    ]


def test_the_command_line_runs_without_loading_pulumi():
    """``meshvis render``, ``run`` and the other local commands use the pure layers only (no
    Pulumi engine needed); ``meshvis offline``, which runs a Pulumi program under mocks, is the
    one subcommand that loads pulumi, and only when it is run."""
    probe = (
        "import sys, meshvis.__main__, meshvis.render, meshvis.local.runner, "
        "meshvis.local.dashboard_outputs, meshvis.local.dns_lookup; "
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pulumi')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"
