"""The ecs topology: pure documents (containers, agent config, IAM) and checks, then the
Pulumi components `service.py` and `topology.py`. Never imports `components.eks`."""
