"""Real processes on loopback: Envoy, Prometheus, dnsmasq, demo apps, the local mesh, and the
command line run as a process."""
