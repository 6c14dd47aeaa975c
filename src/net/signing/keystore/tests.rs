use std::os::unix::fs::PermissionsExt;

use ethers_signers::{LocalWallet, Signer};

use super::*;

fn password_file(dir: &Path, text: &str) -> PasswordSource {
    let path = dir.join("pw");
    std::fs::write(&path, text).unwrap();
    PasswordSource::File(path)
}

/// A keystore written by ethers (eth-keystore), with `kdfparams` replaced.
fn keystore_with(dir: &Path, kdf: &str, kdfparams: serde_json::Value) -> PathBuf {
    let mut rng = rand::thread_rng();
    LocalWallet::encrypt_keystore(dir, &mut rng, [7u8; 32], "hunter22", Some("base")).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("base")).unwrap()).unwrap();
    json["crypto"]["kdf"] = kdf.into();
    json["crypto"]["kdfparams"] = kdfparams;
    let path = dir.join(format!("{kdf}.json"));
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

#[test]
fn a_keystore_decrypts_to_its_address_and_errors_keep_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = [7u8; 32];
    let mut rng = rand::thread_rng();
    // Written by another implementation to the file named "k".
    LocalWallet::encrypt_keystore(dir.path(), &mut rng, secret, "hunter22", Some("k")).unwrap();
    let path = dir.path().join("k");
    let key = load_operator_key(&path, &password_file(dir.path(), "hunter22\n")).unwrap();
    assert_eq!(
        key.address(),
        OperatorKey::from_secret(&secret).unwrap().address()
    );

    let err = load_operator_key(&path, &password_file(dir.path(), "letmein\n")).unwrap_err();
    assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
    let text = err.to_string();
    assert!(!text.contains("letmein") && !text.contains("hunter22"));
    assert!(!text.contains(&hex::encode(secret)));

    assert!(matches!(
        load_operator_key(&path, &password_file(dir.path(), "\n")),
        Err(KeystoreError::EmptyPassword)
    ));
    let missing = load_operator_key(
        Path::new("/nonexistent/key.json"),
        &password_file(dir.path(), "x"),
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("/nonexistent/key.json"), "{missing}");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let err = load_operator_key(&garbage, &password_file(dir.path(), "x")).unwrap_err();
    assert!(matches!(err, KeystoreError::Invalid { .. }), "{err}");
}

#[test]
fn the_web3_secret_storage_pbkdf2_vector_decrypts_here_and_in_ethers() {
    // The test vector of the Web3 Secret Storage definition (PBKDF2-SHA256, 262,144 rounds).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vector.json");
    std::fs::write(
        &path,
        r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2",
        "kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
        "mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},
        "id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#,
    )
    .unwrap();
    let secret: [u8; 32] =
        hex::decode("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d")
            .unwrap()
            .try_into()
            .unwrap();
    let ours = load_operator_key(&path, &password_file(dir.path(), "testpassword")).unwrap();
    let theirs = LocalWallet::decrypt_keystore(&path, "testpassword").unwrap();
    let expected = OperatorKey::from_secret(&secret).unwrap().address();
    assert_eq!(ours.address(), expected);
    assert_eq!(theirs.address().0, expected.0);
}

#[test]
fn a_new_key_is_private_never_overwrites_and_reads_back_in_ethers() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pass phrase\n");
    let path = dir.path().join("operator.json");
    let key = new_operator_key(&path, &pw).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        load_operator_key(&path, &pw).unwrap().address(),
        key.address()
    );
    let theirs = LocalWallet::decrypt_keystore(&path, "pass phrase").unwrap();
    assert_eq!(theirs.address().0, key.address().0);

    let before = std::fs::read(&path).unwrap();
    let err = new_operator_key(&path, &pw).unwrap_err();
    assert!(err.to_string().contains("never overwritten"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A dangling symlink is not followed to create its target.
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
    assert!(new_operator_key(&link, &pw).is_err());
    assert!(!dir.path().join("elsewhere").exists());
}

#[test]
fn key_derivation_parameters_past_their_bounds_are_refused_by_name_without_deriving() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "hunter22");
    let salt = "ab".repeat(32);
    let cases = [
        (
            keystore_with(
                dir.path(),
                "scrypt",
                serde_json::json!({"dklen": 32, "n": 1u64 << 30, "r": 8, "p": 1, "salt": salt}),
            ),
            "scrypt n = 1073741824, above the bound of 262144",
        ),
        (
            keystore_with(
                dir.path(),
                "pbkdf2",
                serde_json::json!({"dklen": 32, "c": 1u64 << 31, "prf": "hmac-sha256", "salt": salt}),
            ),
            "pbkdf2 c = 2147483648, above the bound of 1048576",
        ),
    ];
    for (path, expected) in cases {
        // open_keystore does everything but the derivation: a refusal there costs nothing.
        let err = open_keystore(&path, &pw).unwrap_err();
        assert!(matches!(err, KeystoreError::KdfBound { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let r = keystore_with(
        dir.path(),
        "scrypt",
        serde_json::json!({"dklen": 32, "n": 1u64 << 18, "r": 8, "p": 2, "salt": salt}),
    );
    let err = open_keystore(&r, &pw).unwrap_err().to_string();
    assert!(
        err.contains("scrypt n·r·p = 4194304, above the bound of 2097152"),
        "{err}"
    );
}

#[test]
fn malformed_fields_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "hunter22");
    let mut rng = rand::thread_rng();
    LocalWallet::encrypt_keystore(dir.path(), &mut rng, [7u8; 32], "hunter22", Some("k")).unwrap();
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("k")).unwrap()).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 6] = [
        ("cipherparams.iv is 2 bytes", |j| {
            j["crypto"]["cipherparams"]["iv"] = "abcd".into()
        }),
        ("ciphertext is 1 bytes", |j| {
            j["crypto"]["ciphertext"] = "00".into()
        }),
        ("kdfparams.dklen 16", |j| {
            j["crypto"]["kdfparams"]["dklen"] = 16.into()
        }),
        ("n must be a power of two", |j| {
            j["crypto"]["kdfparams"]["n"] = 1000.into()
        }),
        ("cipher \"aes-256-cbc\"", |j| {
            j["crypto"]["cipher"] = "aes-256-cbc".into()
        }),
        ("version 1", |j| j["version"] = 1.into()),
    ];
    for (expected, edit) in edits {
        let mut json = good.clone();
        edit(&mut json);
        let path = dir.path().join("edited.json");
        std::fs::write(&path, json.to_string()).unwrap();
        let err = load_operator_key(&path, &pw).unwrap_err();
        assert!(matches!(err, KeystoreError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}

#[test]
fn devices_and_oversized_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_operator_key(Path::new("/dev/zero"), &password_file(dir.path(), "x"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a regular file"), "{err}");

    let mut rng = rand::thread_rng();
    LocalWallet::encrypt_keystore(dir.path(), &mut rng, [7u8; 32], "hunter22", Some("k")).unwrap();
    let keystore = dir.path().join("k");
    let err = load_operator_key(&keystore, &PasswordSource::File("/dev/zero".into())).unwrap_err();
    assert!(matches!(err, KeystoreError::PasswordFile { .. }), "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");

    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; MAX_KEYSTORE_BYTES as usize + 1]).unwrap();
    let err = load_operator_key(&big, &password_file(dir.path(), "x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("larger than the limit of 65536 bytes"),
        "{err}"
    );
}
