fn main() {
    eprintln!("bay: not implemented yet");
    std::process::exit(1);
}
