//! The heap model: reading `micropython.mem_info(1)` dumps, snapshots, statistics, diffs.
//! Pure: no I/O, no board, no LSP.
