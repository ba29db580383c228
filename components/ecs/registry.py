"""Documents into resources: the one mapping from a document's kind to the resource class that
registers it, and the swap of a document's reference stand-ins for the real Outputs.

The pure documents (components/ecs/documents.py) are built with a stand-in per reference
(``stand_ins``); ``register`` puts each reference's Output where its stand-in is: the Output
itself for a whole value, a string built once the Outputs resolve for a value that embeds one
(a dashboard body naming the load balancer, a policy naming its topic). Never a resource inside
``apply``: only values are computed there.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws

from components.ecs.documents import Document, reference_names

RESOURCE_CLASSES: dict[str, type[pulumi.CustomResource]] = {
    "ecs-cluster": aws.ecs.Cluster,
    "capacity-providers": aws.ecs.ClusterCapacityProviders,
    "private-dns-namespace": aws.servicediscovery.PrivateDnsNamespace,
    "security-group": aws.ec2.SecurityGroup,
    "ingress-rule": aws.vpc.SecurityGroupIngressRule,
    "egress-rule": aws.vpc.SecurityGroupEgressRule,
    "load-balancer": aws.lb.LoadBalancer,
    "target-group": aws.lb.TargetGroup,
    "listener": aws.lb.Listener,
    "log-group": aws.cloudwatch.LogGroup,
    "role": aws.iam.Role,
    "role-policy": aws.iam.RolePolicy,
    "task-definition": aws.ecs.TaskDefinition,
    "discovery-service": aws.servicediscovery.Service,
    "ecs-service": aws.ecs.Service,
    "dashboard": aws.cloudwatch.Dashboard,
    "metric-alarm": aws.cloudwatch.MetricAlarm,
    "query-definition": aws.cloudwatch.QueryDefinition,
    "topic": aws.sns.Topic,
    "topic-policy": aws.sns.TopicPolicy,
    "topic-subscription": aws.sns.TopicSubscription,
    "composite-alarm": aws.cloudwatch.CompositeAlarm,
}

# A reference's stand-in, or one part of an ARN's (the field after its N-th colon): no colon
# inside (a document may split an ARN at its colons), and in no ARN, ID or JSON text.
_STAND_IN = re.compile(r"<<([a-z_]+)(?:#([1-5]))?>>")

References = TypeVar("References")


def stand_ins(references: type[References]) -> References:
    """A references object whose every field is its own stand-in."""
    names = reference_names(references)  # type: ignore[arg-type]
    return references(**{name: stand_in(name) for name in names})


def stand_in(name: str) -> str:
    """The stand-in of reference ``name``: an ARN's is ARN-shaped, one stand-in per part, so a
    document may read its partition, region or account (an SNS topic's policy does)."""
    if name.endswith("_arn"):
        return "arn:" + ":".join(f"<<{name}#{part}>>" for part in range(1, 6))
    return f"<<{name}>>"


def register(
    document: Document,
    prefix: str,
    references: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> Any:
    """Register ``document`` as ``<prefix>-<name>``, its stand-ins replaced by ``references``
    (reference name -> Output or value)."""
    kind = RESOURCE_CLASSES[document.kind]
    return kind(f"{prefix}-{document.name}", **resolve(document.args, references), opts=opts)


def resolve(value: Any, references: dict[str, Any]) -> Any:
    """``value`` with every stand-in replaced by its reference."""
    if isinstance(value, dict):
        return {key: resolve(item, references) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, references) for item in value]
    if not isinstance(value, str):
        return value
    names = sorted({name for name, _ in _STAND_IN.findall(value)})
    if not names:
        return value
    if names == [names[0]] and value == stand_in(names[0]):
        return references[names[0]]
    return pulumi.Output.all(*(references[n] for n in names)).apply(
        lambda resolved: _STAND_IN.sub(
            lambda m: _part(dict(zip(names, resolved, strict=True))[m.group(1)], m.group(2)),
            value,
        )
    )


def _part(value: Any, part: str | None) -> str:
    """``value`` as text, or the ``part``-th field of the ARN it is."""
    return str(value) if part is None else str(value).split(":", 5)[int(part)]
