fn main() {
    std::process::exit(rmesos::app::main());
}
