//! A script's text seen as rows (0-based), for the rewrites that work row by row.

use tree_sitter::Node;

/// The rows of a source text: where each starts, its text, its indentation.
#[derive(Debug, Clone)]
pub struct SourceRows<'s> {
    source: &'s str,
    /// Byte offset where each row starts.
    starts: Vec<usize>,
}

impl<'s> SourceRows<'s> {
    pub fn new(source: &'s str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            source
                .bytes()
                .enumerate()
                .filter(|&(_, byte)| byte == b'\n')
                .map(|(index, _)| index + 1)
                .filter(|&start| start < source.len()),
        );
        SourceRows { source, starts }
    }

    /// How many rows (a last row without a line ending counts).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Byte offset where row `row` starts (the text's length past the last row).
    pub fn start(&self, row: usize) -> usize {
        self.starts.get(row).copied().unwrap_or(self.source.len())
    }

    /// Byte offset where row `row` ends, line ending included.
    pub fn end(&self, row: usize) -> usize {
        self.start(row + 1)
    }

    /// Row `row` without its line ending.
    pub fn text(&self, row: usize) -> &'s str {
        self.source[self.start(row)..self.end(row)].trim_end_matches(['\n', '\r'])
    }

    /// The spaces and tabs that start row `row`.
    pub fn indent(&self, row: usize) -> &'s str {
        let text = self.text(row);
        &text[..text.len() - text.trim_start_matches([' ', '\t']).len()]
    }
}
/// A statement that is only a string literal (a docstring when it comes first in a body).
pub fn is_docstring(node: Node<'_>) -> bool {
    node.kind() == "expression_statement"
        && node.named_child_count() == 1
        && node
            .named_child(0)
            .is_some_and(|child| matches!(child.kind(), "string" | "concatenated_string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_texts_indents_and_line_endings() {
        let rows = SourceRows::new("a\r\n\tb = 1\r\n  c");
        assert_eq!(rows.len(), 3);
        assert_eq!((rows.text(1), rows.indent(1)), ("\tb = 1", "\t"));
        assert_eq!((rows.text(2), rows.indent(2)), ("  c", "  "));
        assert_eq!((rows.start(1), rows.end(1)), (3, 11));
        assert_eq!(rows.end(2), 14);
        assert_eq!(SourceRows::new("x\n").len(), 1);
    }
}
