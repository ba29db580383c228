"""Layer 1, settings: the stack configuration as typed data, its validation and the one
`ConfigError`; reading stack files. Imports nothing else of the project."""
