//! Heap engine benchmarks: read, stats and diff of an 8 MiB heap (524,288 blocks of 16 bytes,
//! like an ESP32 with PSRAM). Targets: read ≥ 200 MB/s of dump text, diff < 2 ms.
//! Run: `cargo bench --bench heap`; results go into BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use heaplens::heap::write::{churned_snapshot, synthetic_snapshot};
use heaplens::heap::{diff, parse_dump};

const BLOCKS: usize = 524_288;

fn benches(c: &mut Criterion) {
    let before = synthetic_snapshot(BLOCKS, 16, 1);
    let after = churned_snapshot(&before, 5, 2);
    let text = before.to_dump_text();
    // The generated text must read back to the same heap, or the numbers mean nothing.
    let reread = parse_dump(text.as_bytes()).expect("generated dump reads");
    assert_eq!(reread.areas, before.areas);
    eprintln!(
        "dump: {} bytes of text, {} blocks, {} allocations",
        text.len(),
        before.blocks_total(),
        before.allocations().count()
    );

    let mut group = c.benchmark_group("heap_8MiB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("read", |b| {
        b.iter(|| parse_dump(black_box(text.as_bytes())))
    });
    group.throughput(Throughput::Elements(BLOCKS as u64));
    group.bench_function("stats", |b| b.iter(|| black_box(&reread).stats()));
    group.bench_function("diff", |b| {
        b.iter(|| diff(black_box(&before), black_box(&after)))
    });
    group.finish();
}

criterion_group!(heap, benches);
criterion_main!(heap);
