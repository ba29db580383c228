"""The mesh's VPC: public subnets for the load balancer, private subnets for the tasks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.outputs import declared_outputs

VPC_CIDR = "10.0.0.0/16"
AZ_COUNT = 2
# /20 subnets: 4091 addresses each, far more than one ENI per Fargate task will ever need.
SUBNET_PREFIX = 20
# Availability Zones only: in a region with Local Zones enabled the API also lists those
# (opted-in), where Fargate, NAT gateways and ALBs may not exist. An Availability Zone's
# OptInStatus is always `opt-in-not-required` (EC2 DescribeAvailabilityZones; the filter the
# aws.getAvailabilityZones documentation gives for "only Availability Zones").
AZ_ONLY: aws.GetAvailabilityZonesFilterArgsDict = {
    "name": "opt-in-status",
    "values": ["opt-in-not-required"],
}


@dataclass
class VpcArgs:
    """Inputs of a ``Vpc``."""

    cidr: str = VPC_CIDR
    az_count: int = AZ_COUNT
    tags: dict[str, str] = field(default_factory=dict)


class Vpc(pulumi.ComponentResource):
    """A VPC across ``az_count`` zones with one public and one private subnet in each.

    Private subnets reach the internet (image pulls, CloudWatch APIs) through a single NAT
    gateway in the first zone: a NAT gateway costs about $33 a month before traffic, and one
    per zone would only matter if that zone failed, which a demo mesh can accept.
    """

    vpc_id: pulumi.Output[str]
    cidr_block: str
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: VpcArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("meshvis:network:Vpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones(
            state="available", filters=[AZ_ONLY], opts=pulumi.InvokeOptions(parent=self)
        ).names
        if len(zones) < args.az_count:
            raise ValueError(f"the region has {len(zones)} available zones, need {args.az_count}")
        zones = zones[: args.az_count]
        blocks = ipaddress.ip_network(args.cidr).subnets(new_prefix=SUBNET_PREFIX)
        public_cidrs = [str(next(blocks)) for _ in zones]
        private_cidrs = [str(next(blocks)) for _ in zones]

        def tagged(label: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{label}"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            # Both are needed for Cloud Map's private DNS namespace to resolve.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tagged("vpc"),
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=tagged("igw"), opts=child
        )

        def subnets(label: str, cidrs: list[str]) -> list[aws.ec2.Subnet]:
            return [
                aws.ec2.Subnet(
                    f"{name}-{label}-{zone}",
                    vpc_id=vpc.id,
                    availability_zone=zone,
                    cidr_block=cidr,
                    tags=tagged(f"{label}-{zone}"),
                    opts=child,
                )
                for zone, cidr in zip(zones, cidrs, strict=True)
            ]

        def routed(
            label: str, members: list[aws.ec2.Subnet], **target: pulumi.Input[str]
        ) -> list[pulumi.Output[str]]:
            """A route table whose default route goes to ``target``, shared by ``members``;
            their ids, each carrying a dependency on that routing."""
            table = aws.ec2.RouteTable(
                f"{name}-{label}", vpc_id=vpc.id, tags=tagged(label), opts=child
            )
            route = aws.ec2.Route(
                f"{name}-{label}-default",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                **target,
                opts=child,
            )
            return [
                _ready(
                    subnet,
                    aws.ec2.RouteTableAssociation(
                        f"{name}-{label}-{zone}",
                        subnet_id=subnet.id,
                        route_table_id=table.id,
                        opts=child,
                    ),
                    route,
                )
                for zone, subnet in zip(zones, members, strict=True)
            ]

        public = subnets("public", public_cidrs)
        private = subnets("private", private_cidrs)
        public_ready = routed("public", public, gateway_id=gateway.id)
        address = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags=tagged("nat"), opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=address.id,
            subnet_id=public[0].id,
            tags=tagged("nat"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        private_ready = routed("private", private, nat_gateway_id=nat.id)

        self.vpc_id = vpc.id
        self.cidr_block = args.cidr
        self.public_subnet_ids = public_ready
        self.private_subnet_ids = private_ready
        self.register_outputs(declared_outputs(self))


def _ready(subnet: aws.ec2.Subnet, *routing: pulumi.CustomResource) -> pulumi.Output[str]:
    """The subnet's id, carrying a dependency on its routing.

    Whatever uses it waits for the route out: an internet-facing load balancer is refused in
    a VPC whose internet gateway is not attached yet, and tasks started before the NAT route
    exists cannot pull their images (and the circuit breaker would roll the service back).
    """
    return pulumi.Output.all(subnet.id, *(r.id for r in routing)).apply(lambda ids: ids[0])
