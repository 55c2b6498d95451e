"""colossus-sim: a discrete-event simulator of GPU-cluster capacity, allocation, MFU and revenue."""

__version__ = "0.1.0"
