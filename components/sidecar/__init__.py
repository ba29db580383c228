"""Layer 2, the Envoy sidecar contract: names, the bootstrap, the one Envoy command line, the
stats lists and the demo app's environment. Imports only `components.settings`."""
