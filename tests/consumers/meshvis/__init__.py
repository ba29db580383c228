"""Consumer checks of the layer of the same name."""
