//! Ansible Vault both ways against ansible-vault (ansible-core's, from the test venv
//! /var/tmp/ansible-venv or ANSIBLE_VAULT_BIN): rmesos decrypts the files ansible-vault wrote
//! (tests/fixtures/vault: format 1.1, 1.2 with a vault id, an inline `!vault` value), and
//! ansible-vault decrypts what `rmesos vault` writes. Then a play whose vaulted values reach
//! the host (vars_files, group_vars, role defaults, include_vars, inline, a copy `src`) but
//! never the output, and the wrong-password refusal before any host is touched.

#[path = "support/json_events.rs"]
mod json_events;

use rmesos::vault::{self, Keyring, Secret};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vault")
        .join(p)
}

fn secret(id: &str, file: &str) -> Secret {
    Secret::from_source(id, &fixture(file)).expect("password file")
}

fn ansible_vault() -> Option<PathBuf> {
    let p = std::env::var("ANSIBLE_VAULT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/var/tmp/ansible-venv/bin/ansible-vault"));
    p.exists().then_some(p)
}

fn rmesos(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rmesos"))
        .current_dir(dir)
        .args(args)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .output()
        .expect("the binary runs")
}

#[test]
fn decrypts_what_ansible_vault_wrote() {
    let keys = Keyring::new(vec![
        secret("default", "pass.txt"),
        secret("prod", "prod-pass.txt"),
    ]);
    let v11 = std::fs::read_to_string(fixture("secret_1_1.yml")).unwrap();
    assert_eq!(
        keys.decrypt(&v11).unwrap(),
        b"db_password: hunter2-from-file\ndb_user: app\n"
    );
    let v12 = std::fs::read_to_string(fixture("secret_1_2.yml")).unwrap();
    assert_eq!(
        vault::parse_envelope(&v12).unwrap().vault_id.as_deref(),
        Some("prod")
    );
    assert_eq!(keys.decrypt(&v12).unwrap(), b"api_token: tok-9f8e7d-prod\n");
    // One password alone does not open the other's file.
    let only_default = Keyring::new(vec![secret("default", "pass.txt")]);
    assert!(only_default.decrypt(&v12).is_err());
}

#[test]
fn ansible_vault_decrypts_what_rmesos_wrote() {
    let Some(av) = ansible_vault() else {
        eprintln!("SKIPPED: no ansible-vault (set ANSIBLE_VAULT_BIN)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (id, pass, flag) in [
        ("default", "pass.txt", "--vault-password-file"),
        ("prod", "prod-pass.txt", "--vault-id"),
    ] {
        let file = dir.path().join(format!("{id}.yml"));
        std::fs::write(&file, format!("written_by: rmesos\nid: {id}\n")).unwrap();
        let pass_arg = fixture(pass).display().to_string();
        let ours = if id == "default" {
            pass_arg.clone()
        } else {
            format!("prod@{pass_arg}")
        };
        let enc = rmesos(
            dir.path(),
            &["vault", "encrypt", flag, &ours, file.to_str().unwrap()],
        );
        assert!(
            enc.status.success(),
            "{}",
            String::from_utf8_lossy(&enc.stderr)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        let header = if id == "default" {
            "$ANSIBLE_VAULT;1.1;AES256\n"
        } else {
            "$ANSIBLE_VAULT;1.2;AES256;prod\n"
        };
        assert!(text.starts_with(header), "{text}");
        assert!(text.lines().skip(1).all(|l| l.len() <= 80 && !l.is_empty()));
        let view = Command::new(&av)
            .args(["view", flag, &ours])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            view.status.success(),
            "{}",
            String::from_utf8_lossy(&view.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&view.stdout),
            format!("written_by: rmesos\nid: {id}\n")
        );
    }
    // encrypt_string's output is a YAML value ansible-vault reads back.
    let out = rmesos(
        dir.path(),
        &[
            "vault",
            "encrypt_string",
            "--vault-password-file",
            fixture("pass.txt").to_str().unwrap(),
            "--name",
            "token",
            "str-from-rmesos",
        ],
    );
    assert!(out.status.success());
    let yaml = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(yaml.starts_with("token: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"));
    let vaulttext: String = yaml
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let f = dir.path().join("inline.txt");
    std::fs::write(&f, vaulttext).unwrap();
    // `decrypt --output -` prints the plaintext exactly (`view` adds a missing newline).
    let view = Command::new(&av)
        .args(["decrypt", "--output", "-", "--vault-password-file"])
        .arg(fixture("pass.txt"))
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&view.stdout), "str-from-rmesos");
}

#[test]
fn vault_view_decrypt_and_rekey_commands() {
    let dir = tempfile::tempdir().unwrap();
    let pass = fixture("pass.txt").display().to_string();
    let view = rmesos(
        dir.path(),
        &[
            "vault",
            "view",
            "--vault-password-file",
            &pass,
            fixture("secret_1_1.yml").to_str().unwrap(),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&view.stdout),
        "db_password: hunter2-from-file\ndb_user: app\n"
    );
    let copy = dir.path().join("s.yml");
    std::fs::copy(fixture("secret_1_1.yml"), &copy).unwrap();
    let newpass = fixture("prod-pass.txt").display().to_string();
    let rekey = rmesos(
        dir.path(),
        &[
            "vault",
            "rekey",
            "--vault-password-file",
            &pass,
            "--new-vault-password-file",
            &newpass,
            copy.to_str().unwrap(),
        ],
    );
    assert!(
        rekey.status.success(),
        "{}",
        String::from_utf8_lossy(&rekey.stderr)
    );
    let dec = rmesos(
        dir.path(),
        &[
            "vault",
            "decrypt",
            "--vault-password-file",
            &newpass,
            copy.to_str().unwrap(),
        ],
    );
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        "db_password: hunter2-from-file\ndb_user: app\n"
    );
    // The old password no longer opens a file rekeyed away from it.
    let wrong = rmesos(
        dir.path(),
        &[
            "vault",
            "view",
            "--vault-password-file",
            &pass,
            fixture("secret_1_2.yml").to_str().unwrap(),
        ],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("secret_1_2.yml"));
}

fn play(args: &[&str], out: &Path) -> std::process::Output {
    let mut all = vec!["play", "-i", "hosts"];
    all.extend_from_slice(args);
    let out_dir = format!("out_dir={}", out.display());
    all.extend_from_slice(&["-e", &out_dir]);
    rmesos(&fixture(""), &all)
}

#[test]
fn vaulted_values_reach_the_host_but_never_the_output() {
    for verbosity in ["-v", "-vvvv"] {
        for output in ["human", "json"] {
            let out = tempfile::tempdir().unwrap();
            let r = play(
                &[
                    "play.yml",
                    "--vault-id",
                    "prod@prod-pass.txt",
                    "--vault-password-file",
                    "pass.txt",
                    "--diff",
                    verbosity,
                    "--output",
                    output,
                ],
                out.path(),
            );
            let stdout = String::from_utf8_lossy(&r.stdout);
            let stderr = String::from_utf8_lossy(&r.stderr);
            assert_eq!(r.status.code(), Some(0), "{stdout}\n{stderr}");
            // The host got the real values.
            assert_eq!(
                std::fs::read_to_string(out.path().join("secrets.txt")).unwrap(),
                "hunter2-from-file|inline-s3cr3t-value|tok-9f8e7d-prod|visible\n"
            );
            assert_eq!(
                std::fs::read_to_string(out.path().join("pw.txt")).unwrap(),
                "hunter2-from-file\n"
            );
            assert_eq!(
                std::fs::read_to_string(out.path().join("secret.conf")).unwrap(),
                "listen_key = k3y-from-vaulted-src\n"
            );
            assert_eq!(
                std::fs::read_to_string(out.path().join("role.txt")).unwrap(),
                "r0le-default-s3cret\n"
            );
            assert_eq!(
                std::fs::read_to_string(out.path().join("included.txt")).unwrap(),
                "1nclude-s3cret\n"
            );
            for secret in [
                "hunter2-from-file",
                "inline-s3cr3t-value",
                "tok-9f8e7d-prod",
                "k3y-from-vaulted-src",
                "r0le-default-s3cret",
                "1nclude-s3cret",
            ] {
                assert!(
                    !stdout.contains(secret) && !stderr.contains(secret),
                    "{secret} shown ({output} {verbosity}):\n{stdout}\n{stderr}"
                );
            }
            assert!(stdout.contains("plain=visible"), "{stdout}");
            assert!(stdout.contains("********"), "{stdout}");
            if verbosity == "-vvvv" {
                // The scripts are shown, the secrets in them masked by the sinks.
                assert!(stdout.contains("SCRIPT"), "{stdout}");
            }
            if output == "json" {
                json_events::check_stream(&stdout);
            }
        }
    }
}

#[test]
fn a_wrong_or_missing_password_stops_before_any_host_naming_the_place() {
    let out = tempfile::tempdir().unwrap();
    // Missing: the role's vault-encrypted defaults, when the playbook loads.
    let r = play(&["play.yml"], out.path());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("roles/sec/defaults/main.yml:1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("no vault password was given"), "{stderr}");
    // A vars_files file (read per host at run time) is checked when the playbook loads too.
    let r = play(
        &["vars_only.yml", "--vault-id", "prod@prod-pass.txt"],
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("vars_only.yml:5:7"), "{stderr}");
    assert!(stderr.contains("secret_1_1.yml"), "{stderr}");
    assert!(!String::from_utf8_lossy(&r.stdout).contains("host_result"));
    // Wrong for one vault id: the group_vars file of id `prod`.
    let r = play(
        &["play.yml", "--vault-password-file", "pass.txt"],
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("group_vars/app.yml"), "{stderr}");
    assert!(!String::from_utf8_lossy(&r.stdout).contains("host_result"));
    // Wrong: an inline value located at file:line:col.
    let r = play(
        &[
            "wrong_inline.yml",
            "--vault-id",
            "prod@pass.txt",
            "--vault-password-file",
            "pass.txt",
        ],
        out.path(),
    );
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("wrong_inline.yml:5:12"), "{stderr}");
    assert!(!String::from_utf8_lossy(&r.stdout).contains("host_result"));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

/// `rmesos inventory -i INV ARGS... --vault-id prod@prod-pass.txt` in the fixtures: its stdout.
fn inventory(inv: &str, args: &[&str]) -> String {
    let mut all = vec!["inventory", "-i", inv, "--vault-id", "prod@prod-pass.txt"];
    all.extend_from_slice(args);
    let out = rmesos(&fixture(""), &all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn inventory_reads_vaulted_group_vars_and_hides_their_values() {
    let stdout = inventory("hosts", &["--host", "v1"]);
    assert!(stdout.contains("\"api_token\": \"********\""), "{stdout}");
}

#[test]
fn vault_edit_runs_the_editor_and_encrypts_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yml");
    std::fs::copy(fixture("secret_1_2.yml"), &file).unwrap();
    let pass = format!("prod@{}", fixture("prod-pass.txt").display());
    let out = Command::new(env!("CARGO_BIN_EXE_rmesos"))
        .args(["vault", "edit", "--vault-id", &pass])
        .arg(&file)
        .env("EDITOR", "sed -i s/tok-9f8e7d-prod/edited-token/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{text}"
    );
    let keys = Keyring::new(vec![secret("prod", "prod-pass.txt")]);
    assert_eq!(keys.decrypt(&text).unwrap(), b"api_token: edited-token\n");
}

/// Damaged vault text (truncated, bytes changed) is an error, never a panic or a wrong value.
#[test]
fn damaged_vault_text_is_refused() {
    let keys = Keyring::new(vec![secret("default", "pass.txt")]);
    let good = std::fs::read_to_string(fixture("secret_1_1.yml")).unwrap();
    let bytes = good.as_bytes();
    for cut in (0..bytes.len()).step_by(31) {
        let text = String::from_utf8_lossy(&bytes[..cut]);
        if text.trim_end() == good.trim_end() {
            continue;
        }
        assert!(keys.decrypt(&text).is_err(), "truncated at {cut}");
    }
    let alphabet = b"0123456789abcdef;\nZ ";
    for (i, at) in (27..bytes.len()).step_by(19).enumerate() {
        let mut b = bytes.to_vec();
        let c = alphabet[i % alphabet.len()];
        if b[at] == c {
            continue;
        }
        b[at] = c;
        if let Ok(plain) = keys.decrypt(&String::from_utf8_lossy(&b)) {
            // Only a change the HMAC does not cover (line layout) may still decrypt.
            assert_eq!(plain, b"db_password: hunter2-from-file\ndb_user: app\n");
        }
    }
}

#[test]
fn encrypt_reads_stdin_when_no_file_is_named() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmesos"))
        .args(["vault", "encrypt", "--vault-password-file"])
        .arg(fixture("pass.txt"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let keys = Keyring::new(vec![secret("default", "pass.txt")]);
    assert_eq!(keys.decrypt(&text).unwrap(), b"from stdin\n");
}

#[test]
fn a_vault_encrypted_ini_inventory_is_read() {
    let stdout = inventory(
        "hosts.vault",
        &["--graph", "--vault-password-file", "pass.txt"],
    );
    assert!(stdout.contains("v1"), "{stdout}");
}
