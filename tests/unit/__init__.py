"""Pure functions and their real consumers; fast (`pytest tests/unit`)."""
