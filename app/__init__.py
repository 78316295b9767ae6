"""voodoo-holo: one-photo 3D telepresence for Looking Glass displays."""

__version__ = "0.1.0"
