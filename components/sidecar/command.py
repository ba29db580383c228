"""Envoy's command line: the one function every sidecar is started with (ECS, EKS, local)."""

from __future__ import annotations

from collections.abc import Sequence

# One worker thread. Envoy's default is one per CPU it can see, and a Fargate task or a pod
# sees the host's CPUs, far more than its sidecar is entitled to (128 CPU units on ECS, a
# 500m limit on EKS): more workers than CPU only add memory and contention.
CONCURRENCY = 1


def envoy_command(
    *,
    config_yaml: str | None = None,
    config_path: str | None = None,
    binary: str = "envoy",
    log_level: str = "info",
    extra: Sequence[str] = (),
) -> list[str]:
    """``binary`` with its bootstrap (inline ``config_yaml`` or a file at ``config_path``,
    exactly one of them) and the flags every sidecar runs with, then ``extra``.

    ``--disable-hot-restart``: a sidecar is replaced, never hot-restarted, and hot restart
    needs shared memory in /dev/shm, which a read-only root file system may not offer (and
    which Envoy leaves behind as /dev/shm/envoy_shared_memory_* files even after SIGTERM).
    """
    if (config_yaml is None) == (config_path is None):
        raise ValueError("give exactly one of config_yaml and config_path")
    source = (
        ["--config-yaml", config_yaml]
        if config_yaml is not None
        else ["--config-path", str(config_path)]
    )
    return [
        binary,
        *source,
        "--disable-hot-restart",
        "--concurrency",
        str(CONCURRENCY),
        "--log-level",
        log_level,
        *extra,
    ]


def admin_request_script(method: str, path: str, header: str, admin_port: int) -> str:
    """A bash script that sends ``method path`` (with one extra ``header``) to the sidecar's
    admin port on the task's or pod's loopback and reads the status line into ``$status``.

    bash and its /dev/tcp redirection: the Envoy image (Ubuntu with ca-certificates and tzdata
    only) has neither curl nor wget, and its /bin/sh is dash.
    """
    return (
        f"exec 3<>/dev/tcp/127.0.0.1/{admin_port} && "
        f"printf '{method} {path} HTTP/1.1\\r\\nHost: localhost\\r\\n{header}\\r\\n\\r\\n' >&3"
        " && read -r -t 2 status <&3"
    )


def admin_command_script(method: str, path: str, admin_port: int) -> str:
    """A bash script that sends ``method path`` to the sidecar's admin port and fails, with the
    status line on stderr, unless Envoy answers 200: a refused admin command (a 400 for a bad
    query, a 404 for an unknown path) must not pass for a done one. A Kubernetes exec hook
    that exits non-zero is reported as a ``FailedPreStopHook`` event with that output."""
    return (
        admin_request_script(method, path, "Content-Length: 0", admin_port)
        + f" && [[ $status == 'HTTP/1.1 200 '* ]]"
        f" || {{ echo \"envoy admin {method} {path}: ${{status:-no answer}}\" | tr -d '\\r' >&2;"
        " exit 1; }"
    )
