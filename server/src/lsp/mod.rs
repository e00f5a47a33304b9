//! The language server: the only module that knows LSP.

/// Serve LSP over stdin/stdout until the client exits.
pub fn serve_stdio() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
