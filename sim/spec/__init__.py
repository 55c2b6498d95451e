"""Validated, frozen models of every input file (scenario, topology, workload, model)."""
