//! Memory stays proportional to the dump text: reading costs at most 25 bytes of memory per
//! byte of text, on top of the model's one byte per block (which `(N lines all free)` lines
//! make larger than the text). Checked by counting the model's own allocations with a
//! counting global allocator, not by timing or RSS; and `diff --json` of two big dumps grows
//! with the changes, not with the heap.
//!
//! Its own test binary: the allocator counts every allocation of the process, so nothing
//! else may run in it. One test function runs the cases one after another.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use heaplens::heap::write::{churned_snapshot, synthetic_snapshot};
use heaplens::heap::{diff, parse_dumps};

/// The system allocator, counting bytes held now and the most held since the last reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Count the moment both blocks may exist, as a copying realloc holds them.
            let now = CURRENT.fetch_add(new_size, Ordering::SeqCst) + new_size;
            PEAK.fetch_max(now, Ordering::SeqCst);
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes of memory per byte of dump text the reader may use, besides one byte per block.
const BYTES_PER_TEXT_BYTE: usize = 25;

/// Peak and retained bytes of reading `text` (the text itself not counted).
fn measure_read(text: &[u8]) -> (usize, usize, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let dumps = parse_dumps(text).expect("generated dump reads");
    let peak = PEAK.load(Ordering::SeqCst) - base;
    let retained = CURRENT.load(Ordering::SeqCst) - base;
    let blocks: usize = dumps.iter().map(|d| d.snapshot.blocks_total()).sum();
    drop(dumps);
    (peak, retained, blocks)
}

fn check(name: &str, text: &[u8]) {
    let (peak, retained, blocks) = measure_read(text);
    let bound = BYTES_PER_TEXT_BYTE * text.len() + blocks;
    eprintln!(
        "{name}: {} bytes of text, {blocks} blocks: peak {peak} bytes ({:.1}/byte of text), \
         retained {retained}",
        text.len(),
        peak as f64 / text.len() as f64
    );
    assert!(
        peak <= bound,
        "{name}: peak {peak} bytes > {BYTES_PER_TEXT_BYTE} × {} + {blocks}",
        text.len()
    );
}

/// Roughly `size` bytes of `piece(i)` repeated.
fn repeated(size: usize, piece: impl Fn(usize) -> String) -> Vec<u8> {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < size {
        text.push_str(&piece(i));
        i += 1;
    }
    text.into_bytes()
}

#[test]
fn reading_stays_within_25_bytes_per_byte_of_text() {
    const SIZE: usize = 4_500_000;
    // The shape that took 436 MB for 4.5 MB: many small areas.
    check(
        "many small areas",
        &repeated(SIZE, |i| {
            format!(
                "GC memory layout; from {:x}:\n00000000: h=..S==.\n",
                0x2000_0000 + i * 0x1000
            )
        }),
    );
    // One big heap of small objects, as mem_info(1) prints it.
    let heap = synthetic_snapshot(4_000_000, 16, 7);
    check("one big map", heap.to_dump_text().as_bytes());
    // A device log of many header-only dumps.
    check(
        "many header-only dumps",
        &repeated(SIZE, |i| {
            format!(
                "stack: 424 out of 15360\nGC: total: 102400, used: {}, free: {}\n No. of 1-blocks: 168, 2-blocks: 70, max blk sz: 35, max free sz: 5000\n",
                8768 + i % 64 * 64,
                93632 - i % 64 * 64
            )
        }),
    );
    // The shortest rows there are: one block each, in many areas of one dump.
    check(
        "short rows",
        &repeated(SIZE, |i| {
            if i % 16 == 0 {
                format!("GC memory layout; from {:x}:\n", 0x1000_0000 + i * 0x100)
            } else {
                format!("{:x}: h\n", (i % 16 - 1) * 0x400)
            }
        }),
    );
    // Maps with timestamp prefixes and CR LF, many dumps of a log.
    let small = synthetic_snapshot(2000, 16, 3).to_dump_text();
    let logged: String = small
        .lines()
        .map(|line| format!("[12:34:56.789] {line}\r\n"))
        .collect();
    check(
        "timestamped log of dumps",
        &repeated(SIZE, |_| logged.clone()),
    );
    check(
        "minimal dumps",
        &repeated(SIZE, |i| format!("GC: total: {}\n", i % 10)),
    );
    // Free-line compression: many blocks per byte of text.
    check(
        "free lines",
        &repeated(SIZE / 50, |i| {
            format!(
                "GC memory layout; from {:x}:\n00000000: h=\n       (100 lines all free)\n",
                0x3000_0000 + i * 0x10_0000
            )
        }),
    );

    // diff JSON: two big heaps that differ in 1% of their allocations give a document in
    // proportion to the changes, not one entry per block.
    let before = synthetic_snapshot(4_000_000, 16, 11);
    let after = churned_snapshot(&before, 1, 12);
    let result = diff(&before, &after);
    let changed_runs: usize = result
        .areas
        .iter()
        .map(|area| area.runs().filter(|run| run.change.is_change()).count())
        .sum();
    let json = serde_json::to_string(&result).expect("JSON");
    eprintln!(
        "diff: {} blocks, {changed_runs} runs of changes, {} bytes of JSON",
        before.blocks_total(),
        json.len()
    );
    assert!(
        json.len() <= 64 * changed_runs + 16_384,
        "{} bytes of JSON for {changed_runs} runs",
        json.len()
    );
    // Two unrelated random heaps (almost every block changed): the JSON is about one byte per
    // block, never more than the dumps' own text.
    let before = synthetic_snapshot(2_000_000, 16, 21);
    let after = synthetic_snapshot(2_000_000, 16, 22);
    let text = before.to_dump_text().len().max(after.to_dump_text().len());
    let json = serde_json::to_string(&diff(&before, &after)).expect("JSON");
    eprintln!(
        "diff of random heaps: {} bytes of JSON for {text} bytes of dump ({:.2} per byte)",
        json.len(),
        json.len() as f64 / text as f64
    );
    assert!(
        json.len() <= text,
        "{} bytes of JSON for {text}",
        json.len()
    );
}
