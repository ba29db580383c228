"""CloudWatch documents of the ecs topology: metric reads, dashboard, alarms, Logs Insights."""
