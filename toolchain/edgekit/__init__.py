"""edgekit: HD-sEMG gesture classifiers from training to a verified int8 MCU deployment."""

from .seeding import pin_cpu_numerics

# Before torch runs anything: its CPU libraries read their instruction-set caps once, at their
# first op, and the same seed must give the same weights on an AVX2 and an AVX-512 machine.
pin_cpu_numerics()

__version__ = "0.1.0"
