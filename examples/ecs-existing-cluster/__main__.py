"""Two mesh services in an ECS cluster and a Cloud Map namespace that already exist.

The cluster and the namespace are looked up by the names in the stack's config; the program
adds the security group every task of the mesh has, then `greeting` (two replicas of the demo
app) and `greeter`, which calls it through its Envoy sidecar. A Python program imports the
components from the repository; other languages use the package (`pulumi package add
../../provider`, see ../ecs-existing-cluster-yaml).
"""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

# The repository's root, where `components/` lives (this file is examples/<name>/__main__.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from components.ecs.service import EcsMeshService, EcsMeshServiceArgs

config = pulumi.Config()
namespace_name = config.require("namespaceName")
vpc_id = config.require("vpcId")
cluster = aws.ecs.get_cluster_output(cluster_name=config.require("clusterName"))
namespace = aws.servicediscovery.get_dns_namespace_output(name=namespace_name, type="DNS_PRIVATE")

# Every task of the mesh has this group: out to the other tasks' Envoy ingress (15000) and
# metrics (9902) ports, and to 443 for image pulls and the AWS APIs. Each service's own group
# admits it.
mesh_group = aws.ec2.SecurityGroup("mesh", vpc_id=vpc_id, description="Every task of the mesh")
for label, port in (("ingress", 15000), ("metrics", 9902)):
    aws.vpc.SecurityGroupEgressRule(
        f"mesh-to-{label}",
        security_group_id=mesh_group.id,
        referenced_security_group_id=mesh_group.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
    )
aws.vpc.SecurityGroupEgressRule(
    "mesh-to-https",
    security_group_id=mesh_group.id,
    cidr_ipv4="0.0.0.0/0",
    ip_protocol="tcp",
    from_port=443,
    to_port=443,
)


def where(service: dict) -> EcsMeshServiceArgs:
    """The arguments of one service of this mesh, in this cluster and namespace."""
    return EcsMeshServiceArgs(
        service=service,
        mesh={"mesh_name": config.get("meshName") or "shop"},
        region=aws.config.region,
        cluster_arn=cluster.arn,
        vpc_id=vpc_id,
        subnet_ids=config.require_object("subnetIds"),
        mesh_security_group_id=mesh_group.id,
        namespace_id=namespace.id,
        dns_namespace=namespace_name,
    )


greeting = EcsMeshService("greeting", where({"name": "greeting", "port": 3000, "replicas": 2}))
# Rolls out once `greeting` is steady, so its new tasks never call a greeting that is not up.
greeter = EcsMeshService(
    "greeter",
    where({"name": "greeter", "upstreams": ["greeting"]}),
    rollout_after=[greeting.ecs_service],
)

pulumi.export("greeter", greeter.address)
pulumi.export("logGroups", [*greeting.log_group_names, *greeter.log_group_names])
