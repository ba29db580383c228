"""IAM documents of the ECS tasks: least privilege, and never an action wildcard.

The account and partition are only known to the AWS provider, so they are parameters (the
components pass them from ``aws.get_caller_identity`` / ``aws.get_partition``); the region
is the stack's ``aws:region``.
"""

from __future__ import annotations

import re

from components.ecs.containers import CONTAINERS, ecs_exec_enabled
from components.iam import policy
from components.settings.model import ServiceSpec, Settings
from components.settings.naming import log_group_name, metric_namespace

ECS_TASKS = "ecs-tasks.amazonaws.com"
# What the agent's X-Ray exporter calls, and nothing more: its awsxray exporter sends
# segments with PutTraceSegments (opentelemetry-collector-contrib exporter/awsxrayexporter,
# awsxray.go) and, since the agent turns its telemetry on (translator/translate/otel/exporter/
# awsxray/translator.go "telemetry": enabled @ab55b8da), its own health with PutTelemetryRecords
# (internal/aws/xray/telemetry/sender.go). The sampling APIs of AWSXRayDaemonWriteAccess
# (GetSamplingRules, GetSamplingTargets, GetSamplingStatisticSummaries) serve the X-Ray
# daemon's proxy for X-Ray SDKs (traces_collected.xray), which this config does not enable:
# Envoy samples by itself.
XRAY_ACTIONS = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
# What ECS Exec's SSM agent, running in the task, needs of the task role to open its Session
# Manager channels (Amazon ECS Developer Guide, "IAM permissions required for ECS Exec":
# awsdocs/amazon-ecs-developer-guide doc_source/ecs-exec.md @021abe8c, which grants them on
# "Resource": "*": these actions take no resource ARN).
ECS_EXEC_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
# A private ECR image: <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
PRIVATE_ECR = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.amazonaws\.com(\.cn)?/(?P<repository>[^:@]+)"
)


def task_trust_policy(account_id: str, region: str, partition: str) -> dict:
    """Who may assume a task role: ECS tasks of this account and region only.

    The source conditions keep another account's ECS from assuming the role through the
    service principal (the confused-deputy guard the ECS task role documentation shows).
    """
    return policy(
        {
            **_ecs_tasks_may_assume(),
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:ecs:{region}:{account_id}:*"},
            },
        }
    )


def execution_trust_policy() -> dict:
    """Who may assume an execution role: the ECS service principal only.

    No source conditions: ECS's documentation for the execution role shows none, and a
    condition the Fargate agent does not satisfy would stop every task from starting.
    """
    return policy(_ecs_tasks_may_assume())


def _ecs_tasks_may_assume() -> dict:
    return {"Effect": "Allow", "Principal": {"Service": ECS_TASKS}, "Action": "sts:AssumeRole"}


def task_role_policy(settings: Settings, service: ServiceSpec) -> dict:
    """What ``service``'s running task (its CloudWatch agent) may do: publish metrics, only into
    the mesh's own namespace (PutMetricData has no resource ARN, the namespace condition is its
    scope); with ``tracing``, send the sidecars' spans to X-Ray; for a service with ``faults``
    only, open ECS Exec's Session Manager channels. Container logs are the execution role's
    (the awslogs driver), so nothing else.
    """
    statements = [
        {
            "Sid": "MeshMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": metric_namespace(settings.mesh_name)}
            },
        }
    ]
    if settings.tracing:
        statements.append(
            {
                "Sid": "MeshTraces",
                "Effect": "Allow",
                "Action": XRAY_ACTIONS,
                # X-Ray's write APIs take no resource ARN.
                "Resource": "*",
            }
        )
    if ecs_exec_enabled(service):
        statements.append(
            {"Sid": "EcsExec", "Effect": "Allow", "Action": ECS_EXEC_ACTIONS, "Resource": "*"}
        )
    return policy(*statements)


def execution_role_policy(
    settings: Settings, service: ServiceSpec, account_id: str, partition: str
) -> dict:
    """What ECS itself may do to start ``service``'s tasks: write their logs, pull their images.

    The log groups exist before the service (no ``logs:CreateLogGroup``). Public images need
    no permission at all; pulls from private ECR repositories are allowed for exactly the
    repositories the task's images name.
    """
    arn = f"arn:{partition}:logs:{settings.region}:{account_id}:log-group:"
    groups = [f"{arn}{log_group_name(settings.mesh_name, service.name, c)}" for c in CONTAINERS]
    statements = [
        {
            "Sid": "ContainerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{g}:log-stream:*" for g in groups],
        }
    ]
    repositories = sorted(
        {
            f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{m['repository']}"
            for image in (
                settings.service_image(service),
                settings.envoy_image,
                settings.cloudwatch_agent_image,
            )
            if (m := PRIVATE_ECR.match(image))
        }
    )
    if repositories:
        statements.append(
            {
                "Sid": "EcrToken",
                "Effect": "Allow",
                # The registry token is account-wide; the API takes no resource ARN.
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            }
        )
        statements.append(
            {
                "Sid": "EcrPull",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": repositories,
            }
        )
    return policy(*statements)
