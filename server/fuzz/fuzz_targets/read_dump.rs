//! Fuzz target: the dump reader must never panic (nor exhaust memory) on any bytes, and what
//! it reads must survive stats, rendering, writing and diffing.
#![no_main]

use heaplens::heap::render::{render_map, MapOptions};
use heaplens::heap::{diff, parse_dump};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = parse_dump(data) {
        let stats = snapshot.stats();
        let _ = snapshot.fit(stats.free + 1);
        let _ = render_map(&snapshot, &MapOptions::default());
        // A snapshot that was read must read back from its own dump text.
        let text = snapshot.to_dump_text();
        let reread = parse_dump(text.as_bytes()).expect("written dump reads back");
        assert_eq!(reread.areas, snapshot.areas);
        let _ = diff(&snapshot, &reread);
    }
});
