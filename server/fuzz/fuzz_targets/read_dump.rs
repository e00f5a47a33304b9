//! Fuzz target: the dump reader must never panic (nor exhaust memory) on any bytes; every
//! dump it reads must survive stats, rendering, writing and diffing; and no figure may be a
//! number the dump neither states nor proves by a complete map.
#![no_main]

use heaplens::heap::render::{render_map, MapOptions};
use heaplens::heap::{diff, parse_dump, parse_dumps, MapState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dumps) = parse_dumps(data) {
        for dump in &dumps {
            let snapshot = &dump.snapshot;
            let stats = snapshot.stats();
            let header = &snapshot.header;
            // The header wins: a stated figure is the figure.
            for (stated, figure) in [
                (header.gc_total(), stats.gc_total),
                (header.gc_used(), stats.used),
                (header.gc_free(), stats.free),
                (header.one_blocks(), stats.one_blocks),
                (header.two_blocks(), stats.two_blocks),
                (header.max_block(), stats.max_block_blocks),
                (header.max_free(), stats.max_free_blocks),
            ] {
                if stated.is_some() {
                    assert_eq!(stated, figure);
                }
            }
            // A figure the header lacks comes only from a complete map.
            if header.max_free().is_none() && snapshot.map != MapState::Complete {
                assert_eq!(stats.max_free_blocks, None);
            }
            if let Some(free) = stats.free {
                let _ = snapshot.fit(free + 1);
            }
            let _ = render_map(snapshot, &MapOptions::default());
            assert!(dump.first_line <= dump.last_line);
        }
    }
    if let Ok(snapshot) = parse_dump(data) {
        // A snapshot that was read must read back from its own dump text.
        let text = snapshot.to_dump_text();
        let reread = parse_dump(text.as_bytes()).expect("written dump reads back");
        assert_eq!(reread.areas, snapshot.areas);
        let _ = diff(&snapshot, &reread);
    }
});
