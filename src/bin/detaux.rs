//! The `detaux` command-line tool; see `detaux --help`.

fn main() {
    // Reuse freed tensor buffers across training steps (see detaux_kernels::alloc).
    detaux::tune_allocator_for_training();
    std::process::exit(detaux::cli::main());
}
