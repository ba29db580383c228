"""IAM documents of the EKS topology: the role of the managed node group's instances."""

from __future__ import annotations

from components.iam import policy

# What a node needs and nothing more: join the cluster, run the VPC CNI (pod addresses),
# pull images. The mesh's pods call no AWS API, so they get no permissions of their own.
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)


def node_trust_policy() -> dict:
    """Who may assume the node role: EC2 instances (the node group's)."""
    return policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )


def managed_policy_arn(partition: str, name: str) -> str:
    """ARN of an AWS managed policy in ``partition`` (aws, aws-cn, aws-us-gov)."""
    return f"arn:{partition}:iam::aws:policy/{name}"
