"""The tests' name for the Pulumi mocks harness, which lives in the product now
(meshvis/offline/harness.py: ``meshvis offline`` runs example programs with it)."""

from meshvis.offline.harness import (
    MAIN,
    ROOT,
    ExistingResources,
    ProgramRun,
    RecordingMocks,
    RecordingMonitor,
    Registered,
    RegisteredOptions,
    _mock_outputs,
    run_program,
    run_under_mocks,
)

__all__ = [
    "MAIN",
    "ROOT",
    "ExistingResources",
    "ProgramRun",
    "RecordingMocks",
    "RecordingMonitor",
    "Registered",
    "RegisteredOptions",
    "_mock_outputs",
    "run_program",
    "run_under_mocks",
]
