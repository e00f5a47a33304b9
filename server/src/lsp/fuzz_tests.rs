//! Fuzz targets for the LSP framing ([`super::framing`]) and the server's message handling
//! (the whole service behind [`super::serve_framed`]), on stable Rust with proptest.
//!
//! Each target runs a few cases in `cargo test`; `HEAPLENS_FUZZ_SECONDS=600` keeps generating
//! new cases for that long (see `server/fuzz/README.md`, "LSP framing and message handling").
//! proptest shrinks a failure to a small input and prints it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::framing::{self, check_message, frame, Frame, FrameReader};

/// Runs `test` on cases of `strategy`: `cases` of them, or, with `HEAPLENS_FUZZ_SECONDS` set,
/// as many as fit in that time (each round with a new seed).
fn fuzz<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let budget = std::env::var("HEAPLENS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let start = Instant::now();
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(failure) = runner.run(&strategy, &test) {
            panic!("{name}: {failure}");
        }
        total += u64::from(cases);
        match budget {
            Some(budget) if start.elapsed() < budget => continue,
            _ => break,
        }
    }
    if budget.is_some() {
        eprintln!(
            "{name}: {total} cases in {:.0} s, no failure",
            start.elapsed().as_secs_f64()
        );
    }
}

/// Real messages, as clients send them.
fn good_bodies() -> Vec<Vec<u8>> {
    [
        json!({"jsonrpc":"2.0","id":1,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":0,"character":0}}}),
        json!({"jsonrpc":"2.0","method":"initialized","params":{}}),
        json!({"jsonrpc":"2.0","id":"s","result":null}),
        json!({"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///w/é.py","languageId":"python","version":1,"text":"x = [0] * 10\n\u{0}\r\n"}}}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect()
}

/// Bytes that look like parts of frames, to reach the reader's corners more often than
/// uniform bytes would.
fn frame_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            Just(b"Content-Length: ".to_vec()),
            Just(b"content-length:".to_vec()),
            Just(b"Content-Type: application/vscode-jsonrpc\r\n".to_vec()),
            (0u64..60).prop_map(|n| n.to_string().into_bytes()),
            Just(b"99999999999".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}".to_vec()),
            Just(vec![0xff, 0xfe, 0x00]),
        ],
        0..30,
    )
    .prop_map(|parts| parts.concat())
}

/// One item of a stream: a good message, or a frame whose body is garbage.
#[derive(Debug, Clone)]
enum Item {
    Good(usize),
    GarbageBody(Vec<u8>),
}

fn split_points() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..200, 0..20)
}

/// Feeds `input` in chunks of the given sizes; every frame out.
fn read_all(input: &[u8], chunks: &[usize]) -> Result<Vec<Frame>, TestCaseError> {
    let mut reader = FrameReader::default();
    let mut out = Vec::new();
    let mut rest = input;
    let mut sizes = chunks.iter().copied().cycle();
    while !rest.is_empty() {
        let n = if chunks.is_empty() {
            rest.len()
        } else {
            sizes.next().unwrap_or(1).min(rest.len())
        };
        reader.push(&rest[..n]);
        rest = &rest[n..];
        out.extend(std::iter::from_fn(|| reader.next_frame()));
        prop_assert!(
            reader.buffered() <= framing::MAX_HEADER_BYTES + input.len().min(1 << 20),
            "memory bounded"
        );
    }
    Ok(out)
}

#[test]
fn fuzz_lsp_framing_arbitrary_bytes_never_panic_and_a_later_message_gets_through() {
    fuzz(
        "framing/arbitrary",
        256,
        (frame_like_bytes(), split_points()),
        |(garbage, chunks)| {
            // Whatever came before, a message after a blank line and a frame boundary the
            // garbage cannot claim (a body it announced is complete) is read.
            let frames = read_all(&garbage, &chunks)?;
            for frame in &frames {
                if let Frame::Body(body) = frame {
                    let _ = check_message(body);
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_lsp_framing_good_and_garbage_frames_in_any_split() {
    let good = good_bodies();
    let count = good.len();
    fuzz(
        "framing/items",
        256,
        (
            proptest::collection::vec(
                prop_oneof![
                    (0..count).prop_map(Item::Good),
                    proptest::collection::vec(any::<u8>(), 0..60).prop_map(Item::GarbageBody),
                    frame_like_bytes().prop_map(Item::GarbageBody),
                ],
                0..12,
            ),
            split_points(),
        ),
        |(items, chunks)| {
            let input: Vec<u8> = items
                .iter()
                .flat_map(|item| match item {
                    Item::Good(i) => frame(&good[*i]),
                    Item::GarbageBody(body) => frame(body),
                })
                .collect();
            let frames = read_all(&input, &chunks)?;
            prop_assert_eq!(frames.len(), items.len(), "one frame per item");
            for (item, frame) in items.iter().zip(&frames) {
                let Frame::Body(body) = frame else {
                    return Err(TestCaseError::fail(format!("{frame:?} for {item:?}")));
                };
                match item {
                    Item::Good(i) => {
                        prop_assert_eq!(body, &good[*i]);
                        prop_assert_eq!(check_message(body), Ok(()));
                    }
                    Item::GarbageBody(garbage) => {
                        prop_assert_eq!(body, garbage);
                        if let Err(reply) = check_message(body) {
                            let code = reply["error"]["code"].as_i64();
                            prop_assert!(
                                code == Some(framing::PARSE_ERROR)
                                    || code == Some(framing::INVALID_REQUEST)
                            );
                        } else {
                            // Accepted garbage must be something tower-lsp decodes.
                            let value: Value = serde_json::from_slice(body).expect("JSON");
                            prop_assert!(value.is_object());
                        }
                    }
                }
            }
            Ok(())
        },
    );
}

/// Every method the server handles (and a few it does not).
const METHODS: &[&str] = &[
    "initialize",
    "initialized",
    "shutdown",
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didSave",
    "textDocument/didClose",
    "textDocument/hover",
    "textDocument/inlayHint",
    "textDocument/codeLens",
    "textDocument/documentSymbol",
    "workspace/executeCommand",
    "workspace/didChangeConfiguration",
    "workspace/didChangeWorkspaceFolders",
    "heaplens/listSnapshots",
    "heaplens/getSnapshot",
    "heaplens/diff",
    "heaplens/replInput",
    "window/workDoneProgress/cancel",
    "$/cancelRequest",
    "$/setTrace",
    "no/suchMethod",
];

/// Commands sent through `workspace/executeCommand` (not those that read files or ports, so a
/// case does not depend on this machine: those have their own tests).
const COMMANDS: &[&str] = &[
    "heaplens.stop",
    "heaplens.clearSnapshots",
    "heaplens.compareSnapshots",
    "heaplens.closeRepl",
    "heaplens.selectBoard",
    "heaplens.runFile",
    "heaplens.captureHeap",
    "heaplens.nonsense",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(u64::MAX)),
        ".{0,12}".prop_map(Value::from),
        Just(json!("file:///w/a.py")),
        Just(json!("file:///w/dump.mpheap")),
        Just(json!("untitled:Untitled-1")),
        Just(json!("mpheap")),
        Just(json!("python")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("uri".to_string()),
                    Just("textDocument".to_string()),
                    Just("text".to_string()),
                    Just("version".to_string()),
                    Just("position".to_string()),
                    Just("line".to_string()),
                    Just("character".to_string()),
                    Just("heaplens".to_string()),
                    Just("id".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Plausible params for `method`, some leaves replaced by arbitrary values.
fn params_for(method: &str, command: &str, text: &str, line: u32) -> Value {
    let doc = json!({"uri": "file:///w/a.py"});
    match method {
        "textDocument/didOpen" => {
            json!({"textDocument": {"uri": "file:///w/dump.mpheap", "languageId": "mpheap", "version": line, "text": text}})
        }
        "textDocument/didChange" => {
            json!({"textDocument": {"uri": "file:///w/dump.mpheap", "version": line}, "contentChanges": [{"text": text}]})
        }
        "textDocument/didSave" | "textDocument/didClose" => json!({"textDocument": doc}),
        "textDocument/hover" => {
            json!({"textDocument": {"uri": "file:///w/dump.mpheap"}, "position": {"line": line, "character": line}})
        }
        "textDocument/inlayHint" => {
            json!({"textDocument": doc, "range": {"start": {"line": 0, "character": 0}, "end": {"line": line, "character": 0}}})
        }
        "textDocument/codeLens" | "textDocument/documentSymbol" => {
            json!({"textDocument": {"uri": "file:///w/dump.mpheap"}})
        }
        "workspace/executeCommand" => json!({"command": command, "arguments": [text, line]}),
        "workspace/didChangeConfiguration" => {
            json!({"settings": {"heaplens": {"runTimeoutSeconds": line, "board": "/dev/null-board"}}})
        }
        "heaplens/getSnapshot" => json!({"id": text}),
        "heaplens/diff" => json!({"before": text, "after": "1"}),
        "heaplens/replInput" => json!({"text": text}),
        _ => json!({}),
    }
}

/// One message of a session.
#[derive(Debug, Clone)]
enum Message {
    /// A request with a fresh id: it must get exactly one reply.
    Request {
        method: usize,
        params: Value,
    },
    Notification {
        method: usize,
        params: Value,
    },
    /// A response to a request the server never sent.
    StrayResponse(Value),
    /// Raw bytes on the wire (whole frames or not).
    Raw(Vec<u8>),
}

fn message() -> impl Strategy<Value = Message> {
    let dump_text = prop_oneof![
        Just(include_str!("../../../tests/fixtures/meminfo/pico-seed-192064.txt").to_string()),
        Just("GC: total: banana\n".to_string()),
        ".{0,40}",
    ];
    let plausible = (0..METHODS.len(), 0..COMMANDS.len(), dump_text, 0u32..300)
        .prop_map(|(m, c, text, line)| (m, params_for(METHODS[m], COMMANDS[c], &text, line)));
    let arbitrary = (0..METHODS.len(), json_value());
    let call = prop_oneof![3 => plausible, 1 => arbitrary];
    prop_oneof![
        // Requests to any method: one to a notification method (`$/setTrace` with an id, a
        // finding of this target) gets its -32600 from the framing layer, so every request is
        // answered.
        4 => call
            .clone()
            .prop_map(|(method, params)| Message::Request { method, params }),
        2 => call.prop_map(|(method, params)| Message::Notification { method, params }),
        1 => json_value().prop_map(Message::StrayResponse),
        // Bytes without a `Content-Length` (an unframed body would swallow the messages after
        // it, as it would in any LSP server): the server must skip them to the next frame.
        2 => frame_like_bytes()
            .prop_filter("no Content-Length", |b| !b
                .to_ascii_lowercase()
                .windows(15)
                .any(|w| w == b"content-length:"))
            .prop_map(Message::Raw),
        1 => json_value().prop_map(|v| Message::Raw(frame(v.to_string().as_bytes()))),
    ]
}

/// Runs one session against the whole server in-process: `initialize`, the messages, a last
/// request. Every request gets exactly one reply, the last one too (the server still serves).
fn session(messages: Vec<Message>) -> Result<(), TestCaseError> {
    // A watchdog: a session that hangs is a failure with its input, not a test that never
    // ends. (A case takes well under a second.)
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let shown = format!("{messages:?}");
    std::thread::spawn(move || {
        let _ = done_tx.send(session_inner(messages));
    });
    match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(result) => result,
        Err(_) => {
            eprintln!("HUNG: {shown}");
            Err(TestCaseError::fail("the session hung"))
        }
    }
}

fn session_inner(messages: Vec<Message>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async move {
        let (mut client_out, server_in) = tokio::io::duplex(1 << 16);
        let (server_out, mut client_in) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(super::serve_framed(server_in, server_out, Default::default()));
        // One writer for the client's messages and its answers to the server's requests: the
        // server may wait for an answer before it reads more.
        let (answers_tx, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let send = answers_tx.clone();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = outgoing.recv().await {
                if client_out.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let (replies_tx, mut replies_rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        // The client's reader: answers the server's own requests, passes the replies on.
        let reader = tokio::spawn(async move {
            let mut frames = FrameReader::default();
            let mut chunk = vec![0u8; 1 << 16];
            while let Ok(n) = client_in.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                frames.push(&chunk[..n]);
                while let Some(frame) = frames.next_frame() {
                    let Frame::Body(body) = frame else {
                        panic!("the server wrote a bad frame: {frame:?}");
                    };
                    let value: Value = serde_json::from_slice(&body).expect("the server writes JSON");
                    if value.get("method").is_some() {
                        if let Some(id) = value.get("id") {
                            let answer = json!({"jsonrpc": "2.0", "id": id, "result": null});
                            let _ = answers_tx.send(framing::frame(answer.to_string().as_bytes()));
                        }
                    } else {
                        let _ = replies_tx.send(value);
                    }
                }
            }
        });
        let mut wire: Vec<Vec<u8>> = Vec::new();
        let request = |id: &str, method: &str, params: &Value| {
            frame(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string().as_bytes())
        };
        wire.push(request(
            "init",
            "initialize",
            &json!({"capabilities": {}, "initializationOptions": {"heaplens": {"board": "/dev/null-board"}}}),
        ));
        wire.push(frame(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#));
        let mut expected: HashSet<String> = HashSet::from(["init".to_string()]);
        for (n, message) in messages.iter().enumerate() {
            wire.push(match message {
                Message::Request { method, params } => {
                    let id = format!("fuzz-{n}");
                    expected.insert(id.clone());
                    request(&id, METHODS[*method], params)
                }
                Message::Notification { method, params } => frame(
                    json!({"jsonrpc": "2.0", "method": METHODS[*method], "params": params})
                        .to_string()
                        .as_bytes(),
                ),
                Message::StrayResponse(result) => frame(
                    json!({"jsonrpc": "2.0", "id": 999_999, "result": result}).to_string().as_bytes(),
                ),
                // Raw bytes end with a frame boundary the next message can be found after.
                Message::Raw(bytes) => [bytes.as_slice(), b"\r\n\r\n"].concat(),
            });
        }
        wire.push(request("last", "heaplens/listSnapshots", &json!({})));
        expected.insert("last".into());
        for bytes in wire {
            let _ = send.send(bytes);
        }
        let mut seen: HashSet<String> = HashSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !expected.is_subset(&seen) {
            tokio::select! {
                reply = replies_rx.recv() => {
                    let reply = reply.ok_or("the server stopped writing")?;
                    if let Some(id) = reply["id"].as_str().filter(|id| expected.contains(*id)) {
                        if !seen.insert(id.to_string()) {
                            return Err(format!("two replies to {id}"));
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    let missing: Vec<_> = expected.difference(&seen).collect();
                    return Err(format!("no reply to {missing:?}"));
                }
            }
        }
        // Close the client's side: the writer ends once the reader (holding the other sender)
        // is stopped.
        drop(send);
        reader.abort();
        let _ = reader.await;
        tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .map_err(|_| "the server stopped reading its input".to_string())?
            .map_err(|e| format!("the writer failed: {e}"))?;
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .map_err(|_| "the server did not end when its input closed".to_string())?
            .map_err(|e| format!("the server task failed: {e}"))?;
        Ok::<(), String>(())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result.map_err(TestCaseError::fail)
}

#[test]
fn an_empty_session_is_answered() {
    session(Vec::new()).expect("an empty session");
}

#[test]
fn fuzz_lsp_message_handling_every_request_is_answered_and_the_server_keeps_serving() {
    fuzz(
        "messages",
        12,
        proptest::collection::vec(message(), 0..25),
        session,
    );
}
