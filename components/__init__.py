"""Everything that deploys: settings, the sidecar contract, the ECS and EKS topologies and the
composition root (see docs/code-layout.md)."""
