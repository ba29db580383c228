"""mesh-visibility: micro-services with Envoy sidecars on AWS, made visible."""

import pulumi

from components.pulumi_config import stack_settings
from components.settings import ConfigError

try:
    settings = stack_settings()
except ConfigError as err:
    # One clear line instead of a traceback; nothing has been registered yet.
    raise pulumi.RunError(str(err)) from None

if settings.topology == "ecs":
    from components.ecs_topology import EcsTopology as Topology
else:
    from components.eks_topology import EksTopology as Topology

topology = Topology(settings.mesh_name, settings)
for key, value in topology.stack_outputs().items():
    pulumi.export(key, value)
