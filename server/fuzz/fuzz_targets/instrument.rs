//! Fuzz target: instrumenting any text, every execution probed or sampled, inline or
//! call-form probes, must never panic, and the line map must cover the instrumented script.
//! Whenever the plain probe rewrite parses, the sampled and call-form rewrites must parse too:
//! sampling never turns a script that instruments into one that does not. (Comparing with the
//! plain rewrite, not with the source, because tree-sitter accepts some text that no Python
//! accepts, such as a loop body left unindented after a control character.)
#![no_main]

use heaplens::run::instrument::{instrument, InstrumentOptions};
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
    let Ok(base) = instrument(source, &InstrumentOptions::default()) else {
        return;
    };
    // Control characters (a lone `\r`, `\x0b`, `\x01`, …) make tree-sitter accept text no
    // Python accepts; for such input only the no-panic and line-map checks apply.
    let plain_text = !source
        .replace("\r\n", "\n")
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n'));
    assert!(base.line_map.len() >= base.code.lines().count());
    let base_parses = plain_text && parses(&base.code);
    for (sample, compact_probes) in [(Some(2), false), (Some(1), true), (None, true)] {
        let opts = InstrumentOptions {
            sample,
            compact_probes,
            ..InstrumentOptions::default()
        };
        let instrumented = instrument(source, &opts).expect("instruments like the plain rewrite");
        // Every line of the instrumented script has an origin, so any traceback maps.
        assert!(
            instrumented.line_map.len() >= instrumented.code.lines().count(),
            "the line map does not cover the script ({opts:?})"
        );
        if base_parses {
            assert!(
                parses(&instrumented.code),
                "this rewrite does not parse where the plain one does ({opts:?}):\n{}",
                instrumented.code
            );
        }
    }
});
