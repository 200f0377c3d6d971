"""qmr: Quantization Meets Reasoning."""

__version__ = "0.1.0"
