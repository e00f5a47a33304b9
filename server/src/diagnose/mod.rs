//! Run results → typed diagnostics (no LSP types here).
