//! `cargo run -p lookout-scaler --example simulate -- FILE`: what `lookout scale simulate FILE`
//! does, without building the binary.

fn main() {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: simulate FILE");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{file}:1:1: cannot read file: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = lookout_scaler::simulate(&file, &text, &mut out) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
