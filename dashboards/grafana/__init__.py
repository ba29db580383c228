"""Grafana dashboards of the eks topology, built with grafana-foundation-sdk."""
