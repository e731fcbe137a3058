"""Local stand-ins for the offline demo, the integration tests and the benchmarks: loopback only."""
