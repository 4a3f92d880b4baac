"""The nemesis suite (issue #17): a Troupe cluster in network namespaces, faults, workloads
and the checks and figures computed from their histories. First piece: the failover
measurement of issue #21 (`python3 -m tests.nemesis.failover`, see failover.py)."""
