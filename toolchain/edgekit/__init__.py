"""edgekit: HD-sEMG gesture classifiers from training to a verified int8 MCU deployment."""

__version__ = "0.1.0"
