"""mesh-visibility: micro-services with Envoy sidecars on AWS, made visible."""

from components.program import deploy

topology = deploy()
