"""The mesh's VPC: public subnets for the load balancer, private subnets for the tasks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

VPC_CIDR = "10.0.0.0/16"
AZ_COUNT = 2
# /20 subnets: 4091 addresses each, far more than one ENI per Fargate task will ever need.
SUBNET_PREFIX = 20


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

    def __init__(self, name: str, args: VpcArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("meshvis:network:Vpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones(state="available",
                                           opts=pulumi.InvokeOptions(parent=self)).names
        if len(zones) < args.az_count:
            raise ValueError(f"the region has {len(zones)} available zones, need {args.az_count}")
        zones = zones[:args.az_count]
        blocks = ipaddress.ip_network(args.cidr).subnets(new_prefix=SUBNET_PREFIX)
        public_cidrs = [str(next(blocks)) for _ in zones]
        private_cidrs = [str(next(blocks)) for _ in zones]

        def tagged(label: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{label}"}

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr,
                          # Both are needed for Cloud Map's private DNS namespace to resolve.
                          enable_dns_support=True, enable_dns_hostnames=True,
                          tags=tagged("vpc"), opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tagged("igw"),
                                          opts=child)
        public_table = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id,
                                          tags=tagged("public"), opts=child)
        public_route = aws.ec2.Route(f"{name}-public-default", route_table_id=public_table.id,
                                     destination_cidr_block="0.0.0.0/0", gateway_id=gateway.id,
                                     opts=child)

        public = []
        private = []
        public_ready = []
        for zone, public_cidr, private_cidr in zip(zones, public_cidrs, private_cidrs):
            subnet = aws.ec2.Subnet(f"{name}-public-{zone}", vpc_id=vpc.id,
                                    availability_zone=zone, cidr_block=public_cidr,
                                    tags=tagged(f"public-{zone}"), opts=child)
            association = aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_table.id,
                opts=child)
            public.append(subnet)
            public_ready.append(_ready(subnet, association, public_route))
            private.append(aws.ec2.Subnet(f"{name}-private-{zone}", vpc_id=vpc.id,
                                          availability_zone=zone, cidr_block=private_cidr,
                                          tags=tagged(f"private-{zone}"), opts=child))

        address = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags=tagged("nat"), opts=child)
        nat = aws.ec2.NatGateway(f"{name}-nat", allocation_id=address.id,
                                 subnet_id=public[0].id, tags=tagged("nat"),
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]))
        private_table = aws.ec2.RouteTable(f"{name}-private", vpc_id=vpc.id,
                                           tags=tagged("private"), opts=child)
        private_route = aws.ec2.Route(f"{name}-private-default", route_table_id=private_table.id,
                                      destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id,
                                      opts=child)
        private_ready = []
        for zone, subnet in zip(zones, private):
            association = aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=private_table.id,
                opts=child)
            private_ready.append(_ready(subnet, association, private_route))

        self.vpc_id = vpc.id
        self.cidr_block = args.cidr
        self.public_subnet_ids = public_ready
        self.private_subnet_ids = private_ready
        self.register_outputs({
            "vpcId": self.vpc_id,
            "publicSubnetIds": self.public_subnet_ids,
            "privateSubnetIds": self.private_subnet_ids,
        })


def _ready(subnet: aws.ec2.Subnet, *routing: pulumi.CustomResource) -> pulumi.Output[str]:
    """The subnet's id, carrying a dependency on its routing.

    Whatever uses it waits for the route out: an internet-facing load balancer is refused in
    a VPC whose internet gateway is not attached yet, and tasks started before the NAT route
    exists cannot pull their images (and the circuit breaker would roll the service back).
    """
    return pulumi.Output.all(subnet.id, *(r.id for r in routing)).apply(lambda ids: ids[0])
