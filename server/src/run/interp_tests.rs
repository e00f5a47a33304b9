//! Tests that run instrumented scripts on the real MicroPython interpreter (the simulated
//! board's unix port) as a subprocess.
