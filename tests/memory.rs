//! 1000 training steps of the demo autoencoder keep the tape's node count per step constant
//! and do not grow resident memory (the tape is emptied by `backward` every step).

use detaux::demo::{train, DemoConfig};

/// Resident set size in bytes, from `/proc/self/statm` (Linux); `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn thousand_steps_keep_nodes_and_memory_flat() {
    let cfg =
        DemoConfig { steps: 1000, n_images: 64, batch: 16, size: 16, channels: 8, latent: 16, ..DemoConfig::default() };
    let mut rss_at_100 = None;
    let mut rss_at_1000 = None;
    let run = train(&cfg, |step, _| {
        if step == 99 {
            rss_at_100 = rss_bytes();
        }
        if step == 999 {
            rss_at_1000 = rss_bytes();
        }
    })
    .unwrap();
    let n0 = run.nodes_per_step[0];
    assert!(n0 > 10);
    assert!(run.nodes_per_step.iter().all(|&n| n == n0), "tape node count changed across steps");
    if let (Some(a), Some(b)) = (rss_at_100, rss_at_1000) {
        // 900 more steps may not add more than 4 MiB (allocator noise), far less than one
        // step's tape (~a few hundred KiB) times 900.
        assert!(b <= a + 4 * 1024 * 1024, "resident memory grew from {a} to {b} bytes over 900 steps");
    }
}
