//! Which Bitcoin network a server must serve, told by its genesis block: a client configured
//! for one network refuses a server whose block 0 is another's (SPEC §13).

use bitcoin::block::Header;
use bitcoin::constants::genesis_block;
use bitcoin::hashes::hex::FromHex;

use super::{ElectrumError, ServerUrl};

/// The networks a tBTC node reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitcoinNetwork {
    Mainnet,
    Testnet,
    Regtest,
}

impl BitcoinNetwork {
    fn params(self) -> bitcoin::Network {
        match self {
            BitcoinNetwork::Mainnet => bitcoin::Network::Bitcoin,
            BitcoinNetwork::Testnet => bitcoin::Network::Testnet,
            BitcoinNetwork::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// The hash of the network's genesis block, as block explorers display it.
    pub fn genesis_hash(self) -> String {
        genesis_block(self.params()).block_hash().to_string()
    }

    pub fn name(self) -> &'static str {
        match self {
            BitcoinNetwork::Mainnet => "mainnet",
            BitcoinNetwork::Testnet => "testnet",
            BitcoinNetwork::Regtest => "regtest",
        }
    }
}

impl std::fmt::Display for BitcoinNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The hash of an 80-byte block header given in hex (double SHA-256, displayed reversed).
pub fn header_hash(header_hex: &str) -> Result<String, String> {
    if header_hex.len() != 160 {
        return Err(format!(
            "a header of 160 hex digits (80 bytes), not {} digits",
            header_hex.len()
        ));
    }
    let bytes = Vec::<u8>::from_hex(header_hex).map_err(|e| format!("a header in hex: {e}"))?;
    let header: Header = bitcoin::consensus::deserialize(&bytes)
        .map_err(|e| format!("an 80-byte block header: {e}"))?;
    Ok(header.block_hash().to_string())
}

/// Checks the server's answer to `blockchain.block.header [0]` against `network`'s genesis.
pub fn check_genesis(
    url: &ServerUrl,
    network: BitcoinNetwork,
    answer: &serde_json::Value,
) -> Result<(), ElectrumError> {
    let hex = answer.as_str().ok_or_else(|| ElectrumError::Protocol {
        url: url.display_short(),
        detail: format!("blockchain.block.header [0] answered {answer}, expected a hex string"),
    })?;
    let found = header_hash(hex).map_err(|expected| ElectrumError::Protocol {
        url: url.display_short(),
        detail: format!("blockchain.block.header [0] answered {hex:?}, expected {expected}"),
    })?;
    let expected = network.genesis_hash();
    if found != expected {
        return Err(ElectrumError::WrongNetwork {
            url: url.display_short(),
            network,
            expected,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::encode::serialize_hex;
    use serde_json::json;

    const REGTEST: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
    const MAINNET: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    const TESTNET: &str = "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943";

    fn genesis_header_hex(network: bitcoin::Network) -> String {
        serialize_hex(&genesis_block(network).header)
    }

    #[test]
    fn genesis_hashes() {
        assert_eq!(BitcoinNetwork::Regtest.genesis_hash(), REGTEST);
        assert_eq!(BitcoinNetwork::Mainnet.genesis_hash(), MAINNET);
        assert_eq!(BitcoinNetwork::Testnet.genesis_hash(), TESTNET);
        assert_eq!(
            header_hash(&genesis_header_hex(bitcoin::Network::Bitcoin)).unwrap(),
            MAINNET
        );
    }

    #[test]
    fn genesis_check_refuses_another_network_naming_both_hashes() {
        let url = ServerUrl::parse("ssl://example.org:50002").unwrap();
        let regtest = json!(genesis_header_hex(bitcoin::Network::Regtest));
        check_genesis(&url, BitcoinNetwork::Regtest, &regtest).unwrap();
        let err = check_genesis(&url, BitcoinNetwork::Mainnet, &regtest)
            .unwrap_err()
            .to_string();
        for part in [MAINNET, REGTEST, "ssl://example.org:50002", "mainnet"] {
            assert!(err.contains(part), "{err} names {part}");
        }
    }

    #[test]
    fn genesis_check_refuses_malformed_headers() {
        let url = ServerUrl::parse("tcp://example.org:1").unwrap();
        for answer in [json!(null), json!(42), json!("00"), json!("zz".repeat(80))] {
            let err = check_genesis(&url, BitcoinNetwork::Regtest, &answer).unwrap_err();
            assert!(matches!(err, ElectrumError::Protocol { .. }), "{err}");
        }
    }
}
