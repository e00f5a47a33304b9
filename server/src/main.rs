//! The `heaplens` binary: every subcommand lives in [`heaplens::cli`].

fn main() -> std::process::ExitCode {
    heaplens::cli::main()
}
