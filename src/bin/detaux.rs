//! The `detaux` command-line tool; see `detaux --help`.

fn main() {
    std::process::exit(detaux::cli::main());
}
