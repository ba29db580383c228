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


def service_account_trust_policy(
    oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str
) -> dict:
    """Who may assume a role through the cluster's OIDC provider (IAM roles for service
    accounts): exactly ``namespace/service_account``'s tokens issued for STS
    (docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html).
    ``oidc_issuer`` is the issuer URL without ``https://`` (pulumi-eks ``oidcIssuer``)."""
    return policy(
        {
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                    f"{oidc_issuer}:aud": "sts.amazonaws.com",
                }
            },
        }
    )
