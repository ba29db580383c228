"""Least privilege and exposure, asserted on the whole resource graph of both topologies.

Each graph is the whole Pulumi program run under mocks (tests/support/pulumi_harness.py): every
stack file, the larger ``shop`` graphs (tests/support/shop_graphs.py), the ECS graph
without a load balancer and with an HTTPS certificate. The assertions read what is
registered (IAM documents, security group rules, listeners, task definitions, Kubernetes
objects, stack outputs), not the generators, so nothing reaches AWS that they did not see.

What a real Envoy's metrics listener refuses is tests/local/test_local_sidecar.py's
``test_localized_sidecar_runs_and_exposes_only_metrics``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

import pytest

from components.ecs.containers import AGENT, APP, ENVOY
from components.eks.iam import NODE_POLICIES
from components.eks.monitoring import CHART_VERSION
from components.eks.objects import MONITORING_NAMESPACE, network_policy
from components.eks.storage import EBS_CSI_POLICY, EBS_CSI_SERVICE_ACCOUNT
from components.eks.tempo import CHART_VERSION as TEMPO_CHART_VERSION
from components.eks.tempo import NETWORK_POLICY as TEMPO_NETWORK_POLICY
from components.settings.model import Settings
from components.settings.naming import log_group_name, metric_namespace
from components.settings.ports import ADMIN_PORT, INGRESS_PORT, METRICS_PORT
from components.settings.stack_files import stack_config, stack_names
from components.settings.validate import IMAGE_REF, settings_from_config
from tests.support.fault_cases import config_with_faults
from tests.support.pulumi_harness import ProgramRun, Registered, run_program
from tests.support.shop_graphs import ECS_PRIVATE_IMAGE as PRIVATE_IMAGE
from tests.support.shop_graphs import shop_config, shop_eks_config

CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
GRAPHS = {
    **{name: stack_config(name) for name in stack_names()},
    "shop": shop_config(),
    "shop-no-alb": shop_config(entryService=None),
    "shop-https": shop_config(certificateArn=CERTIFICATE),
    "shop-eks": shop_eks_config(),
    # A staging game-day stack: the one service with `faults` can be entered with ECS Exec.
    "dev-faults": config_with_faults("dev", "name", {})[0],
}

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LISTENER = "aws:lb/listener:Listener"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ACCOUNT = "123456789012"
ANYWHERE = "0.0.0.0/0"
# APIs that take no resource ARN: "Resource": "*" is the only way to grant them.
RESOURCELESS = {
    "cloudwatch:PutMetricData",
    "ecr:GetAuthorizationToken",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # ECS Exec's Session Manager channels, granted to the task role of a service with `faults`
    # only (test_ecs_exec_only_where_faults_are_set).
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}
# Who assumes each kind of role (by the suffix of the role's resource name).
TRUSTED = {
    "-task": "ecs-tasks.amazonaws.com",
    "-exec": "ecs-tasks.amazonaws.com",
    "-node-role": "ec2.amazonaws.com",
}
# The one role assumed through the cluster's OIDC provider (the EBS CSI driver's controller).
IRSA_SUFFIX = "-ebs-csi-role"
SECRET_NAME = re.compile(
    r"secret|passw|token|api_?key|access_?key|private_?key|credential", re.IGNORECASE
)
# Credentials in any registered input: an AWS access key id, a PEM private key.
CREDENTIAL = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----")


@dataclass
class Graph:
    name: str
    settings: Settings
    run: ProgramRun

    @property
    def mesh(self) -> str:
        return self.settings.mesh_name

    def id(self, typ: str, name: str) -> str:
        """The id the mocks give the resource (tests/support/pulumi_harness.py)."""
        return f"{self.run.one(typ, name).name}-id"


@functools.cache
def _graph(name: str) -> Graph:
    """The graph's program, run once for all the tests of this module."""
    config = GRAPHS[name]
    return Graph(name, settings_from_config(config), run_program(config, name))


def _names(topology: str | None = None) -> list[str]:
    return sorted(
        name
        for name, config in GRAPHS.items()
        if topology in (None, config["mesh-visibility:topology"])
    )


@pytest.fixture(params=_names())
def graph(request) -> Graph:
    return _graph(request.param)


@pytest.fixture(params=_names("ecs"))
def ecs_graph(request) -> Graph:
    return _graph(request.param)


@pytest.fixture(params=_names("eks"))
def eks_graph(request) -> Graph:
    return _graph(request.param)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(resource: Registered, field: str) -> list[dict]:
    return json.loads(resource.inputs[field])["Statement"]


def _permissions(graph: Graph) -> dict[str, list[dict]]:
    """Every permission policy document the program registers, by resource name."""
    return {p.name: _statements(p, "policy") for p in graph.run.of_type(ROLE_POLICY)}


# --- IAM -----------------------------------------------------------------------------------


def test_no_iam_statement_allows_a_wildcard_action(graph):
    kinds = {r.typ for r in graph.run.resources if r.typ.startswith("aws:iam/")}
    # No users, access keys or free-standing policies: only roles for services, with their
    # own inline policies (and the EKS node role's managed policies, below).
    assert kinds <= {ROLE, ROLE_POLICY, ATTACHMENT}, kinds
    for name, statements in _permissions(graph).items():
        for statement in statements:
            assert statement["Effect"] == "Allow", name
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), name
            actions = _as_list(statement["Action"])
            assert all("*" not in action for action in actions), (name, actions)
            if "*" in _as_list(statement["Resource"]):
                assert set(actions) <= RESOURCELESS, (name, actions)


def test_put_metric_data_only_into_the_mesh_namespace(graph):
    granted = {
        name: [s for s in statements if "cloudwatch:PutMetricData" in _as_list(s["Action"])]
        for name, statements in _permissions(graph).items()
    }
    for name, statements in granted.items():
        for statement in statements:
            assert statement["Condition"] == {
                "StringEquals": {"cloudwatch:namespace": metric_namespace(graph.mesh)}
            }, name
    # On ECS each task's agent publishes (and may); on EKS nothing in the mesh calls AWS.
    publishing = sorted(name for name, statements in granted.items() if statements)
    expected = (
        [f"{graph.mesh}-{s.name}-task" for s in graph.settings.services]
        if graph.settings.topology == "ecs"
        else []
    )
    assert publishing == sorted(expected)


def test_task_roles_only_publish_metrics_and_pull_only_their_images(ecs_graph):
    graph = ecs_graph
    mesh, region = graph.mesh, graph.settings.region
    policies = _permissions(graph)
    for service in graph.settings.services:
        # The agent only publishes metrics; no logs permission (no EMF listener, and container
        # logs are the execution role's).
        task = policies[f"{mesh}-{service.name}-task"]
        assert "MeshMetrics" in [s["Sid"] for s in task]
        assert not [a for s in task for a in _as_list(s["Action"]) if a.startswith("logs:")]
        execution = policies[f"{mesh}-{service.name}-exec"]
        [container_logs] = [s for s in execution if s["Sid"] == "ContainerLogs"]
        assert sorted(container_logs["Resource"]) == sorted(
            f"arn:aws:logs:{region}:{ACCOUNT}:log-group:"
            f"{log_group_name(mesh, service.name, c)}:log-stream:*"
            for c in (APP, ENVOY, AGENT)
        )
        pulls = [s["Resource"] for s in execution if s["Sid"] == "EcrPull"]
        if graph.settings.service_image(service) == PRIVATE_IMAGE:
            assert pulls == [[f"arn:aws:ecr:{region}:{ACCOUNT}:repository/shop/cart"]]
        else:
            # Public images need no permission; no ECR statement at all.
            assert [s for s in execution if s["Sid"].startswith("Ecr")] == []


def test_task_roles_send_traces_with_exactly_the_agents_x_ray_calls(ecs_graph):
    """The agent's awsxray exporter calls PutTraceSegments and PutTelemetryRecords
    (components/ecs/iam.py says where that was read); no sampling or read API, and nothing
    when tracing is off."""
    graph = ecs_graph
    for name, statements in _permissions(graph).items():
        xray = sorted(a for s in statements for a in _as_list(s["Action"]) if a.startswith("xray:"))
        expected = (
            ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
            if name.endswith("-task") and graph.settings.tracing
            else []
        )
        assert xray == expected, name


def test_no_x_ray_permission_without_tracing():
    config = {**GRAPHS["dev"], "mesh-visibility:tracing": "false"}
    run = run_program(config, "dev-no-tracing")
    assert not [
        a
        for p in run.of_type(ROLE_POLICY)
        for s in _statements(p, "policy")
        for a in _as_list(s["Action"])
        if a.startswith("xray:")
    ]


def test_roles_trust_only_the_services_that_assume_them(graph):
    roles = graph.run.of_type(ROLE)
    assert roles
    for role in roles:
        [trust] = _statements(role, "assumeRolePolicy")
        if role.name.endswith(IRSA_SUFFIX):
            _assert_trusts_only_the_ebs_csi_controller(trust, role.name)
            continue
        [suffix] = [s for s in TRUSTED if role.name.endswith(s)]
        assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole", role.name
        assert trust["Principal"] == {"Service": TRUSTED[suffix]}, role.name
        if suffix == "-task":
            # The confused-deputy guard: only this account's ECS, in the stack's region.
            assert trust["Condition"] == {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{graph.settings.region}:{ACCOUNT}:*"},
            }, role.name
    expected = (
        {
            f"{graph.mesh}-{s.name}{suffix}"
            for s in graph.settings.services
            for suffix in ("-task", "-exec")
        }
        if graph.settings.topology == "ecs"
        else {f"{graph.mesh}-node-role", f"{graph.mesh}{IRSA_SUFFIX}"}
    )
    assert {r.name for r in roles} == expected


def _assert_trusts_only_the_ebs_csi_controller(trust: dict, role: str) -> None:
    """IAM roles for service accounts: only the EBS CSI controller's service account, through
    the cluster's OIDC provider, for STS (not any pod or any audience)."""
    namespace, account = EBS_CSI_SERVICE_ACCOUNT
    assert trust["Effect"] == "Allow", role
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity", role
    assert set(trust["Principal"]) == {"Federated"}, role
    [conditions] = trust["Condition"].values()
    assert list(trust["Condition"]) == ["StringEquals"], role
    by_claim = {key.rsplit(":", 1)[1]: value for key, value in conditions.items()}
    assert by_claim == {
        "sub": f"system:serviceaccount:{namespace}:{account}",
        "aud": "sts.amazonaws.com",
    }, role


def test_managed_policies_are_only_the_eks_node_policies(graph):
    """The only AWS managed policies are the EKS nodes' own and the EBS CSI driver's
    (AmazonEBSCSIDriverPolicyV2, on its controller's IRSA role). The nodes' AWS requires:
    AmazonEKSWorkerNodePolicy (join the cluster: describe the cluster and EC2 resources),
    AmazonEKS_CNI_Policy (the VPC CNI assigns pod addresses from the node's network
    interfaces) and AmazonEC2ContainerRegistryReadOnly (pull images, among them the EKS
    add-ons' from AWS's ECR). They grant describe/read actions AWS maintains; nothing of the
    mesh runs with them (its pods call no AWS API). ECS stacks attach none."""
    attached = sorted(r.inputs["policyArn"] for r in graph.run.of_type(ATTACHMENT))
    if graph.settings.topology == "ecs":
        assert attached == []
    else:
        node = sorted(f"arn:aws:iam::aws:policy/{p}" for p in NODE_POLICIES)
        ebs = f"arn:aws:iam::aws:policy/{EBS_CSI_POLICY}"
        # V2: the driver may touch only volumes tagged ebs.csi.aws.com/cluster=true, which it
        # tags itself (kubernetes-sigs/aws-ebs-csi-driver docs/install.md @429e202e).
        assert ebs == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicyV2"
        assert attached == sorted([*node, ebs])
        node_role = graph.run.one(ROLE, f"{graph.mesh}-node-role")
        ebs_role = graph.run.one(ROLE, f"{graph.mesh}{IRSA_SUFFIX}")
        by_role = {(r.inputs["role"], r.inputs["policyArn"]) for r in graph.run.of_type(ATTACHMENT)}
        assert by_role == {(node_role.name, arn) for arn in node} | {(ebs_role.name, ebs)}


def test_ecs_exec_only_where_faults_are_set(ecs_graph):
    """ECS Exec (a shell in a running task) is on, and its task role may open Session Manager
    channels, for a service with `faults` (a staging game-day service) and for no other."""
    graph = ecs_graph
    policies = _permissions(graph)
    for service in graph.settings.services:
        exec_on = service.faults is not None
        ecs_service = graph.run.one(ECS_SERVICE, f"{graph.mesh}-{service.name}-service")
        assert ecs_service.inputs["enableExecuteCommand"] is exec_on, service.name
        channels = sorted(
            a
            for statement in policies[f"{graph.mesh}-{service.name}-task"]
            for a in _as_list(statement["Action"])
            if a.startswith("ssm")
        )
        expected = sorted(a for a in RESOURCELESS if a.startswith("ssmmessages:"))
        assert channels == (expected if exec_on else []), service.name
    assert not [
        a
        for name, statements in policies.items()
        if not name.endswith("-task")
        for s in statements
        for a in _as_list(s["Action"])
        if a.startswith("ssm")
    ]
    if graph.name == "dev-faults":
        assert [s.name for s in graph.settings.services if s.faults is not None] == ["name"]


# --- network exposure ------------------------------------------------------------------------


def test_the_internet_reaches_only_the_load_balancer(ecs_graph):
    """From anywhere: 80 on the load balancer (and 443 with a certificate); nothing else."""
    graph = ecs_graph
    for group in graph.run.of_type(SECURITY_GROUP):
        # No inline rules that would escape the checks below.
        assert "ingress" not in group.inputs and "egress" not in group.inputs, group.name
    rules = [r.inputs for r in graph.run.of_type(INGRESS) + graph.run.of_type(EGRESS)]
    assert all(r["ipProtocol"] == "tcp" and r["fromPort"] == r["toPort"] for r in rules)
    assert not any("cidrIpv6" in r or "prefixListId" in r for r in rules)
    public = sorted(
        (r["securityGroupId"], r["fromPort"])
        for r in (x.inputs for x in graph.run.of_type(INGRESS))
        if "cidrIpv4" in r
    )
    if graph.settings.entry_service is None:
        assert public == []
        return
    alb = graph.id(SECURITY_GROUP, f"{graph.mesh}-alb-sg")
    https = graph.settings.certificate_arn is not None
    assert public == [(alb, 80)] + ([(alb, 443)] if https else [])
    assert all(
        r.inputs["cidrIpv4"] == ANYWHERE
        for r in graph.run.of_type(INGRESS)
        if "cidrIpv4" in r.inputs
    )


def test_inside_the_mesh_only_envoy_ingress_and_metrics_are_open(ecs_graph):
    """Each task admits 9902 from the mesh, 15000 from the mesh (not for a load generator),
    and the entry service 15000 from the load balancer: never an app port or 9901. Tasks
    send only to those ports of mesh tasks, and 443 out (image pulls, AWS APIs)."""
    graph = ecs_graph
    mesh = graph.mesh
    mesh_sg = graph.id(SECURITY_GROUP, f"{mesh}-mesh-sg")
    alb_sg = graph.id(SECURITY_GROUP, f"{mesh}-alb-sg") if graph.settings.entry_service else None
    ingress = [r.inputs for r in graph.run.of_type(INGRESS)]
    app_ports = {s.app_port for s in graph.settings.app_services}
    assert not {r["fromPort"] for r in ingress} & (app_ports | {ADMIN_PORT})
    for service in graph.settings.services:
        own = graph.id(SECURITY_GROUP, f"{mesh}-{service.name}-sg")
        opened = sorted(
            (r["fromPort"], r["referencedSecurityGroupId"])
            for r in ingress
            if r["securityGroupId"] == own
        )
        expected = [(METRICS_PORT, mesh_sg)]
        if not service.is_load:
            expected.append((INGRESS_PORT, mesh_sg))
        if service.name == graph.settings.entry_service:
            expected.append((INGRESS_PORT, alb_sg))
        assert opened == sorted(expected), service.name
    egress = sorted(
        (
            r.inputs["securityGroupId"],
            r.inputs["fromPort"],
            r.inputs.get("referencedSecurityGroupId") or r.inputs.get("cidrIpv4"),
        )
        for r in graph.run.of_type(EGRESS)
    )
    expected_egress = [
        (mesh_sg, 443, ANYWHERE),
        (mesh_sg, METRICS_PORT, mesh_sg),
        (mesh_sg, INGRESS_PORT, mesh_sg),
    ]
    if alb_sg:
        expected_egress.append(
            (
                alb_sg,
                INGRESS_PORT,
                graph.id(SECURITY_GROUP, f"{mesh}-{graph.settings.entry_service}-sg"),
            )
        )
    assert egress == sorted(expected_egress)


def test_https_with_a_certificate_and_port_80_only_redirects(ecs_graph):
    graph = ecs_graph
    listeners = {r.inputs["port"]: r.inputs for r in graph.run.of_type(LISTENER)}
    if graph.settings.entry_service is None:
        assert listeners == {}
        return
    url = graph.run.outputs["url"]
    if graph.settings.certificate_arn is None:
        assert set(listeners) == {80} and listeners[80]["protocol"] == "HTTP"
        assert listeners[80]["defaultActions"][0]["type"] == "forward"
        assert url.startswith("http://")
        return
    assert set(listeners) == {80, 443}
    assert listeners[80]["defaultActions"] == [
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
    ]
    https = listeners[443]
    assert (https["protocol"], https["certificateArn"]) == ("HTTPS", CERTIFICATE)
    # TLS 1.2 and 1.3 only (the TLS13-1-2 family), forward-secret ciphers (Res).
    assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2-Res-")
    assert https["defaultActions"][0]["type"] == "forward"
    assert url.startswith("https://")


def test_eks_pods_admit_only_envoy_ingress_and_metrics(eks_graph):
    """The NetworkPolicy selects every mesh pod and admits 15000 from the mesh's pods and
    9902 from the monitoring namespace (Prometheus) only; the cluster's VPC CNI enforces
    it. Services are cluster-internal and expose only 15000."""
    graph = eks_graph
    [cluster] = graph.run.of_type("eks:index:Cluster")
    assert cluster.inputs["useDefaultVpcCni"] is False
    assert cluster.inputs["vpcCniOptions"]["enableNetworkPolicy"] is True
    policies = {
        p.inputs["metadata"]["name"]: p
        for p in graph.run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    expected = network_policy(graph.settings)
    # The other one guards Tempo in the monitoring namespace (tests/unit/eks/test_tempo.py).
    assert set(policies) == {expected["metadata"]["name"], TEMPO_NETWORK_POLICY}
    policy = policies[expected["metadata"]["name"]]
    assert policy.inputs == expected
    spec = policy.inputs["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    admitted = sorted(
        (rule["ports"][0]["port"], json.dumps(rule["from"], sort_keys=True))
        for rule in spec["ingress"]
    )
    assert admitted == sorted(
        [
            (INGRESS_PORT, json.dumps([{"podSelector": spec["podSelector"]}], sort_keys=True)),
            (
                METRICS_PORT,
                json.dumps(
                    [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                            }
                        }
                    ],
                    sort_keys=True,
                ),
            ),
        ]
    )
    selector = spec["podSelector"]["matchLabels"]
    for deployment in graph.run.of_type(DEPLOYMENT):
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), deployment.name
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert not pod.get("hostNetwork") and not pod.get("hostPID")
        for container in pod["initContainers"] + pod["containers"]:
            assert all("hostPort" not in p for p in container.get("ports", []))
    for service in graph.run.of_type("kubernetes:core/v1:Service"):
        assert service.inputs["spec"]["type"] == "ClusterIP"
        assert [p["port"] for p in service.inputs["spec"]["ports"]] == [INGRESS_PORT]


# --- the sidecars and containers -------------------------------------------------------------


def _ecs_containers(graph: Graph) -> dict[str, dict[str, dict]]:
    """Registered ECS containers: service -> container name -> definition."""
    return {
        service.name: {
            c["name"]: c
            for c in json.loads(
                graph.run.one(TASK_DEFINITION, f"{graph.mesh}-{service.name}-task").inputs[
                    "containerDefinitions"
                ]
            )
        }
        for service in graph.settings.services
    }


def _pods(graph: Graph) -> dict[str, dict]:
    """Registered pod specs by Deployment name."""
    return {
        d.inputs["metadata"]["name"]: d.inputs["spec"]["template"]["spec"]
        for d in graph.run.of_type(DEPLOYMENT)
    }


def _bootstraps(graph: Graph) -> dict[str, dict]:
    """Every registered sidecar bootstrap, by service: on ECS from the Envoy container's
    command line, on EKS from its ConfigMap."""
    if graph.settings.topology == "ecs":
        found = {}
        for service, containers in _ecs_containers(graph).items():
            command = containers[ENVOY]["command"]
            found[service] = json.loads(command[command.index("--config-yaml") + 1])
        return found
    return {
        r.inputs["metadata"]["labels"]["app"]: json.loads(r.inputs["data"]["envoy.json"])
        for r in graph.run.of_type("kubernetes:core/v1:ConfigMap")
        if "envoy.json" in r.inputs.get("data", {})
    }


def test_envoy_admin_never_leaves_loopback(graph):
    """Admin on 127.0.0.1:9901 only; beyond loopback Envoy listens only on 15000 (not a load
    generator's) and 9902, and only those are published as container ports."""
    bootstraps = _bootstraps(graph)
    assert set(bootstraps) == {s.name for s in graph.settings.services}
    for service, bootstrap in bootstraps.items():
        assert bootstrap["admin"]["address"]["socket_address"] == {
            "address": "127.0.0.1",
            "port_value": ADMIN_PORT,
        }, service
        exposed = sorted(
            listener["address"]["socket_address"]["port_value"]
            for listener in bootstrap["static_resources"]["listeners"]
            if listener["address"]["socket_address"]["address"] != "127.0.0.1"
        )
        expected = (
            [METRICS_PORT]
            if graph.settings.service(service).is_load
            else [METRICS_PORT, INGRESS_PORT]
        )
        assert exposed == expected, service
    if graph.settings.topology == "ecs":
        for service, containers in _ecs_containers(graph).items():
            published = {
                m["containerPort"] for c in containers.values() for m in c.get("portMappings", [])
            }
            assert published <= {INGRESS_PORT, METRICS_PORT}, service
    else:
        for name, pod in _pods(graph).items():
            [sidecar] = pod["initContainers"]
            assert {p["containerPort"] for p in sidecar["ports"]} <= {INGRESS_PORT, METRICS_PORT}, (
                name
            )


def test_containers_run_as_non_root(graph):
    """Envoy and the demo app run as fixed unprivileged users without capabilities on both
    topologies. On EKS every container must be non-root (the kubelet refuses to start an
    image that would run as root, and the namespace enforces the restricted Pod Security
    Standard). On ECS, which has no such check, two containers keep their image's user: a
    service's own image (its Dockerfile's USER: use a non-root image, as the examples do) and
    the CloudWatch agent, whose image (FROM scratch, files owned by root) must write its
    configuration under /opt/aws; it publishes no port and listens on loopback UDP only."""
    if graph.settings.topology == "ecs":
        for service, containers in _ecs_containers(graph).items():
            envoy = containers[ENVOY]
            assert envoy["user"] == "101:101", service
            assert envoy["linuxParameters"]["capabilities"] == {"add": [], "drop": ["ALL"]}
            app = containers[APP]
            if graph.settings.service(service).uses_demo_app:
                assert app["user"] == "65534:65534", service
                assert app["linuxParameters"]["capabilities"] == {"add": [], "drop": ["ALL"]}
            else:
                assert "user" not in app, service
            assert "user" not in containers[AGENT] and "portMappings" not in containers[AGENT]
        return
    namespace = next(
        r
        for r in graph.run.of_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] == graph.settings.kubernetes_namespace
    )
    assert (
        namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    )
    for name, pod in _pods(graph).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["initContainers"] + pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"] == {"drop": ["ALL"]}, (name, container["name"])
            assert context.get("runAsUser", 1) != 0, (name, container["name"])


def test_envoy_and_the_demo_app_have_read_only_root_filesystems(graph):
    """Everywhere but in the envoy container of an ECS service with `faults`, which ECS Exec
    enters (its SSM agent needs a writable root file system)."""
    if graph.settings.topology == "ecs":
        for service, containers in _ecs_containers(graph).items():
            exec_on = graph.settings.service(service).faults is not None
            assert containers[ENVOY]["readonlyRootFilesystem"] is not exec_on, service
            if graph.settings.service(service).uses_demo_app:
                assert containers[APP]["readonlyRootFilesystem"] is True, service
        return
    for name, pod in _pods(graph).items():
        [sidecar] = pod["initContainers"]
        assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True, name
        [app] = pod["containers"]
        if graph.settings.service(name).uses_demo_app:
            assert app["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_every_image_is_pinned(graph):
    """A tag other than ``latest``, or a digest, on every container; the Helm chart (whose
    images it pins) at a fixed version."""
    if graph.settings.topology == "ecs":
        images = [
            c["image"]
            for containers in _ecs_containers(graph).values()
            for c in containers.values()
        ]
    else:
        images = [
            c["image"]
            for pod in _pods(graph).values()
            for c in pod["initContainers"] + pod["containers"]
        ]
        releases = graph.run.of_type("kubernetes:helm.sh/v3:Release")
        assert sorted(r.inputs["version"] for r in releases) == sorted(
            [CHART_VERSION, TEMPO_CHART_VERSION]
        )
        assert all(r.inputs["version"][0].isdigit() for r in releases)
    assert images
    for image in images:
        match = IMAGE_REF.match(image)
        assert match and (match.group("digest") or match.group("tag") != ":latest"), image


def test_no_secret_in_environment_variables_or_plain_outputs(graph):
    """No variable looks like a secret, no registered input carries a credential, Grafana's
    password is generated in the cluster (never a value here), and the only secret a stack
    outputs, the EKS kubeconfig, is a secret output."""
    if graph.settings.topology == "ecs":
        variables = {
            e["name"]: e["value"]
            for containers in _ecs_containers(graph).values()
            for c in containers.values()
            for e in c.get("environment", [])
        }
        assert not any(
            "secrets" in c
            for containers in _ecs_containers(graph).values()
            for c in containers.values()
        )
    else:
        variables = {
            e["name"]: e.get("value")
            for pod in _pods(graph).values()
            for c in pod["initContainers"] + pod["containers"]
            for e in c.get("env", [])
        }
        [release] = [
            r
            for r in graph.run.of_type("kubernetes:helm.sh/v3:Release")
            if "grafana" in r.inputs["values"]
        ]
        assert release.inputs["values"]["grafana"]["adminPassword"] == ""
    assert variables
    assert [name for name in variables if SECRET_NAME.search(name)] == []
    for resource in graph.run.resources:
        assert not CREDENTIAL.search(json.dumps(resource.inputs, default=str)), resource.name
    expected_secret = {"kubeconfig"} if graph.settings.topology == "eks" else set()
    assert graph.run.secret_outputs == expected_secret
    plain = {k: v for k, v in graph.run.outputs.items() if k not in expected_secret}
    assert not CREDENTIAL.search(json.dumps(plain))
    if graph.settings.topology == "eks":
        # A command that reads the generated password from its Secret, not the password.
        assert (
            plain["grafanaPassword"].startswith("kubectl ")
            and "get secret" in plain["grafanaPassword"]
        )
