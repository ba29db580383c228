"""Prometheus documents: PromQL, alert rules and the scrape job (eks and the local mesh)."""
