"""Everything that deploys: settings, the sidecar contract, the ECS and EKS topologies and the
composition root (see README "How the code is laid out")."""
