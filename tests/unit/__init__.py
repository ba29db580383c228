"""In-process only: pure functions and the consumers that are libraries; fast (`pytest
tests/unit`). A test that starts a process goes to tests/consumers/ (a consumer program) or
tests/local/ (the local mesh, the command line)."""
