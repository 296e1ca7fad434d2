"""Fakes of the outside servers Orchestra talks to, for tests and benchmarks."""
