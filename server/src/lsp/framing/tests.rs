use super::*;

fn frames(input: &[u8]) -> Vec<Frame> {
    let mut reader = FrameReader::default();
    reader.push(input);
    std::iter::from_fn(|| reader.next_frame()).collect()
}

fn body(text: &str) -> Frame {
    Frame::Body(text.as_bytes().to_vec())
}

#[test]
fn good_frames_pass_whole_and_in_order_however_they_are_split() {
    let input = [frame(b"{\"a\":1}"), b"\r\n".to_vec(), frame(b"{}")].concat();
    assert_eq!(frames(&input), vec![body("{\"a\":1}"), body("{}")]);
    for split in 0..input.len() {
        let mut reader = FrameReader::default();
        let mut out = Vec::new();
        for part in [&input[..split], &input[split..]] {
            reader.push(part);
            out.extend(std::iter::from_fn(|| reader.next_frame()));
        }
        assert_eq!(out, vec![body("{\"a\":1}"), body("{}")], "split at {split}");
    }
}

#[test]
fn headers_are_read_as_clients_write_them() {
    let input = b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}Content-Length:2\n\n[]";
    assert_eq!(frames(input), vec![body("{}"), body("[]")]);
}

#[test]
fn a_bad_header_is_an_error_and_the_next_message_is_read() {
    let good = frame(b"{}");
    for (bad, error) in [
        (
            b"Content-Length: abc\r\n\r\n{}".to_vec(),
            FrameError::BadContentLength("abc".into()),
        ),
        (
            b"Content-Length: -1\r\n\r\n".to_vec(),
            FrameError::BadContentLength("-1".into()),
        ),
        (
            b"Content-Length: 99999999999999999999999\r\n\r\n".to_vec(),
            FrameError::BadContentLength("99999999999999999999999".into()),
        ),
        (
            b"Content-Type: x\r\n\r\n{\"jsonrpc\":\"2.0\"}".to_vec(),
            FrameError::MissingContentLength,
        ),
        (
            b"garbage\r\n\r\n".to_vec(),
            FrameError::BadHeader("`garbage` is not a `Name: value` line".into()),
        ),
        (
            b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n".to_vec(),
            FrameError::BadHeader("two different Content-Lengths".into()),
        ),
        (
            b"Conte\xfft-Length: 2\r\n\r\n".to_vec(),
            FrameError::BadHeader("the header is not ASCII".into()),
        ),
    ] {
        let input = [bad.clone(), good.clone()].concat();
        assert_eq!(
            frames(&input),
            vec![Frame::Error(error), body("{}")],
            "{}",
            String::from_utf8_lossy(&bad)
        );
    }
}

#[test]
fn an_endless_header_is_an_error_and_takes_bounded_memory() {
    let mut reader = FrameReader::default();
    let mut errors = 0;
    for _ in 0..100 {
        reader.push(&[b'x'; 4096]);
        while let Some(frame) = reader.next_frame() {
            assert!(matches!(frame, Frame::Error(FrameError::BadHeader(_))));
            errors += 1;
        }
        assert!(reader.buffered() <= MAX_HEADER_BYTES + 4096);
    }
    assert_eq!(errors, 1, "one error, then quiet resynchronisation");
    reader.push(&frame(b"{}"));
    assert_eq!(reader.next_frame(), Some(body("{}")));
}

#[test]
fn an_oversized_body_is_skipped_without_being_held() {
    let mut reader = FrameReader::default();
    let length = MAX_BODY_BYTES as u64 + 10;
    reader.push(format!("Content-Length: {length}\r\n\r\n").as_bytes());
    assert_eq!(
        reader.next_frame(),
        Some(Frame::Error(FrameError::TooLarge(length)))
    );
    let chunk = vec![b' '; 1 << 20];
    let mut left = length;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        reader.push(&chunk[..n]);
        left -= n as u64;
        assert_eq!(reader.next_frame(), None);
        assert_eq!(reader.buffered(), 0);
    }
    reader.push(&frame(b"{}"));
    assert_eq!(reader.next_frame(), Some(body("{}")));
}

fn rejected(body: &[u8]) -> (i64, Value, String) {
    let reply = check_message(body).expect_err("rejected");
    (
        reply["error"]["code"].as_i64().unwrap(),
        reply["id"].clone(),
        reply["error"]["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn only_messages_tower_lsp_decodes_are_accepted() {
    for good in [
        r#"{"jsonrpc":"2.0","id":1,"method":"hover","params":{}}"#,
        r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":"x","result":null}"#,
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"no"}}"#,
    ] {
        assert_eq!(check_message(good.as_bytes()), Ok(()), "{good}");
    }
    let cases: [(&[u8], i64, Value, &str); 9] = [
        (
            b"{\"jsonrpc\":",
            PARSE_ERROR,
            Value::Null,
            "Parse error: the message is not JSON",
        ),
        (
            b"\"\xff\"",
            PARSE_ERROR,
            Value::Null,
            "Parse error: the message is not UTF-8 (bad byte at 1)",
        ),
        (
            b"[1,2]",
            INVALID_REQUEST,
            Value::Null,
            "Invalid request: a message must be a JSON object",
        ),
        (
            b"42",
            INVALID_REQUEST,
            Value::Null,
            "Invalid request: a message must be a JSON object",
        ),
        (
            br#"{"id":7,"method":"hover"}"#,
            INVALID_REQUEST,
            json!(7),
            "Invalid request: `jsonrpc` must be",
        ),
        (
            br#"{"jsonrpc":"2.0","id":"a"}"#,
            INVALID_REQUEST,
            json!("a"),
            "Invalid request: neither a request",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1.5,"method":"hover"}"#,
            INVALID_REQUEST,
            Value::Null,
            "Invalid request: ",
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            INVALID_REQUEST,
            json!(1),
            "Invalid request: neither",
        ),
        (
            br#"{"jsonrpc":"2.0","id":{},"result":1}"#,
            INVALID_REQUEST,
            Value::Null,
            "Invalid request: ",
        ),
    ];
    for (body, code, id, start) in cases {
        let (got_code, got_id, message) = rejected(body);
        assert_eq!(
            (got_code, got_id),
            (code, id),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(message.starts_with(start), "{message}");
    }
}

#[test]
fn a_request_to_a_notification_method_is_invalid_and_not_delivered() {
    for (body, id) in [
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"initialized","params":{}}"#,
            json!(7),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"o","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///a.py","languageId":"python","version":1,"text":""}}}"#,
            json!("o"),
        ),
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"heaplens/replInput","params":{"data":"x"}}"#,
            json!(8),
        ),
    ] {
        let (code, got_id, message) = rejected(body.as_bytes());
        assert_eq!((code, got_id), (INVALID_REQUEST, id), "{body}");
        assert!(
            message.contains("is a notification: send it without an `id`"),
            "{message}"
        );
    }
    // The same methods as notifications pass.
    assert_eq!(
        check_message(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#),
        Ok(())
    );
}

#[test]
fn the_notification_list_names_the_servers_notifications() {
    use tower_lsp_server::ls_types::notification::{self as n, Notification};
    for method in [
        n::Initialized::METHOD,
        n::Exit::METHOD,
        n::Cancel::METHOD,
        n::SetTrace::METHOD,
        n::DidOpenTextDocument::METHOD,
        n::DidChangeTextDocument::METHOD,
        n::WillSaveTextDocument::METHOD,
        n::DidSaveTextDocument::METHOD,
        n::DidCloseTextDocument::METHOD,
        n::DidChangeConfiguration::METHOD,
        n::DidChangeWorkspaceFolders::METHOD,
        n::DidChangeWatchedFiles::METHOD,
        n::DidCreateFiles::METHOD,
        n::DidRenameFiles::METHOD,
        n::DidDeleteFiles::METHOD,
        n::WorkDoneProgressCancel::METHOD,
        crate::lsp::ext::ReplInputNotification::METHOD,
    ] {
        assert!(NOTIFICATION_METHODS.contains(&method), "{method}");
    }
}
