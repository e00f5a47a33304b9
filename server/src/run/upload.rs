//! Before a run, the project's files reach the board: the board hashes its copy of each file
//! (SHA-256, one exec for them all) and only the files that differ are written, as
//! `mpremote cp` and MicroPico's project upload do. Only the user's own plain files are
//! written (instrumented code never: it lives in the board's RAM for the run), and nothing
//! on the board is ever deleted.

use crate::board::{Board, BoardFile, FileState, LinkError};
use crate::project::{BoardLayout, Project};

/// What copying the project did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Files written (paths relative to the project root), in path order.
    pub copied: Vec<String>,
    /// Files that could not be written, each with why (a folder of that name on the board).
    pub refused: Vec<String>,
}

/// Copies the files of `project` that differ on the board. `layout` says where the board
/// keeps them (`lib/` in its lib folder, the rest in its current folder).
pub fn copy_project(
    board: &mut Board,
    project: &Project,
    layout: &BoardLayout,
) -> Result<CopyReport, LinkError> {
    let paths: Vec<(String, String, &[u8])> = project
        .files()
        .map(|(path, bytes)| (path.to_string(), layout.board_path(path), bytes))
        .collect();
    let files: Vec<BoardFile<'_>> = paths
        .iter()
        .map(|(_, board_path, bytes)| BoardFile {
            path: board_path,
            bytes,
        })
        .collect();
    let states = board.compare_files(&files)?;
    let mut report = CopyReport::default();
    let mut changed = Vec::new();
    for ((path, board_path, _), (file, state)) in paths.iter().zip(files.iter().zip(states)) {
        match state {
            FileState::Same => {}
            FileState::Differs => {
                changed.push(*file);
                report.copied.push(path.clone());
            }
            FileState::Folder => report.refused.push(format!(
                "{path} was not copied: the board has a folder named {board_path}"
            )),
        }
    }
    board.write_files(&changed)?;
    Ok(report)
}
