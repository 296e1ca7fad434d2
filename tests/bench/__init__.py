"""Benchmark scripts: they print figures and ratios; nothing here is a timed test."""
