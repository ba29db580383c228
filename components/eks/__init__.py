"""The eks topology: pure documents (Kubernetes objects, monitoring values) and checks, then the
Pulumi components `service.py` and `topology.py`. Never imports `components.ecs`."""
