//! Fuzz target: instrumenting any text must never panic, must never move a line (the
//! instrumented script has exactly the source's lines, so tracebacks need no mapping), and
//! wherever the source parses, the instrumented script must parse too.
#![no_main]

use heaplens::run::instrument::{instrument, normalize};
use heaplens::run::Nonce;
use libfuzzer_sys::fuzz_target;

fn parses(text: &str) -> bool {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the Python grammar loads");
    parser
        .parse(text, None)
        .is_some_and(|tree| !tree.root_node().has_error())
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let source = normalize(source);
    let nonce = Nonce::from_hex("0123456789abcdef0123456789abcdef");
    let Ok(instrumented) = instrument(&source, &nonce) else {
        return;
    };
    assert_eq!(
        instrumented.code.lines().count(),
        source.lines().count(),
        "a line moved:\n{}",
        instrumented.code
    );
    // Control characters (`\x0b`, `\x01`, …) make tree-sitter accept text no Python accepts;
    // for such input only the no-panic and no-moved-line checks apply.
    let plain_text = !source
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n'));
    if plain_text && parses(&source) {
        assert!(
            parses(&instrumented.code),
            "the instrumented script does not parse:\n{}",
            instrumented.code
        );
    }
});
