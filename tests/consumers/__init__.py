"""Generated documents handed to the real programs that consume them, each run as a process:
``envoy --mode validate``, ``promtool check``/``test rules``, with the golden cases' consumer
table. Same tree as tests/unit/; consumers that are libraries (botocore's models,
kubernetes-validate, JSON schemas) run in-process in tests/unit/."""
