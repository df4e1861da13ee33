"""Monitoring computations: training/serving skew and its report."""
