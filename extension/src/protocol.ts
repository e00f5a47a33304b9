/**
 * The protocol as the client uses it. Every type, method name, command and constant comes
 * from `./generated/protocol.ts`, which is generated from the server's Rust types: nothing
 * here is mirrored by hand. This file only gives a few of them the names the client's code
 * reads best with.
 */
export * from "./generated/protocol";
import type { BlockKind, BoardStatusParams, LineDecoration, SnapshotParams } from "./generated/protocol";

/** A snapshot as `heaplens/snapshot` and `heaplens/getSnapshot` carry it. */
export type Snapshot = SnapshotParams;
/** `heaplens/boardStatus` params. */
export type BoardStatus = BoardStatusParams;
/** One decorated line of `heaplens/decorations`. */
export type DecorationLine = LineDecoration;
/** The kind names used as keys of `Stats.by_kind`. */
export type KindName = BlockKind;
