"""Real processes on loopback: Envoy, Prometheus, demo apps, the local mesh."""
