// libkv.so carries the soname libkv.so.0, so programs linked against it ask
// for the ABI version, not the development symlink.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkv.so.0");
}
