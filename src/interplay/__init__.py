"""interplay: reruns the pre-training / mid-training / RL experiments of Zhang, Neubig & Yue (2025)."""

__version__ = "0.1.0"
