//! What the benches share: the size of a curve point (`tools/curves.sh`) read from the
//! environment.
//!
//! A bench given a size variable (`DETAUX_BENCH_BATCH`, `DETAUX_BENCH_N`, `DETAUX_BENCH_K`)
//! registers only that curve point, under ids of its own, so that the measuring process holds
//! only that point's data (its peak RSS is the point's); without one it runs its fixed cases.

/// The value of the environment variable `name` as a size in `min..=max`, `None` if unset.
///
/// # Panics
/// If the variable is set but is not such an integer: a bench stops with a message naming it.
pub fn env_size(name: &str, min: usize, max: usize) -> Option<usize> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse::<usize>() {
        Ok(v) if (min..=max).contains(&v) => Some(v),
        _ => panic!("{name} must be an integer in {min}..={max}, got {text:?}"),
    }
}
