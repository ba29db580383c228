"""The whole Pulumi program under mocks, per stack file and larger graphs."""
