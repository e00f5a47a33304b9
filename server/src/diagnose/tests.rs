use super::*;

fn parrot_pico() -> HeapAtFailure {
    // The seed's Pico after the Parrot test: 5397-block longest run, 86496 bytes free.
    HeapAtFailure {
        block_bytes: 16,
        max_free_blocks: 5397,
        free_bytes: 86496,
    }
}

fn tb(text: &str) -> Traceback {
    Traceback::parse(text).expect("traceback parses")
}

#[test]
fn parrot_on_a_pico_is_heap_full_with_the_seed_numbers() {
    let (code, message) = memory_error_message(
        "memory allocation failed, allocating 98305 bytes",
        Some(parrot_pico()),
    );
    assert_eq!(code, Code::MemoryErrorHeapFull);
    assert_eq!(
        message,
        "allocation of 98,305 bytes exceeds the longest free run at failure, 84.3 KiB (86,352 \
         bytes); only 84.5 KiB (86,496 bytes) is free in all: the heap is full"
    );
}

#[test]
fn fragmentation_verdict_when_enough_bytes_are_free() {
    let heap = HeapAtFailure {
        block_bytes: 32,
        max_free_blocks: 33,
        free_bytes: 94496,
    };
    let (code, message) = memory_error_message(
        "memory allocation failed, allocating 8192 bytes",
        Some(heap),
    );
    assert_eq!(code, Code::MemoryErrorFragmented);
    assert_eq!(
        message,
        "allocation of 8,192 bytes exceeds the longest free run at failure, 1.0 KiB (1,056 \
         bytes), although 92.3 KiB (94,496 bytes) is free in all: the heap is fragmented"
    );
}

#[test]
fn a_heap_that_could_serve_it_says_memory_was_freed() {
    let heap = HeapAtFailure {
        block_bytes: 16,
        max_free_blocks: 10_000,
        free_bytes: 170_000,
    };
    assert_eq!(verdict_for(98305, heap), FailureVerdict::FreedSince);
    let (code, _) = memory_error_message(
        "memory allocation failed, allocating 98305 bytes",
        Some(heap),
    );
    assert_eq!(code, Code::MemoryError);
}

#[test]
fn exception_diagnostic_has_call_chain() {
    let t = tb("Traceback (most recent call last):\n  File \"<stdin>\", line 14, in <module>\n  File \"<stdin>\", line 11, in main\n  File \"<stdin>\", line 6, in parse\nValueError: invalid syntax for integer with base 10: 'three'\n");
    let facts = RunFacts {
        traceback: Some(&t),
        script_file: "<stdin>",
        ..Default::default()
    };
    let diags = diagnose(&facts, &Thresholds::default());
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert_eq!(
        (d.line, d.end_line, d.severity, d.code),
        (6, 6, Severity::Error, Code::Exception)
    );
    assert_eq!(
        d.message,
        "ValueError: invalid syntax for integer with base 10: 'three'"
    );
    let related: Vec<(u32, &str)> = d
        .related
        .iter()
        .map(|r| (r.line, r.message.as_str()))
        .collect();
    assert_eq!(
        related,
        [(11, "called from here, in main"), (14, "called from here")]
    );
}

#[test]
fn memory_error_names_largest_holders() {
    let t = tb("Traceback (most recent call last):\n  File \"<stdin>\", line 17, in <module>\nMemoryError: memory allocation failed, allocating 8192 bytes\n");
    let lines = [
        LineUsage {
            file: "<stdin>".into(),
            line: 10,
            hits: 90,
            allocated_bytes: 95_000,
            net_bytes: 95_000,
            max_single_bytes: 1056,
            estimated_bytes: 0,
        },
        LineUsage {
            file: "<stdin>".into(),
            line: 13,
            hits: 45,
            allocated_bytes: 0,
            net_bytes: -47_000,
            max_single_bytes: 0,
            estimated_bytes: 0,
        },
        LineUsage {
            file: "<stdin>".into(),
            line: 17,
            hits: 1,
            allocated_bytes: 0,
            net_bytes: 0,
            max_single_bytes: 0,
            estimated_bytes: 0,
        },
    ];
    let facts = RunFacts {
        traceback: Some(&t),
        script_file: "<stdin>",
        heap_at_failure: Some(HeapAtFailure {
            block_bytes: 32,
            max_free_blocks: 33,
            free_bytes: 94496,
        }),
        lines: &lines,
        ..Default::default()
    };
    let diags = diagnose(
        &facts,
        &Thresholds {
            line_bytes: 1 << 20,
            fragmentation_percent: 25.0,
        },
    );
    let err = diags
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap();
    assert_eq!((err.line, err.code), (17, Code::MemoryErrorFragmented));
    assert_eq!(
        err.related,
        [Related {
            file: "<stdin>".into(),
            line: 10,
            message: "net +92.8 KiB allocated here (90 hits): a likely holder of the heap".into()
        }]
    );
}

#[test]
fn heap_locked_is_explained() {
    let (code, message) = memory_error_message("memory allocation failed, heap is locked", None);
    assert_eq!(code, Code::MemoryErrorHeapLocked);
    assert!(message.contains("interrupt handler"), "{message}");
}

#[test]
fn warnings_for_big_growing_lines_and_fragmentation() {
    // parrot_caught's doubling line: 12, 24, … 98304 bytes over 14 hits.
    let sizes: Vec<u64> = (1..=13).map(|i| 6u64 << i).collect();
    let total: u64 = sizes.iter().sum();
    let lines = [
        LineUsage {
            file: "<stdin>".into(),
            line: 10,
            hits: 13,
            allocated_bytes: total,
            net_bytes: total as i64,
            max_single_bytes: 49152,
            estimated_bytes: 0,
        },
        LineUsage {
            file: "<stdin>".into(),
            line: 4,
            hits: 1,
            allocated_bytes: 64,
            net_bytes: 64,
            max_single_bytes: 64,
            estimated_bytes: 0,
        },
    ];
    let facts = RunFacts {
        script_file: "<stdin>",
        lines: &lines,
        max_free_blocks_before: Some(5000),
        max_free_blocks_after_gc: Some(1000),
        block_bytes: Some(32),
        ..Default::default()
    };
    let diags = diagnose(&facts, &Thresholds::default());
    let codes: Vec<(u32, Code)> = diags.iter().map(|d| (d.line, d.code)).collect();
    assert_eq!(
        codes,
        [
            (10, Code::LineAllocation),
            (10, Code::GrowingAllocation),
            (10, Code::Fragmentation)
        ]
    );
    assert!(
        diags[2]
            .message
            .contains("from 156.2 KiB before it to 31.2 KiB after gc (−80%)"),
        "{}",
        diags[2].message
    );
}

#[test]
fn constant_loop_allocation_is_not_growing() {
    let lines = [LineUsage {
        file: "<stdin>".into(),
        line: 8,
        hits: 500,
        allocated_bytes: 500 * 64,
        net_bytes: 0,
        max_single_bytes: 64,
        estimated_bytes: 0,
    }];
    let facts = RunFacts {
        script_file: "<stdin>",
        lines: &lines,
        ..Default::default()
    };
    let codes: Vec<Code> = diagnose(&facts, &Thresholds::default())
        .iter()
        .map(|d| d.code)
        .collect();
    assert_eq!(
        codes,
        [Code::LineAllocation],
        "32 KB in all is over the threshold, but it does not grow"
    );
}

#[test]
fn human_bytes_units() {
    assert_eq!(human_bytes(0), "0 B");
    assert_eq!(human_bytes(1023), "1023 B");
    assert_eq!(human_bytes(3174), "3.1 KiB");
    assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(98305), "98,305");
    assert_eq!(thousands(1234567), "1,234,567");
    assert_eq!(kib_and_bytes(512), "512 B");
    assert_eq!(kib_and_bytes(98305), "96.0 KiB (98,305 bytes)");
}

#[test]
fn memory_error_without_room_for_a_capture_is_heap_full() {
    let t = tb("Traceback (most recent call last):\n  File \"<stdin>\", line 7, in <module>\nMemoryError: memory allocation failed, allocating 64 bytes\n");
    let facts = RunFacts {
        traceback: Some(&t),
        script_file: "<stdin>",
        block_bytes: Some(32),
        heap_exhausted: true,
        ..Default::default()
    };
    let diags = diagnose(&facts, &Thresholds::default());
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(
        (diags[0].line, diags[0].code),
        (7, Code::MemoryErrorHeapFull)
    );
    assert!(
        diags[0]
            .message
            .starts_with("allocation of 64 bytes failed, and afterwards not even"),
        "{}",
        diags[0].message
    );
    assert!(
        !diags[0].message.contains("collector was disabled"),
        "never said unless known: {}",
        diags[0].message
    );
    let disabled = RunFacts {
        collector_disabled: Some(true),
        ..facts.clone()
    };
    assert!(diagnose(&disabled, &Thresholds::default())[0]
        .message
        .contains("The collector was disabled"));

    // A failure-time snapshot, when there is one, still decides.
    let facts = RunFacts {
        heap_at_failure: Some(HeapAtFailure {
            block_bytes: 32,
            max_free_blocks: 1,
            free_bytes: 32,
        }),
        ..facts
    };
    let diags = diagnose(&facts, &Thresholds::default());
    assert!(
        diags[0].message.contains("only 32 B is free in all"),
        "{diags:?}"
    );
}

#[test]
fn holders_are_the_lines_still_holding_memory_after_gc_never_under_one_percent() {
    let t = tb("Traceback (most recent call last):\n  File \"<stdin>\", line 10, in <module>\nMemoryError: memory allocation failed, allocating 98305 bytes\n");
    let retained = [
        Retained {
            file: "<stdin>".into(),
            line: 9,
            bytes: 49_184,
            allocations: 0,
        },
        Retained {
            file: "<stdin>".into(),
            line: 3,
            bytes: 96,
            allocations: 0,
        },
    ];
    let lines = [LineUsage {
        file: "<stdin>".into(),
        line: 7,
        hits: 13,
        allocated_bytes: 96,
        net_bytes: 96,
        max_single_bytes: 32,
        estimated_bytes: 0,
    }];
    let facts = RunFacts {
        traceback: Some(&t),
        script_file: "<stdin>",
        lines: &lines,
        retained: &retained,
        heap_bytes: Some(192_000),
        ..Default::default()
    };
    let diags = diagnose(&facts, &Thresholds::default());
    let related: Vec<u32> = diags[0].related.iter().map(|r| r.line).collect();
    assert!(related.contains(&9), "{related:?}");
    assert!(
        !related.contains(&3) && !related.contains(&7),
        "{related:?}"
    );
    // Without tracing, net bytes under 1 % of the heap name no holder either.
    let facts = RunFacts {
        retained: &[],
        ..facts
    };
    let diags = diagnose(&facts, &Thresholds::default());
    assert!(
        !diags[0].related.iter().any(|r| r.line == 7),
        "{:?}",
        diags[0].related
    );
}

fn leak_facts<'a>(lines: &'a [LineUsage], retained: &'a [Retained]) -> RunFacts<'a> {
    RunFacts {
        script_file: "<stdin>",
        lines,
        retained,
        heap_bytes: Some(192_000),
        ..Default::default()
    }
}

#[test]
fn results_of_many_executions_held_after_gc_are_a_leak() {
    // leak.py: 500 calls each keep a 64-byte string in a module-level list; tracing saw 58
    // of the first 64 still alive after the final collection.
    let lines = [LineUsage {
        file: "<stdin>".into(),
        line: 8,
        hits: 500,
        allocated_bytes: 32_733,
        net_bytes: 32_733,
        max_single_bytes: 64,
        estimated_bytes: 28_000,
    }];
    let retained = [Retained {
        file: "<stdin>".into(),
        line: 8,
        bytes: 3712,
        allocations: 0,
    }];
    let diags = diagnose(
        &leak_facts(&lines, &retained),
        &Thresholds {
            line_bytes: 1 << 20,
            fragmentation_percent: 25.0,
        },
    );
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(
        (diags[0].line, diags[0].code, diags[0].severity),
        (8, Code::Leak, Severity::Warning)
    );
    assert_eq!(
        diags[0].message,
        "leak: at least 3.6 KiB (3,712 bytes) allocated on this line is still held after \
         gc.collect(), from several of its 500 hits: something keeps each result (a list, a \
         dict, a global), so the heap grows every time the line runs (+65 B per execution)"
    );
    // With a timeline, the rate per second too (32,733 bytes over 2 s).
    let facts = RunFacts {
        run_ms: Some(2000),
        heap_floor_growth: Some(20_000),
        ..leak_facts(&lines, &retained)
    };
    let diags = diagnose(&facts, &Thresholds::default());
    let leak = diags.iter().find(|d| d.code == Code::Leak).expect("a leak");
    assert!(
        leak.message
            .ends_with("(+65 B per execution, +16.0 KiB per second)"),
        "{}",
        leak.message
    );
}

#[test]
fn a_line_whose_oldest_results_are_gone_or_a_flat_heap_floor_is_no_leak() {
    // An endless loop stopped by a timeout: line 8 appends to a list kept at 20 items (its
    // first traced results were popped long ago: nothing of it is retained), line 11 to a
    // list never trimmed (every traced result is still held).
    let usage = |line: u32| LineUsage {
        file: "<stdin>".into(),
        line,
        hits: 277,
        allocated_bytes: 26_000,
        net_bytes: 26_000,
        max_single_bytes: 64,
        estimated_bytes: 20_000,
    };
    let lines = [usage(8), usage(11)];
    let retained = [Retained {
        file: "<stdin>".into(),
        line: 11,
        bytes: 2048,
        allocations: 0,
    }];
    let facts = RunFacts {
        run_ms: Some(3000),
        heap_floor_growth: Some(20_000),
        ..leak_facts(&lines, &retained)
    };
    let leaks: Vec<u32> = diagnose(&facts, &Thresholds::default())
        .into_iter()
        .filter(|d| d.code == Code::Leak)
        .map(|d| d.line)
        .collect();
    assert_eq!(leaks, [11]);
    // The same retained results, but the heap's floor did not rise over a long run: what
    // the line kept stopped growing (a cache that filled up early).
    let flat = RunFacts {
        heap_floor_growth: Some(0),
        ..facts
    };
    assert!(diagnose(&flat, &Thresholds::default())
        .iter()
        .all(|d| d.code != Code::Leak));
}

#[test]
fn one_big_object_a_line_keeps_is_not_a_leak() {
    // The Parrot's doubling line keeps only its last string.
    let lines = [LineUsage {
        file: "<stdin>".into(),
        line: 10,
        hits: 14,
        allocated_bytes: 99_328,
        net_bytes: 99_328,
        max_single_bytes: 49_216,
        estimated_bytes: 0,
    }];
    let retained = [Retained {
        file: "<stdin>".into(),
        line: 10,
        bytes: 49_184,
        allocations: 0,
    }];
    let facts = leak_facts(&lines, &retained);
    assert!(diagnose(&facts, &Thresholds::default())
        .iter()
        .all(|d| d.code != Code::Leak));
    // Nor a line that ran once, nor what is under 1 % of the heap.
    let once = [LineUsage {
        hits: 1,
        ..lines[0].clone()
    }];
    assert!(diagnose(
        &leak_facts(
            &once,
            &[Retained {
                file: "<stdin>".into(),
                line: 10,
                bytes: 99_328,
                allocations: 0,
            }]
        ),
        &Thresholds::default()
    )
    .iter()
    .all(|d| d.code != Code::Leak));
    let small = [LineUsage {
        file: "<stdin>".into(),
        line: 3,
        hits: 50,
        allocated_bytes: 1600,
        net_bytes: 1600,
        max_single_bytes: 32,
        estimated_bytes: 0,
    }];
    assert!(diagnose(
        &leak_facts(
            &small,
            &[Retained {
                file: "<stdin>".into(),
                line: 3,
                bytes: 1600,
                allocations: 0,
            }]
        ),
        &Thresholds::default()
    )
    .iter()
    .all(|d| d.code != Code::Leak));
}
