//! Rebuild when the UI that `cargo xtask` builds into `target/ui/` changes:
//! release builds embed it.
fn main() {
    println!("cargo:rerun-if-changed=../target/ui");
}
