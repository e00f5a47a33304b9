use super::*;

const SEED: &str = include_str!("../../../../tests/fixtures/meminfo/pico-seed-192064.txt");

#[test]
fn hover_over_a_tuple_block() {
    // Row 00000: block 11 is the first `T` after "h=MhhhBDhhB".
    let md = hover(&read(SEED).unwrap(), SEED, 4, 7 + 11).unwrap();
    assert!(md.starts_with("**tuple** `T` · block 11 of area 0"), "{md}");
    assert!(md.contains("address `0x200085"), "{md}");
    assert!(md.contains("1 block = 16 bytes"), "{md}");
    assert_eq!(
        hover(&read(SEED).unwrap(), SEED, 4, 2),
        None,
        "the offset column is not a block"
    );
}

#[test]
fn header_lines_explain_their_figures() {
    let dumps = read(SEED).unwrap();
    let at = |line| hover(&dumps, SEED, line, 0).unwrap();
    let stack = at(0);
    assert!(
        stack.starts_with("**stack** — 532 B of the C stack in use, out of 7.8 KiB (7,936 bytes)"),
        "{stack}"
    );
    let gc = at(1);
    assert!(gc.contains("| total | 187.6 KiB (192,064 bytes) |"), "{gc}");
    assert!(
        gc.contains("| used | 4.8 KiB (4,896 bytes) (2.5%) |"),
        "{gc}"
    );
    let counts = at(2);
    assert!(
        counts.contains("| 1-blocks | 52 allocations exactly one block long |"),
        "{counts}"
    );
    assert!(
        counts
            .contains("| largest allocation (`max blk sz`) | 64 blocks = 1.0 KiB (1,024 bytes) |"),
        "{counts}"
    );
    assert!(
        counts.contains("| longest free run (`max free sz`) | 11,650 blocks = 182.0 KiB (186,400 bytes): the largest allocation that can succeed now |"),
        "{counts}"
    );
    let area = at(3);
    assert!(
        area.starts_with("**heap area 0** · starts at address `0x200084a0`"),
        "{area}"
    );
    assert!(
        area.contains("12,004 blocks = 187.6 KiB (192,064 bytes)"),
        "{area}"
    );
}

#[test]
fn garbage_gets_one_error_and_symbols_cover_areas() {
    let d = diagnostics("hello\nworld\n", &read("hello\nworld\n"));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Some(DiagnosticSeverity::ERROR));
    assert!(
        diagnostics(SEED, &read(SEED)).is_empty(),
        "{:?}",
        diagnostics(SEED, &read(SEED))
    );
    let names: Vec<String> = symbols(SEED, &read(SEED).unwrap())
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["Header", "Area 0: Area from 200084a0"]);
}

/// Two dumps with timestamped lines and CR-only endings: each dump is a symbol with its
/// own header and area, hovers find blocks of the second dump, and each dump has a lens.
#[test]
fn a_document_of_several_dumps_shows_each() {
    let one = SEED.replace('\n', "\r");
    let text = format!(
        "{one}[12:00:01.000] {}",
        SEED.replace('\n', "\r[12:00:01.000] ")
    );
    let dumps = read(&text).unwrap();
    let symbols = symbols(&text, &dumps);
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Dump 1", "Dump 2"]);
    let children: Vec<String> = symbols[1]
        .children
        .iter()
        .flatten()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(children, ["Header", "Area 0: Area from 200084a0"]);
    let second_row = doc_lines(&text)
        .iter()
        .rposition(|l| l.contains("] 00000: "))
        .unwrap();
    let column = doc_lines(&text)[second_row].find("00000: ").unwrap() + 7 + 11;
    let md = hover(&dumps, &text, second_row as u32, column as u32).unwrap();
    assert!(
        md.starts_with("**tuple** `T`") && md.contains("dump 2 of 2"),
        "{md}"
    );
    let uri: Uri = "file:///tmp/log.mpheap".parse().unwrap();
    let lenses = code_lenses(&uri, &dumps);
    let titles: Vec<String> = lenses
        .iter()
        .filter_map(|l| l.command.as_ref().map(|c| c.title.clone()))
        .collect();
    assert_eq!(
        titles,
        [
            "Open all 2 dumps as a timeline",
            "Open dump 1 of 2 as heap map",
            "Open dump 2 of 2 as heap map"
        ]
    );
    assert!(
        diagnostics(&text, &read(&text)).is_empty(),
        "{:?}",
        diagnostics(&text, &read(&text))
    );
}

#[test]
fn unknown_figures_are_diagnostics_on_the_gc_line() {
    let text = "stack: 424 out of 15360\nGC: total: 102400, used: 8768, free: 93632\n No. of 1-blocks: 168, 2-blocks: 70, max blk sz: 35\n";
    let d = diagnostics(text, &read(text));
    assert!(!d.is_empty());
    assert!(d.iter().all(|d| d.range.start.line == 1), "{d:?}");
    assert!(
        d.iter()
            .any(|d| d.message.contains("max_free_blocks") && d.message.contains("max free sz")),
        "{d:?}"
    );
}
