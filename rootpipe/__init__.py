"""rootpipe: root images to root traits and growth curves."""

__version__ = "0.1.0"
