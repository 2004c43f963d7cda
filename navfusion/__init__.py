"""navfusion: situational fusion of visual representations for visual navigation."""

__version__ = "0.1.0"
