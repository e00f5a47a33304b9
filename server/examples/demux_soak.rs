//! A stable-Rust random soak of the output demultiplexer (no coverage guidance; `server/fuzz`
//! has the cargo-fuzz target, which needs nightly flags): random programs for
//! `heaplens::run::output_split::check` for as many seconds as asked, a report at the end.
//!
//!     cargo run --release --example demux_soak -- 600

use std::time::{Duration, Instant};

/// xorshift64*: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15_u64);
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut bytes) = (0u64, 0u64);
    while Instant::now() < deadline {
        let len = (rng.next() % 600) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if std::panic::catch_unwind(|| heaplens::run::output_split::check(&data)).is_err() {
            eprintln!("FAILED on input {data:?}");
            std::process::exit(1);
        }
        runs += 1;
        bytes += len as u64;
    }
    println!("{runs} programs ({bytes} bytes) in {seconds} s, seed {seed}: no failure");
}
