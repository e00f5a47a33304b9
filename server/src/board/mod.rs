//! The board link: transports (serial, pty, simulated board), the raw REPL, discovery.
//! The only module that does board I/O; knows nothing of heaps or LSP.
