"""Dashboards, alarms, queries and alert rules, per telemetry backend (pure)."""
