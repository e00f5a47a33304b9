//! Tests over the real dumps in `tests/fixtures/meminfo/` and over captures made noisy the way
//! a serial line makes them, plus property tests of the reader.

use std::path::PathBuf;

use proptest::prelude::*;

use super::read::{DumpError, MAX_BLOCKS};
use super::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/meminfo")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(name: &str) -> Snapshot {
    parse_dump(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const PICO: &str = "pico-seed-192064.txt";
const WASM_SPLIT: &str =
    "wasm-pyscript-1.27.0-heapsize192064-after-parrot-autogrown-split-heap.txt";
const UNIX_PARROT: &str = "unix-1.29pre-192k-after-parrot.txt";

/// The one fixture that cannot be read without a warning: `mem_info()` of the unix port has
/// no map, and 16- and 32-byte blocks both fit its header.
const LEVEL0: &str = "unix-1.29pre-192k-fresh-level0.txt";

#[test]
fn every_fixture_matches_its_stats_snapshot_and_reads_without_warnings() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "fixtures missing: {names:?}");
    for name in names {
        let stem = name.trim_end_matches(".txt").replace('.', "_");
        match parse_dump(&fixture(&name)) {
            Ok(snapshot) => {
                // The real dumps are all self-consistent: the header and the map agree.
                if name != LEVEL0 {
                    assert_eq!(snapshot.warnings, vec![], "{name}");
                    assert_eq!(snapshot.map, MapState::Complete, "{name}");
                }
                insta::assert_json_snapshot!(format!("stats_{stem}"), snapshot.stats());
            }
            Err(error) => {
                insta::assert_snapshot!(format!("error_{stem}"), error.to_string());
            }
        }
    }
}

#[test]
fn pico_seed_figures_are_exact() {
    let snapshot = read(PICO);
    assert_eq!(snapshot.block_bytes, Some(16));
    assert_eq!(snapshot.areas.len(), 1);
    assert_eq!(snapshot.areas[0].address, Some(0x200084a0));
    assert_eq!(snapshot.blocks_total(), 12_004);
    let stats = snapshot.stats();
    assert_eq!(stats.blocks_total, Some(12_004));
    assert_eq!(stats.one_blocks, Some(52));
    assert_eq!(stats.two_blocks, Some(13));
    assert_eq!(stats.max_block_blocks, Some(64));
    assert_eq!(stats.max_free_blocks, Some(11_650));
    assert_eq!(stats.max_free_bytes, Some(11_650 * 16));
    let figures = snapshot.map_figures();
    assert_eq!(figures.used_blocks * 16, 4_896);
    assert_eq!(stats.used, Some(4_896));
    assert_eq!(
        (stats.stack_used, stats.stack_total),
        (Some(532), Some(7936))
    );
}

#[test]
fn split_heap_areas_combine_to_the_header() {
    let snapshot = read(WASM_SPLIT);
    assert_eq!(snapshot.block_bytes, Some(16));
    let addresses: Vec<_> = snapshot.areas.iter().map(|a| a.address).collect();
    assert_eq!(addresses, vec![Some(0x30b40), Some(0x5fae0), Some(0x8fa30)]);
    // Figures of each area on its own, as if it were a snapshot of one area.
    let per_area: Vec<MapFigures> = snapshot
        .areas
        .iter()
        .map(|area| {
            Snapshot {
                areas: vec![area.clone()],
                ..snapshot.clone()
            }
            .map_figures()
        })
        .collect();
    let header = &snapshot.header;
    let sum = |f: fn(&MapFigures) -> u64| per_area.iter().map(f).sum::<u64>();
    let max = |f: fn(&MapFigures) -> u64| per_area.iter().map(f).max().unwrap_or(0);
    assert_eq!(Some(sum(|f| f.blocks_total) * 16), header.gc_total());
    assert_eq!(Some(sum(|f| f.used_blocks) * 16), header.gc_used());
    assert_eq!(Some(sum(|f| f.free_blocks) * 16), header.gc_free());
    assert_eq!(Some(sum(|f| f.one_blocks)), header.one_blocks());
    assert_eq!(Some(sum(|f| f.two_blocks)), header.two_blocks());
    assert_eq!(Some(max(|f| f.max_block)), header.max_block());
    assert_eq!(Some(max(|f| f.max_free)), header.max_free());
    // Every area contributes: the split is real, not one area and two empty ones.
    assert!(per_area
        .iter()
        .all(|f| f.used_blocks > 0 && f.free_blocks > 0));
    assert_eq!(header.max_new_split(), Some(134_217_728));
}

#[test]
fn level_zero_dump_uses_the_header() {
    let snapshot = read(LEVEL0);
    assert!(!snapshot.has_map());
    assert_eq!(snapshot.map, MapState::Absent);
    // A `mem:` line says nothing about the block size, and 16 and 32 both fit the header.
    assert_eq!(snapshot.block_bytes, None);
    assert_eq!(snapshot.block_bytes_source, BlockBytesSource::Unknown);
    let stats = snapshot.stats();
    assert_eq!(
        (stats.one_blocks, stats.two_blocks, stats.max_block_blocks),
        (Some(13), Some(4), Some(9))
    );
    assert_eq!(stats.max_free_blocks, Some(5959));
    assert_eq!(stats.gc_total, Some(192_000));
    // Figures that need the block size are unknown, and a warning says so.
    assert_eq!(
        (
            stats.blocks_total,
            stats.max_free_bytes,
            stats.fragmentation
        ),
        (None, None, None)
    );
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.starts_with("block size unknown")),
        "{:?}",
        stats.warnings
    );
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("blocks_total") && w.contains("block size is unknown")),
        "{:?}",
        stats.warnings
    );
    assert!(stats.free_runs.is_empty() && stats.by_kind.is_empty());
    assert_eq!(snapshot.header.mem_peak(), Some(2474));
}

#[test]
fn block_size_comes_from_offsets() {
    let pico = read(PICO);
    assert_eq!(
        (pico.block_bytes, pico.block_bytes_source),
        (Some(16), BlockBytesSource::MapOffsets)
    );
    let unix = read(UNIX_PARROT);
    assert_eq!(unix.block_bytes, Some(32));
    // One row only, no offsets to compare: the GC total decides.
    let tiny = parse_dump(
        b"GC: total: 128, used: 64, free: 64\nGC memory layout; from 0:\n00000000: h===....\n",
    )
    .unwrap();
    assert_eq!(
        (tiny.block_bytes, tiny.block_bytes_source),
        (Some(16), BlockBytesSource::GcTotal)
    );
}

/// The Pico dump as it arrives over USB: CR LF everywhere.
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn assert_same_dump(noisy: &[u8], clean: &Snapshot) {
    let snapshot = parse_dump(noisy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snapshot.header, clean.header);
    assert_eq!(snapshot.areas, clean.areas);
    assert_eq!(snapshot.block_bytes, clean.block_bytes);
    assert_eq!(snapshot.warnings, vec![]);
}

#[test]
fn noisy_captures_read_like_clean_ones() {
    let clean_text = fixture(PICO);
    let clean = read(PICO);
    let dump = crlf(&clean_text);
    assert_same_dump(&dump, &clean);

    // Friendly REPL: echoed input, prompts, the `None` the REPL prints after the call.
    let mut friendly = b"MicroPython v1.19.1 on 2022-06-18; Raspberry Pi Pico with RP2040\r\nType \"help()\" for more information.\r\n>>> import micropython\r\n>>> micropython.mem_info(1)\r\n".to_vec();
    friendly.extend_from_slice(&dump);
    friendly.extend_from_slice(b"None\r\n>>> ");
    assert_same_dump(&friendly, &clean);

    // Raw REPL: `OK` glued to the first line, `\x04` framing and the `>` prompt after.
    let mut raw = b"raw REPL; CTRL-B to exit\r\n>OK".to_vec();
    raw.extend_from_slice(&dump);
    raw.extend_from_slice(b"\x04\x04>");
    assert_same_dump(&raw, &clean);

    // ANSI colour codes from a terminal program, around and inside lines.
    let text = String::from_utf8(clean_text.clone()).unwrap();
    let ansi: String = text
        .lines()
        .map(|line| format!("\x1b[32m{line}\x1b[0m\x1b[K\r\n"))
        .collect();
    assert_same_dump(ansi.as_bytes(), &clean);

    // Non-UTF-8 junk before and after (line noise at connect time).
    let mut junk = b"\xff\xfe\x80garbage \xc3\x28\r\n\x00\x01\x02\r\n".to_vec();
    junk.extend_from_slice(&dump);
    junk.extend_from_slice(b"\xf0\x9f\x92\r\n\xff\xff\xff");
    assert_same_dump(&junk, &clean);

    // LF-only input works the same as &str.
    let from_str = parse_dump_str(&text).unwrap();
    assert_eq!(from_str, clean);
}

#[test]
fn circuitpython_style_0x_addresses_are_read() {
    let text = String::from_utf8(fixture(PICO))
        .unwrap()
        .replace("from 200084a0:", "from 0x200084a0:");
    let snapshot = parse_dump_str(&text).unwrap();
    assert_eq!(snapshot.areas[0].address, Some(0x200084a0));
    assert_eq!(snapshot.warnings, vec![]);
}

#[test]
fn qstr_pool_line_is_tolerated_and_kept() {
    let mut text = fixture(PICO);
    text.extend_from_slice(
        b"qstr pool: n_pool=1, n_qstr=3, n_str_data_bytes=26, n_total_bytes=122\n",
    );
    let snapshot = parse_dump(&text).unwrap();
    assert_eq!(snapshot.warnings, vec![]);
    assert_eq!(
        snapshot.header.qstr,
        Some(Box::new(QstrPool {
            n_pool: 1,
            n_qstr: 3,
            n_str_data_bytes: 26,
            n_total_bytes: 122
        }))
    );
}

#[test]
fn stack_line_without_limit_and_gc_line_without_split() {
    let snapshot = parse_dump_str(
        "stack: 2140\nGC: total: 2048, used: 32, free: 2016\n No. of 1-blocks: 2, 2-blocks: 0, max blk sz: 1, max free sz: 126\n",
    )
    .unwrap();
    assert_eq!(snapshot.header.stack_used(), Some(2140));
    assert_eq!(snapshot.header.stack_limit(), None);
    assert_eq!(snapshot.header.max_new_split(), None);
    assert_eq!(snapshot.header.max_free(), Some(126));
}

#[test]
fn typed_errors_name_the_line_and_what_was_expected() {
    assert_eq!(parse_dump(b""), Err(DumpError::NotADump { lines: 0 }));
    assert_eq!(
        parse_dump(&fixture("unix-1.29pre-192k-parrot-error.txt")),
        Err(DumpError::NotADump { lines: 1 })
    );
    assert_eq!(
        parse_dump(b"hello\r\nworld\r\n"),
        Err(DumpError::NotADump { lines: 2 })
    );

    let error = parse_dump(b">>> x\nGC: total: lots, used: many, free: few\n").unwrap_err();
    assert!(
        matches!(&error, DumpError::Malformed { line: 2, expected, .. } if expected.contains("GC: total: N")),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .starts_with("line 2: expected `GC: total: N"));

    // A garbled line next to readable ones is a warning, not an error.
    let snapshot = parse_dump(b"GC: total: 1, used: 1, free: 0\n No. of 1-blocks: x\n").unwrap();
    assert!(
        matches!(
            &snapshot.warnings[..],
            [Warning::UnreadableFigures { line: 2, .. }, ..]
        ),
        "{:?}",
        snapshot.warnings
    );

    // A damaged row inside a map leaves the row out, with a warning; a map whose only row is
    // damaged leaves nothing to read.
    let snapshot =
        parse_dump(b"GC memory layout; from 1000:\n00000: h=.\n00400: h=xx..\n00800: h\n").unwrap();
    assert_eq!(snapshot.map, MapState::Partial);
    assert_eq!(
        snapshot.warnings[0],
        Warning::BadRow {
            line: 3,
            column: 10,
            found: "xx..".into()
        }
    );
    let error = parse_dump(b"GC memory layout; from 1000:\n00400: h=xx..\n").unwrap_err();
    assert_eq!(
        error,
        DumpError::BadBlock {
            line: 2,
            column: 10,
            found: "xx..".into()
        }
    );

    let error =
        parse_dump(b"GC memory layout; from 1000:\n(99999999 lines all free)\n").unwrap_err();
    assert_eq!(
        error,
        DumpError::TooLarge {
            line: 2,
            limit: MAX_BLOCKS
        }
    );
    // The GC total makes the blocks 16 bytes, so the second row is 256 Mi blocks away.
    let error = parse_dump(b"GC: total: 32\nGC memory layout; from 0:\n00000000: h\nfffffff0: h\n")
        .unwrap_err();
    assert!(
        matches!(error, DumpError::TooLarge { line: 4, .. }),
        "{error:?}"
    );
}

#[test]
fn noise_outside_the_map_that_looks_like_a_row_is_ignored() {
    let mut text = b"Add: hello\nbeef: cafe\n".to_vec();
    text.extend_from_slice(&fixture(PICO));
    text.extend_from_slice(b"dead: beef\n");
    assert_same_dump(&text, &read(PICO));
}

#[test]
fn a_second_dump_is_left_out_with_a_warning() {
    let mut text = fixture(PICO);
    let first_lines = text.iter().filter(|&&b| b == b'\n').count();
    text.extend_from_slice(&fixture(PICO));
    let snapshot = parse_dump(&text).unwrap();
    assert_eq!(snapshot.areas, read(PICO).areas);
    assert_eq!(
        snapshot.warnings,
        vec![Warning::ExtraDump {
            // The second dump's `stack:` line; the first dump's `None` is line 13.
            line: first_lines + 1,
            count: 2,
        }]
    );
}

#[test]
fn a_lost_row_becomes_free_blocks_and_warnings() {
    let text = String::from_utf8(fixture(UNIX_PARROT)).unwrap();
    let damaged: String = text
        .lines()
        .filter(|line| !line.starts_with("00001000:"))
        .map(|line| format!("{line}\n"))
        .collect();
    let snapshot = parse_dump_str(&damaged).unwrap();
    let original = read(UNIX_PARROT);
    assert_eq!(snapshot.blocks_total(), original.blocks_total());
    assert_eq!(
        snapshot.areas[0].blocks[64 * 2..64 * 3],
        [BlockKind::Free; 64]
    );
    assert!(matches!(
        snapshot.warnings[0],
        Warning::RowMisplaced {
            expected: 128,
            found: 192,
            ..
        }
    ));
    // The map is damaged: its counts are not used, the header's figures stand.
    assert_eq!(snapshot.map, MapState::Partial);
    assert_eq!(snapshot.stats().used, original.header.gc_used());
}

#[test]
fn header_and_map_disagreeing_is_a_warning() {
    let text = String::from_utf8(fixture(PICO))
        .unwrap()
        .replace("max free sz: 11650", "max free sz: 11651");
    let snapshot = parse_dump_str(&text).unwrap();
    assert_eq!(
        snapshot.warnings,
        vec![Warning::HeaderMismatch {
            figure: "max free sz",
            header: 11651,
            map: 11650
        }]
    );
}

/// A heap over 1 MiB printed by pre-1.20 firmware: 5-digit offsets wrap at 0x100000.
#[test]
fn five_digit_offsets_that_wrap_are_placed_by_row_count() {
    let blocks_total = 70_000; // 1.07 MiB of 16-byte blocks
    let mut blocks = vec![BlockKind::Free; blocks_total];
    for i in (0..blocks_total).step_by(97) {
        blocks[i] = BlockKind::Str;
        if i + 1 < blocks_total {
            blocks[i + 1] = BlockKind::Tail;
        }
    }
    let snapshot = Snapshot::from_areas(
        vec![Area {
            address: Some(0x3f800000),
            blocks,
        }],
        16,
    );
    let old_format: String = snapshot
        .to_dump_text()
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((offset, rest)) if offset.len() == 8 => {
                let offset = u64::from_str_radix(offset, 16).unwrap();
                format!("{:05x}: {rest}\n", offset & 0xfffff)
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(old_format.contains("\n00000: ") && old_format.contains("\n00400: "));
    let reread = parse_dump_str(&old_format).unwrap();
    assert_eq!(reread.areas, snapshot.areas);
    assert_eq!(reread.block_bytes, Some(16));
    assert_eq!(reread.warnings, vec![]);
}

#[test]
fn fixtures_round_trip_through_the_writer() {
    for name in [
        PICO,
        WASM_SPLIT,
        UNIX_PARROT,
        "unix-1.29pre-2M-default-fresh.txt",
    ] {
        let snapshot = read(name);
        let reread = parse_dump_str(&snapshot.to_dump_text()).unwrap();
        assert_eq!(reread, snapshot, "{name}");
    }
}

#[test]
fn diff_of_fixtures() {
    let before = read(UNIX_PARROT);
    let after = read("unix-1.29pre-192k-after-parrot-gc-collect.txt");
    let diff = diff(&before, &after);
    let figures_before = before.map_figures();
    let figures_after = after.map_figures();
    // Net change in bytes equals the change of used blocks.
    assert_eq!(
        diff.net_bytes,
        Some((figures_after.used_blocks as i64 - figures_before.used_blocks as i64) * 32)
    );
    assert_eq!(diff.net_bytes, Some(50_848 - 101_024));
    assert_eq!(diff.max_free_blocks_before, Some(2843));
    assert_eq!(diff.max_free_blocks_after, Some(2843));
    let json = serde_json::to_value(&diff).unwrap();
    for key in [
        "allocated_bytes",
        "freed_bytes",
        "net_bytes",
        "allocated_blocks",
        "freed_blocks",
        "new_allocation_count",
        "freed_allocation_count",
        "largest_new_allocations",
        "largest_freed_allocations",
        "max_free_blocks_before",
        "max_free_blocks_after",
        "areas",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let first = &json["largest_freed_allocations"][0];
    for key in ["block", "offset", "blocks", "bytes", "kind", "area"] {
        assert!(first.get(key).is_some(), "{key}");
    }
    // Changed blocks as runs: their blocks add up to the changed blocks.
    let counts = diff.change_counts();
    let runs = json["areas"][0]["runs"].as_str().unwrap();
    let changed = crate::heap::DiffArea::expand_run_text(runs)
        .unwrap()
        .chars()
        .filter(|&c| c != '-')
        .count() as u64;
    assert_eq!(changed, counts[2] + counts[3] + counts[4]);
    insta::assert_snapshot!(
        "diff_unix_parrot_then_collect",
        render::render_diff(&diff, false)
    );
}

#[test]
fn rendering_of_the_pico_dump() {
    let snapshot = read(PICO);
    let plain = render::render_map(
        &snapshot,
        &render::MapOptions {
            columns: 64,
            rainbow: false,
            show_free: true,
            color: false,
        },
    );
    insta::assert_snapshot!("map_pico_plain", plain);
    insta::assert_snapshot!("stats_text_pico", render::render_stats(&snapshot.stats()));
    let colored = render::render_map(&snapshot, &render::MapOptions::default());
    assert!(colored.contains("\x1b[32m") || colored.contains("\x1b[35m"));
    // Colour codes aside, the coloured map has the same letters in the same rows.
    let rainbow = render::render_map(
        &snapshot,
        &render::MapOptions {
            rainbow: true,
            ..render::MapOptions::default()
        },
    );
    assert_ne!(rainbow, colored);
    let narrow = render::render_map(
        &snapshot,
        &render::MapOptions {
            columns: 16,
            color: false,
            ..render::MapOptions::default()
        },
    );
    assert!(narrow.contains("\n00000100  "), "{narrow}");
}

/// A generated snapshot: areas of random allocations and free runs.
fn arb_snapshot() -> impl Strategy<Value = Snapshot> {
    // Every head kind a finished dump can hold (`m` appears only mid-collection).
    let heads: Vec<BlockKind> = BlockKind::ALL
        .into_iter()
        .filter(|k| k.is_head() && *k != BlockKind::Marked)
        .collect();
    let head = prop::sample::select(heads);
    // (free blocks before, head kind, allocation length)
    let piece = (0usize..300, head, 1usize..80);
    let area = (
        any::<u32>(),
        prop::collection::vec(piece, 1..40),
        0usize..400,
    )
        .prop_map(|(address, pieces, trailing_free)| {
            let mut blocks = Vec::new();
            for (free, kind, len) in pieces {
                blocks.extend(std::iter::repeat_n(BlockKind::Free, free));
                blocks.push(kind);
                blocks.extend(std::iter::repeat_n(BlockKind::Tail, len - 1));
            }
            blocks.extend(std::iter::repeat_n(BlockKind::Free, trailing_free));
            Area {
                address: Some(u64::from(address)),
                blocks,
            }
        });
    (prop::collection::vec(area, 1..4), prop::bool::ANY)
        .prop_map(|(areas, wide)| Snapshot::from_areas(areas, if wide { 32 } else { 16 }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_dump(&bytes);
    }

    #[test]
    fn reader_never_panics_on_dump_like_lines(
        lines in prop::collection::vec(
            prop::sample::select(vec![
                "GC: total: 1024, used: 32, free: 992",
                " No. of 1-blocks: 1, 2-blocks: 0, max blk sz: 2, max free sz: 60",
                "stack: 1 out of 2",
                "GC memory layout; from 0:",
                "00000000: h=..",
                "00400: ....hhh",
                "fffff: T",
                "       (3 lines all free)",
                "(0 lines all free)",
                "None",
                ">>> ",
                "\x04",
                "00000800: h=x",
            ]),
            0..30,
        )
    ) {
        let text = lines.join("\n");
        if let Ok(snapshot) = parse_dump_str(&text) {
            let _ = snapshot.stats();
            let _ = render::render_map(&snapshot, &render::MapOptions::default());
            let _ = diff(&snapshot, &snapshot);
        }
    }

    #[test]
    fn written_snapshots_read_back_equal(snapshot in arb_snapshot()) {
        let text = snapshot.to_dump_text();
        let reread = parse_dump_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&reread.areas, &snapshot.areas);
        prop_assert_eq!(reread.block_bytes, snapshot.block_bytes);
        prop_assert!(reread.warnings.is_empty(), "{:?}", reread.warnings);
        // And with CR LF line ends, as a board sends them.
        let crlf = parse_dump(&crlf(text.as_bytes())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&crlf.areas, &snapshot.areas);
    }

    #[test]
    fn diff_totals_match_used_block_change(a in arb_snapshot(), b in arb_snapshot()) {
        // Same block size on both sides, so identical allocations cancel exactly.
        let mut b = b;
        b.block_bytes = a.block_bytes;
        let d = diff(&a, &b);
        let bytes = i64::from(a.block_bytes.unwrap_or(16));
        let before = a.map_figures().used_blocks as i64 * bytes;
        let after = b.map_figures().used_blocks as i64 * bytes;
        // Identical allocations cancel; everything else is counted once on its side.
        prop_assert_eq!(d.net_bytes, Some(after - before));
        prop_assert_eq!(d.max_free_blocks_before, Some(a.map_figures().max_free));
        prop_assert_eq!(d.max_free_blocks_after, Some(b.map_figures().max_free));
        let blocks: usize = d.areas.iter().map(|area| area.blocks.len()).sum();
        prop_assert!(blocks >= a.blocks_total().max(b.blocks_total()));
    }
}
