"""Unit tests of the layer of the same name."""
