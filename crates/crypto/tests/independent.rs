//! Runs `vectors_independent.py`: the checked-in vectors verified by a second, independent
//! implementation of the format (Debian's python3-cryptography, installed by `make setup`).

#[test]
fn vectors_verify_with_an_independent_implementation() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(dir.join("tests/vectors_independent.py"))
        .arg(dir.join("testdata/vectors.json"))
        .output()
        .expect("running /usr/bin/python3 (run `make setup`)");
    assert!(
        out.status.success(),
        "independent check failed (is python3-cryptography installed? `make setup`):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
