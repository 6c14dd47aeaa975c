//! `tbtc-coord key new|show`: the operator key, whose address names the operator on chain
//! and whose peer ID names the node on the peer network.

use serde_json::json;

use crate::cli::{KeyArgs, KeyCommand, UsageError};
use crate::net::signing::keystore::{load_operator_key, new_operator_key, PasswordSource};
use crate::net::signing::OperatorKey;

pub fn key_command(command: &KeyCommand) -> anyhow::Result<()> {
    let (args, key) = match command {
        KeyCommand::New(args) => {
            // A symlink counts as existing, dangling or not: nothing is written through it.
            if std::fs::symlink_metadata(&args.keystore).is_ok() {
                return Err(UsageError(format!(
                    "--keystore {}: the file exists, and a key is never overwritten",
                    args.keystore.display()
                ))
                .into());
            }
            (args, new_operator_key(&args.keystore, &password(args))?)
        }
        KeyCommand::Show(args) => (args, load_operator_key(&args.keystore, &password(args))?),
    };
    print_key(&key, args.json);
    Ok(())
}

fn password(args: &KeyArgs) -> PasswordSource {
    match &args.password_file {
        Some(p) => PasswordSource::File(p.clone()),
        None => PasswordSource::Environment,
    }
}

fn print_key(key: &OperatorKey, as_json: bool) {
    if as_json {
        println!(
            "{}",
            json!({"address": key.address().to_checksum(), "peer_id": key.peer_id().to_base58()})
        );
    } else {
        println!("address: {}", key.address().to_checksum());
        println!("peer_id: {}", key.peer_id().to_base58());
    }
}
