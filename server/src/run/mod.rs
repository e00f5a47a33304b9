//! Instrumented runs: rewriting scripts with allocation probes, mapping lines back, running.
