"""cipherpost: end-to-end encrypted messaging with a Signal-protocol core."""

__version__ = "0.1.0"
