fn main() {
    std::process::exit(rmesos::cli::main());
}
