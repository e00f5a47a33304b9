use super::*;
use crate::diagnose::{Code, Severity};

fn run() -> FileRun {
    FileRun {
        run_id: 2,
        script: None,
        run_allocated: 3206,
        lines: vec![
            LineDelta {
                file: "main.py".into(),
                line: 3,
                hits: 15,
                allocated_bytes: 3174,
                net_bytes: 3174,
                max_single_bytes: 320,
                estimated_bytes: 0,
            },
            LineDelta {
                file: "main.py".into(),
                line: 4,
                hits: 1,
                allocated_bytes: 32,
                net_bytes: -64,
                max_single_bytes: 32,
                estimated_bytes: 0,
            },
            LineDelta {
                file: "main.py".into(),
                line: 5,
                hits: 1,
                allocated_bytes: 0,
                net_bytes: 0,
                max_single_bytes: 0,
                estimated_bytes: 0,
            },
        ],
        diagnostics: vec![Diagnostic {
            file: "main.py".into(),
            line: 4,
            end_line: 4,
            severity: Severity::Error,
            code: Code::Exception,
            message: "ValueError: boom".into(),
            related: vec![],
        }],
        max_free_bytes_after_gc: Some(5397 * 32),
        gc_collections: Some(0),
        exact: false,
        peak: None,
        failure: Some(Failure {
            line: 4,
            exception: "ValueError: boom".into(),
        }),
    }
}

#[test]
fn hover_shows_deltas_share_and_change() {
    let mut prev = run();
    prev.lines[0].allocated_bytes = 1000;
    let md = hover_markdown(&run(), Some(&prev), 3, Some("x = f()")).unwrap();
    insta::assert_snapshot!(md, @r"
    **HeapLens** · line 3 · run 2

    | | |
    |---|---|
    | hits | 15 |
    | allocated | 3.1 KiB (3,174 bytes) |
    | per hit | 211 B on average |
    | net | +3.1 KiB (+3,174 bytes) |
    | largest allocation | 320 B |
    | share of run | 99.0% |
    | vs previous run | +2.1 KiB (was 1000 B) |

    _Hits count executions of the line's statement: condition evaluations for `if`/`while`, iterations for `for`._
    ");
}

#[test]
fn hover_and_label_of_an_estimated_line() {
    let mut r = run();
    r.lines[0].hits = 1500;
    r.lines[0].estimated_bytes = 2048;
    let md = hover_markdown(&r, None, 3, None).unwrap();
    assert!(md.contains("| hits | 1,500 |"), "{md}");
    assert!(
        md.contains("| allocated | ≈ 3.1 KiB (3,174 bytes), of which ≈ 2.0 KiB estimated |"),
        "{md}"
    );
    assert_eq!(line_label(&r.lines[0]), "≈+3.1 KiB ×1,500");
}

#[test]
fn missing_probes_are_explained_unless_a_syntax_error_does() {
    assert_eq!(not_instrumented_message(None, None), None);
    assert_eq!(
        not_instrumented_message(
            Some("it does not parse"),
            Some("SyntaxError: invalid syntax")
        ),
        None
    );
    assert!(not_instrumented_message(Some("too big to compile"), None)
        .is_some_and(|m| m.contains("(too big to compile)")));
}

#[test]
fn sampling_is_suggested_only_for_slow_unsampled_runs() {
    use std::time::Duration;
    let slow = SLOW_RUN + Duration::from_millis(100);
    assert!(sampling_hint(slow, true, false, false).is_some_and(|m| m.contains("5.1 s")));
    assert_eq!(
        sampling_hint(slow, true, true, false),
        None,
        "already sampled"
    );
    assert_eq!(
        sampling_hint(slow, false, false, false),
        None,
        "not instrumented"
    );
    assert_eq!(sampling_hint(slow, true, false, true), None, "stopped");
    assert_eq!(
        sampling_hint(Duration::from_secs(1), true, false, false),
        None
    );
}

#[test]
fn hover_on_the_failing_line_says_what_failed_and_repeats_no_diagnostic() {
    let md = hover_markdown(&run(), None, 4, None).unwrap();
    assert!(md.contains("| net | −64 B |"), "{md}");
    assert!(
        md.contains("| failed here | raised `ValueError: boom` |"),
        "{md}"
    );
    assert!(
        !md.contains("**Error**"),
        "diagnostics are the editor's: {md}"
    );
    assert_eq!(hover_markdown(&run(), None, 99, None), None);
}

#[test]
fn a_memory_error_line_with_no_figures_says_what_it_tried_to_allocate() {
    let mut r = run();
    r.lines.clear();
    r.failure = Some(Failure {
        line: 17,
        exception: "MemoryError: memory allocation failed, allocating 8192 bytes".into(),
    });
    let md = hover_markdown(&r, None, 17, Some("big = bytearray(8192)")).unwrap();
    assert!(
        md.contains(
            "| failed here | tried to allocate 8.0 KiB (8,192 bytes) and failed (`MemoryError`) |"
        ),
        "{md}"
    );
    assert!(!md.contains("| hits |"), "no made-up zero figures: {md}");
}

#[test]
fn a_definition_line_says_calls_are_counted_where_they_are_made() {
    let md = hover_markdown(&run(), None, 3, Some("    def handle(i):")).unwrap();
    assert!(md.contains("_A definition:"), "{md}");
    assert!(
        md.contains("each call is counted on the line that calls it"),
        "{md}"
    );
}

#[test]
fn labels_levels_and_summary() {
    let r = run();
    assert_eq!(line_label(&r.lines[0]), "+3.1 KiB ×15");
    let decos = decorations(&r, 1);
    let got: Vec<(u32, u8, &str)> = decos
        .iter()
        .map(|d| (d.line, d.level, d.text.as_str()))
        .collect();
    assert_eq!(got, [(2, 5, "+3.1 KiB ×15"), (3, 1, "+32 B")]);
    assert_eq!(
        lens_summary(&r),
        "last run: +3.1 KiB allocated · after gc: longest free run 168.7 KiB · error on line 4"
    );
    let with_peak = FileRun {
        peak: Some(crate::run::probes::Peak {
            used: 48_200,
            line: Some(3),
            file: Some("main.py".into()),
        }),
        ..run()
    };
    assert!(
        lens_summary(&with_peak)
            .starts_with("last run: +3.1 KiB allocated · peak heap use 47.1 KiB (line 3) · "),
        "{}",
        lens_summary(&with_peak)
    );
    assert_eq!(hinted_lines(&r, 100).count(), 1);
}
