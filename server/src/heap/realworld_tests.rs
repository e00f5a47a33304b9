//! Dumps as people paste them (issue #14 "Real-world dumps"): the corpus in
//! `tests/fixtures/meminfo/real-world/` (each file with a `.source.md` naming where it comes
//! from), one test per rule of the issue, and property tests that no cut map and no line
//! prefix ever yields a figure that differs from the header's.

use std::path::PathBuf;

use proptest::prelude::*;

use super::read::{DumpError, HEADER_BLOCK_SIZES};
use super::*;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/meminfo/real-world")
}

fn corpus(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dumps(name: &str) -> Vec<Dump> {
    parse_dumps(&corpus(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only(name: &str) -> Snapshot {
    let mut dumps = dumps(name);
    assert_eq!(dumps.len(), 1, "{name}");
    dumps.remove(0).snapshot
}

/// The figures a test compares, in one tuple: what the issue calls "every figure".
fn figures(stats: &Stats) -> [Option<u64>; 10] {
    [
        stats.gc_total,
        stats.used,
        stats.free,
        stats.block_bytes.map(u64::from),
        stats.blocks_total,
        stats.one_blocks,
        stats.two_blocks,
        stats.max_block_blocks,
        stats.max_free_blocks,
        stats.max_free_bytes,
    ]
}

/// Every figure the header states is the figure; block-based byte figures follow from it.
fn assert_header_wins(snapshot: &Snapshot, context: &str) {
    let stats = snapshot.stats();
    let header = &snapshot.header;
    for (name, stated, figure) in [
        ("gc_total", header.gc_total(), stats.gc_total),
        ("used", header.gc_used(), stats.used),
        ("free", header.gc_free(), stats.free),
        ("one_blocks", header.one_blocks(), stats.one_blocks),
        ("two_blocks", header.two_blocks(), stats.two_blocks),
        (
            "max_block_blocks",
            header.max_block(),
            stats.max_block_blocks,
        ),
        ("max_free_blocks", header.max_free(), stats.max_free_blocks),
    ] {
        if stated.is_some() {
            assert_eq!(figure, stated, "{context}: {name}");
        }
    }
    if let (Some(bytes), Some(total)) = (stats.block_bytes, header.gc_total()) {
        assert_eq!(
            stats.blocks_total,
            Some(total / u64::from(bytes)),
            "{context}"
        );
    }
    if let (Some(bytes), Some(max_free)) = (stats.block_bytes, header.max_free()) {
        assert_eq!(
            stats.max_free_bytes,
            Some(max_free * u64::from(bytes)),
            "{context}"
        );
    }
}

#[test]
fn every_corpus_dump_has_a_source_and_reads_as_recorded() {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "corpus too small: {names:?}");
    for name in names {
        let sidecar = corpus_dir().join(name.replace(".txt", ".source.md"));
        let source = std::fs::read_to_string(&sidecar)
            .unwrap_or_else(|e| panic!("{}: {e}", sidecar.display()));
        assert!(
            source.contains("https://"),
            "{name}: the sidecar must name its source"
        );
        let dumps = dumps(&name);
        // Real dumps never give a figure the header contradicts.
        for dump in &dumps {
            assert_header_wins(&dump.snapshot, &name);
        }
        let summary: Vec<serde_json::Value> = dumps
            .iter()
            .map(|dump| {
                let stats = dump.snapshot.stats();
                serde_json::json!({
                    "lines": [dump.first_line, dump.last_line],
                    "figures": figures(&stats),
                    "fragmentation": stats.fragmentation.map(|f| (f * 1000.0).round() / 1000.0),
                    "map": stats.map,
                    "block_bytes_source": stats.block_bytes_source,
                    "areas": stats.areas,
                    "warnings": stats.warnings,
                })
            })
            .collect();
        let stem = name.trim_end_matches(".txt").replace('.', "_");
        insta::assert_json_snapshot!(format!("corpus_{stem}"), summary);
    }
}

/// Rule 1: a figure is what the dump states, or what a complete map proves, or null — with
/// a warning saying which is unknown and why; text shows "unknown".
#[test]
fn rule_1_a_figure_is_stated_proven_or_unknown() {
    // v1.6: no `max free sz` — not a longest run of 0 and a fragmentation of 1.0.
    let snapshot = dumps("pyboard-v1.6-issue1877-series.txt")
        .remove(0)
        .snapshot;
    let stats = snapshot.stats();
    assert_eq!(stats.max_free_blocks, None);
    assert_eq!(stats.max_free_bytes, None);
    assert_eq!(stats.fragmentation, None);
    assert_eq!(stats.used, Some(8768));
    assert_eq!(stats.sources.get("used"), Some(&Source::Header));
    assert!(
        stats.warnings.iter().any(|w| w.contains("max_free_blocks")
            && w.contains("fragmentation")
            && w.contains("no `max free sz`")),
        "{:?}",
        stats.warnings
    );
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["max_free_blocks"].is_null() && json["fragmentation"].is_null());
    let text = render::render_stats(&stats);
    assert!(text.contains("longest free run    unknown"), "{text}");
    assert!(text.contains("fragmentation       unknown"), "{text}");

    // A complete map proves what the header lacks: the map's counts fill in, marked so.
    let mut text = String::from_utf8(corpus("stm32-pyboard-issue8675-pyboard-py.txt")).unwrap();
    text = text.replace(", max free sz: 6343", "");
    let snapshot = parse_dump_str(&text).unwrap();
    let stats = snapshot.stats();
    assert_eq!(stats.max_free_blocks, Some(6343));
    assert_eq!(stats.sources.get("max_free_blocks"), Some(&Source::Map));

    // A map-only dump with nothing to check it against proves nothing.
    let stats = only("esp32-issue7778-gc-dump-at-boot.txt").stats();
    assert_eq!(figures(&stats)[..3], [None, None, None]);
    assert!(stats.by_kind.is_empty());
}

/// Rule 2: the header wins over a partial or empty map; a map that ends early is reported as
/// truncated, naming its last row, and its counts are not used.
#[test]
fn rule_2_the_header_wins_over_a_partial_or_empty_map() {
    // Cut mid-row (ESP8266, the second dump of the paste).
    let second = dumps("esp8266-v1.12-issue6086-two-dumps.txt").remove(1);
    let snapshot = &second.snapshot;
    assert_eq!(snapshot.map, MapState::Partial);
    assert_header_wins(snapshot, "cut mid-row");
    assert!(
        snapshot.warnings.iter().any(|w| matches!(
            w,
            Warning::MapTruncated {
                line: 26,
                row: 0,
                digits: 5,
                blocks: 33,
                expected: 2372
            }
        )),
        "{:?}",
        snapshot.warnings
    );
    // Its 33 blocks hold no 2-block allocation and a 5-block max: none of that is reported.
    assert_eq!(snapshot.stats().max_block_blocks, Some(264));
    assert!(snapshot.stats().free_runs.is_empty());

    // A layout line with no rows (the unmerged `Frag:` build): the header stands.
    let snapshot = only("pyboard-pr5195-frag-line.txt");
    assert_header_wins(&snapshot, "empty map");
    assert!(snapshot
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::MapEmpty { line: 5 })));
    assert_eq!(snapshot.stats().used, Some(20_026_240));

    // Cut maps of other ports, and a map behind timestamps.
    for name in [
        "nrf52-monocle-issue264-v1.20.txt",
        "esp32-v1.13-issue7043-cut.txt",
        "derived-stm32-issue8675-timestamps-crlf.txt",
    ] {
        for dump in dumps(name) {
            assert_header_wins(&dump.snapshot, name);
        }
    }
    let pimoroni = dumps("rp2040-pimoroni631-after-cleanup.txt");
    assert_eq!(pimoroni.len(), 2);
    assert_header_wins(&pimoroni[1].snapshot, "pimoroni after cleanup");
    assert_eq!(pimoroni[1].snapshot.stats().max_free_blocks, Some(5031));
}

/// Rule 3: numbers and lines as people paste them.
#[test]
fn rule_3_numbers_and_lines_as_people_paste_them() {
    // Thousands separators: the figures, not 111 and 20.
    let snapshot = only("derived-esp32-issue7043-thousands-separators.txt");
    let stats = snapshot.stats();
    assert_eq!(
        (
            stats.gc_total,
            stats.used,
            stats.free,
            stats.max_free_blocks
        ),
        (Some(111_168), Some(20_304), Some(90_864), Some(3_400))
    );
    for separated in [
        "GC: total: 111,168, used: 71,456, free: 39,712",
        "GC: total: 111_168, used: 71_456, free: 39_712",
        "GC: total: 111'168, used: 71'456, free: 39'712",
        "GC: total: 111 168, used: 71 456, free: 39 712",
        "GC: total: 111\u{a0}168, used: 71\u{a0}456, free: 39\u{a0}712",
    ] {
        let snapshot = parse_dump_str(separated).unwrap();
        assert_eq!(
            (
                snapshot.header.gc_total(),
                snapshot.header.gc_used(),
                snapshot.header.gc_free()
            ),
            (Some(111_168), Some(71_456), Some(39_712)),
            "{separated}"
        );
    }

    // Prefixes and line endings: the same figures and blocks as the clean source.
    let clean = only("stm32-pyboard-issue8675-pyboard-py.txt");
    for name in [
        "derived-stm32-issue8675-timestamps-crlf.txt",
        "derived-stm32-issue8675-cr-only.txt",
    ] {
        let snapshot = only(name);
        assert_eq!(snapshot.areas, clean.areas, "{name}");
        assert_eq!(
            figures(&snapshot.stats()),
            figures(&clean.stats()),
            "{name}"
        );
        assert_eq!(snapshot.map, MapState::Complete, "{name}");
    }
    let clean = dumps("esp8266-v1.12-issue6086-two-dumps.txt")
        .remove(0)
        .snapshot;
    for name in [
        "derived-esp8266-issue6086-esp-idf-prefix.txt",
        "derived-esp8266-issue6086-indented.txt",
    ] {
        let snapshot = only(name);
        assert_eq!(snapshot.areas, clean.areas, "{name}");
        assert_eq!(
            figures(&snapshot.stats()),
            figures(&clean.stats()),
            "{name}"
        );
    }
    // Mixed line endings and `>>> ` prompts in one capture.
    let text = String::from_utf8(corpus("stm32-pyboard-issue8675-pyboard-py.txt")).unwrap();
    let mixed: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| format!(">>> {line}{}", ["\n", "\r\n", "\r"][i % 3]))
        .collect();
    let snapshot = parse_dump_str(&mixed).unwrap();
    let clean = only("stm32-pyboard-issue8675-pyboard-py.txt");
    assert_eq!(snapshot.areas, clean.areas);
    // Segger RTT `0>` prefixes: the rows read.
    let rtt = only("stm32f407-issue4968-rtt-prefix.txt");
    assert_eq!(rtt.blocks_total(), 17 * 64);
}

/// Rule 4: every released format, the 2016 map, the `GC area #N` form, and unknown lines
/// ignored with a warning.
#[test]
fn rule_4_every_format() {
    // v1.6 as py/gc.c at v1.6 prints it: `max blk sz` last, offsets the low 20 bits of each
    // row's address, tails `t`. A 16-byte-block heap at 0x2000fff0: offsets wrap at 1 MiB.
    let mut blocks = String::from("h");
    blocks.push_str(&"t".repeat(12));
    blocks.push_str("ththt");
    blocks.push_str(&".".repeat(160 - blocks.len()));
    let v1_6 = format!(
        "stack: 424 out of 15360\nGC: total: 2560, used: 288, free: 2272\n \
         No. of 1-blocks: 0, 2-blocks: 2, max blk sz: 14\n\
         GC memory layout; from 2000fff0:\nffff0: {}\n003f0: {}\n007f0: {}\n",
        &blocks[..64],
        &blocks[64..128],
        &blocks[128..]
    );
    let snapshot = parse_dump_str(&v1_6).unwrap();
    assert_eq!(snapshot.warnings, vec![], "{v1_6}");
    assert_eq!(snapshot.block_bytes, Some(16));
    assert_eq!(snapshot.map, MapState::Complete);
    let map = snapshot.map_figures();
    assert_eq!((map.one_blocks, map.two_blocks, map.max_block), (0, 2, 14));
    // The map proves what v1.6 did not print.
    assert_eq!(snapshot.stats().max_free_blocks, Some(142));

    // The 2016 unix map of micropython/micropython#2068: `t` tails, address offsets,
    // 32-byte blocks, wrapping at 0xfffff.
    let unix = only("unix-2016-pr2068-t-tails.txt");
    assert_eq!(unix.block_bytes, Some(32));
    assert_eq!(unix.blocks_total(), 64 * 2 + 1010 * 64 + 8);
    assert!(!unix
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::RowMisplaced { .. })));

    // v1.0–v1.3: offsets count blocks.
    let v1_3 = "GC: total: 2048, used: 64, free: 1984\n \
        No. of 1-blocks: 2, 2-blocks: 1, max blk sz: 2\n\
        GC memory layout; from 200\n\
        0000: hhht............................................................\n\
        0040: ................................................................\n";
    let snapshot = parse_dump_str(v1_3).unwrap();
    assert_eq!(snapshot.blocks_total(), 128);
    assert_eq!(snapshot.map, MapState::Complete);
    assert_eq!(snapshot.block_bytes, Some(16));

    // `GC area #N (size S), from ADDR:` (micropython/micropython#3533).
    let areas = only("esp32-v1.9.3-pr3533-gc-area.txt");
    assert_eq!(areas.areas.len(), 2);
    assert_eq!(
        areas.areas.iter().map(|a| a.address).collect::<Vec<_>>(),
        [Some(0x3ffb30a0), Some(0x3ffe4de0)]
    );
    assert_eq!(
        areas
            .areas
            .iter()
            .map(|a| a.blocks.len())
            .collect::<Vec<_>>(),
        [6000, 6936]
    );
    assert_eq!(areas.map, MapState::Complete);
    assert_eq!(areas.warnings, vec![]);

    // v1.21+ `max new split`; v1.20+ 8-digit offsets.
    assert_eq!(
        only("esp32-v1.23-pr12141-max-new-split.txt")
            .header
            .max_new_split(),
        Some(188_352)
    );
    assert_eq!(
        only("stm32-pyboard-issue8675-pyboard-py.txt").warnings,
        vec![]
    );

    // A `Frag:` line of an unmerged build: ignored, with a warning naming it.
    let snapshot = only("pyboard-pr5195-frag-line.txt");
    assert!(snapshot
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::UnknownLine { line: 6, text } if text.starts_with("Frag:"))));
}

/// Rule 5: the block size is derived (offsets, GC total / blocks, header arithmetic) or
/// unknown; a `mem:` line says nothing about it.
#[test]
fn rule_5_block_size_is_derived_or_unknown() {
    // A header with `mem:` whose used bytes are no multiple of 32: 16.
    let snapshot = only("minimal-port-issue5650-mem-line.txt");
    assert_eq!(snapshot.block_bytes, Some(16));
    assert_eq!(
        snapshot.block_bytes_source,
        BlockBytesSource::HeaderArithmetic
    );
    // `max free sz` × 32 > free: 16.
    assert_eq!(
        only("esp32-v1.23-pr12141-max-new-split.txt").block_bytes,
        Some(16)
    );
    // From the map's offsets, whatever the header.
    let snapshot = only("esp32-v1.9.3-pr3533-gc-area.txt");
    assert_eq!(
        (snapshot.block_bytes, snapshot.block_bytes_source),
        (Some(16), BlockBytesSource::MapOffsets)
    );
    // Nothing determines it: 16 and 32 both fit, so null, and the byte figures that need it.
    let third = dumps("esp8266-v1.12-issue5949-series.txt")
        .remove(2)
        .snapshot;
    assert_eq!(third.block_bytes, None);
    let stats = third.stats();
    assert_eq!(
        (
            stats.blocks_total,
            stats.max_free_bytes,
            stats.fragmentation
        ),
        (None, None, None)
    );
    assert_eq!(stats.gc_total, Some(37_952), "stated figures stay");
    // The candidates are MicroPython's block sizes.
    assert_eq!(HEADER_BLOCK_SIZES, [16, 32]);
}

/// Rule 6: a capture holding several dumps gives all of them, in order, with their lines.
#[test]
fn rule_6_a_capture_gives_every_dump() {
    let series = dumps("pyboard-v1.6-issue1877-series.txt");
    assert_eq!(series.len(), 5);
    let used: Vec<Option<u64>> = series.iter().map(|d| d.snapshot.header.gc_used()).collect();
    assert_eq!(
        used,
        [Some(8768), Some(8832), Some(8896), Some(8960), Some(9024)]
    );
    let lines: Vec<(usize, usize)> = series.iter().map(|d| (d.first_line, d.last_line)).collect();
    assert_eq!(lines, [(4, 6), (7, 9), (10, 12), (13, 15), (16, 18)]);
    assert_eq!(dumps("esp8266-v1.12-issue5949-series.txt").len(), 5);
    assert_eq!(dumps("esp32s3-v1.20-issue12237-paste-series.txt").len(), 3);
    assert_eq!(dumps("esp8266-adafruit-2017-blog.txt").len(), 2);
    // The first dump alone says that more follow.
    let first = parse_dump(&corpus("esp8266-v1.12-issue6086-two-dumps.txt")).unwrap();
    assert!(first
        .warnings
        .contains(&Warning::ExtraDump { line: 22, count: 2 }));
}

/// Rule 7: warnings are typed and never make a readable dump an error; only a text with
/// nothing readable in it is one. (Exit codes and stderr: `tests/e2e/heap_cli.rs`.)
#[test]
fn rule_7_a_readable_dump_is_never_an_error() {
    for name in [
        "pyboard-pr5195-frag-line.txt",
        "rp2040-pimoroni631-after-cleanup.txt",
        "esp32-issue7778-gc-dump-at-boot.txt",
    ] {
        let dumps = dumps(name);
        assert!(dumps
            .iter()
            .any(|d| !d.snapshot.stats().warnings.is_empty()));
    }
    assert!(matches!(
        parse_dumps(b"GC: total: banana\n"),
        Err(DumpError::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        parse_dumps(b"just a log\n"),
        Err(DumpError::NotADump { lines: 1 })
    ));
}

/// A dump's text as `mem_info(1)` prints it: the header (from the map) and the map.
fn dump_text() -> impl Strategy<Value = (Snapshot, String)> {
    let heads = prop::sample::select(vec![
        BlockKind::Other,
        BlockKind::Str,
        BlockKind::Tuple,
        BlockKind::List,
        BlockKind::Dict,
    ]);
    let piece = (0usize..200, heads, 1usize..40);
    (
        prop::collection::vec(piece, 1..30),
        0usize..300,
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(pieces, trailing, wide, five_digits)| {
            let mut blocks = Vec::new();
            for (free, kind, len) in pieces {
                blocks.extend(std::iter::repeat_n(BlockKind::Free, free));
                blocks.push(kind);
                blocks.extend(std::iter::repeat_n(BlockKind::Tail, len - 1));
            }
            blocks.extend(std::iter::repeat_n(BlockKind::Free, trailing));
            let snapshot = Snapshot::from_areas(
                vec![Area {
                    address: Some(0x2000_84a0),
                    blocks,
                }],
                if wide { 32 } else { 16 },
            );
            let mut text = snapshot.to_dump_text();
            if five_digits {
                // The pre-1.20 offset column.
                text = text
                    .lines()
                    .map(|line| match line.split_once(": ") {
                        Some((offset, rest)) if offset.len() == 8 => {
                            let offset = u64::from_str_radix(offset, 16).unwrap() & 0xfffff;
                            format!("{offset:05x}: {rest}\n")
                        }
                        _ => format!("{line}\n"),
                    })
                    .collect();
            }
            let snapshot = parse_dump_str(&text).expect("generated dump");
            (snapshot, text)
        })
}

/// The prefixes of rule 3, one per line at random.
const PREFIXES: [&str; 8] = [
    "",
    "[12:34:56.789] ",
    "I (12345) mp: ",
    ">>> ",
    "    ",
    "2024-01-31 12:34:56.789 -> ",
    " 0> ",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A dump with its map cut at any byte never yields a figure that differs from the
    /// header's, and the block size is the true one or unknown.
    #[test]
    fn a_map_cut_anywhere_never_contradicts_the_header(
        (full, text) in dump_text(),
        cut in 0.0f64..=1.0,
    ) {
        let map_start = text.find("GC memory layout").expect("has a map");
        let at = map_start + ((text.len() - map_start) as f64 * cut) as usize;
        let cut_text = &text[..at.min(text.len())];
        let dumps = parse_dumps(cut_text.as_bytes()).expect("the header alone is readable");
        prop_assert_eq!(dumps.len(), 1);
        let snapshot = &dumps[0].snapshot;
        prop_assert_eq!(&snapshot.header, &full.header);
        let stats = snapshot.stats();
        prop_assert!(
            stats.block_bytes.is_none() || stats.block_bytes == full.block_bytes,
            "block size {:?}, truly {:?}", stats.block_bytes, full.block_bytes
        );
        let truth = full.stats();
        for (figure, true_figure) in figures(&stats).into_iter().zip(figures(&truth)) {
            prop_assert!(figure.is_none() || figure == true_figure, "{:?} vs {:?}", figure, true_figure);
        }
        // Stated figures are always there.
        prop_assert_eq!(stats.used, full.header.gc_used());
        prop_assert_eq!(stats.max_free_blocks, full.header.max_free());
        if at < text.trim_end().len() {
            prop_assert!(snapshot.map != MapState::Complete || snapshot.areas == full.areas);
        }
    }

    /// Any mix of the prefixes and line endings people paste gives the same dump.
    #[test]
    fn prefixes_and_line_endings_change_nothing(
        (full, text) in dump_text(),
        choices in prop::collection::vec((0usize..PREFIXES.len(), 0usize..3), 1..64),
    ) {
        let noisy: String = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let (prefix, ending) = choices[i % choices.len()];
                format!("{}{line}{}", PREFIXES[prefix], ["\n", "\r\n", "\r"][ending])
            })
            .collect();
        let snapshot = parse_dump_str(&noisy).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&snapshot.areas, &full.areas);
        prop_assert_eq!(&snapshot.header, &full.header);
        prop_assert_eq!(figures(&snapshot.stats()), figures(&full.stats()));
        prop_assert_eq!(snapshot.map, MapState::Complete);
    }
}
