"""The test harness: real processes on free loopback ports, for the test packages and bench/ (no fixtures)."""
